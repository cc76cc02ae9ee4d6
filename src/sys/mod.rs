//! Everything that touches the kernel: the process entry point and raw
//! system calls, behind a small safe API. This is the only module with
//! `unsafe`; per-architecture code (the `_start` symbol, the syscall
//! instruction and the syscall numbers) lives in one file per architecture.
//!
//! Signal numbers and the `wait4` status encoding are the same on all six
//! supported architectures, so they are defined once here.

#[cfg_attr(target_arch = "x86_64", path = "x86_64.rs")]
#[cfg_attr(target_arch = "aarch64", path = "aarch64.rs")]
#[cfg_attr(target_arch = "arm", path = "arm.rs")]
#[cfg_attr(target_arch = "powerpc64", path = "powerpc64.rs")]
#[cfg_attr(target_arch = "s390x", path = "s390x.rs")]
#[cfg_attr(target_arch = "riscv64", path = "riscv64.rs")]
mod arch;

use arch::{nr, syscall0, syscall2, syscall3, syscall4};

pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;
pub const SIGCHLD: i32 = 17;
pub const SIGSTOP: i32 = 19;

/// errno values the callers tell apart.
pub const ENOENT: i32 = 2;
pub const EACCES: i32 = 13;
pub const ENOTDIR: i32 = 20;
pub const ENODEV: i32 = 19;
pub const ELOOP: i32 = 40;
pub const ENAMETOOLONG: i32 = 36;
pub const ENOEXEC: i32 = 8;
pub const ESTALE: i32 = 116;
pub const ETIMEDOUT: i32 = 110;

const SIG_SETMASK: usize = 2;
/// The kernel's sigset is 64 bits on every architecture we build for.
const SIGSET_SIZE: usize = 8;
const WNOHANG: usize = 1;
const PR_SET_CHILD_SUBREAPER: usize = 36;

/// A positive errno value.
pub type Errno = i32;

fn check(ret: isize) -> Result<usize, Errno> {
    // The kernel returns -4095..=-1 for errors on every architecture; the
    // powerpc64 wrapper already folds its CR0.SO convention into this.
    if (-4095..0).contains(&ret) {
        Err(-ret as Errno)
    } else {
        Ok(ret as usize)
    }
}

/// The initial process stack as the kernel lays it out: `argc`, the
/// `argv` pointers and a NULL, then the `envp` pointers and a NULL.
#[derive(Clone, Copy)]
pub struct Args {
    argc: usize,
    argv: *const *const u8,
    envp: *const *const u8,
}

/// Called by each architecture's `_start` with the initial stack pointer.
///
/// # Safety
/// `sp` must be the stack pointer the kernel handed to `_start`, so that it
/// points at `argc` followed by the NULL-terminated `argv` and `envp` arrays.
unsafe extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: the layout is fixed by the kernel's ELF loader (see `Args`).
    let args = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        Args {
            argc,
            argv,
            envp: argv.add(argc + 1),
        }
    };
    crate::main(args)
}

/// Length of a NUL-terminated string.
///
/// # Safety
/// `s` must point at a NUL-terminated string that lives for `'static`.
unsafe fn c_str(s: *const u8) -> &'static [u8] {
    let mut len = 0;
    // SAFETY: per the contract, every byte up to the NUL is readable.
    unsafe {
        while *s.add(len) != 0 {
            len += 1;
        }
        core::slice::from_raw_parts(s, len)
    }
}

impl Args {
    /// Argument `i` without its NUL.
    pub fn get(&self, i: usize) -> Option<&'static [u8]> {
        // SAFETY: `i < argc` stays inside the kernel's argv array, whose
        // strings live as long as the process.
        (i < self.argc).then(|| unsafe { c_str(*self.argv.add(i)) })
    }

    /// Argument `i` with its terminating NUL, ready for `execve`.
    pub fn get_c(&self, i: usize) -> Option<&'static [u8]> {
        // SAFETY: as in `get`; the NUL right after the string is part of
        // the same kernel-provided allocation.
        self.get(i)
            .map(|s| unsafe { core::slice::from_raw_parts(s.as_ptr(), s.len() + 1) })
    }

    /// The value of environment variable `name` (given with its `=`).
    pub fn env(&self, name_eq: &[u8]) -> Option<&'static [u8]> {
        let mut p = self.envp;
        // SAFETY: envp is NULL-terminated and its strings live as long as
        // the process.
        unsafe {
            while !(*p).is_null() {
                let var = c_str(*p);
                if var.starts_with(name_eq) {
                    return Some(&var[name_eq.len()..]);
                }
                p = p.add(1);
            }
        }
        None
    }
}

/// Writes all of `parts` to `fd` with one `writev` (one line stays one
/// line when several processes share a terminal). Errors are ignored: there
/// is nobody left to tell.
pub fn write(fd: i32, parts: &[&[u8]]) {
    let mut iov = [[0usize; 2]; 8];
    let n = parts.len().min(iov.len());
    for (v, p) in iov.iter_mut().zip(parts) {
        *v = [p.as_ptr() as usize, p.len()];
    }
    // SAFETY: `iov` holds `n` valid (pointer, length) pairs that borrow
    // `parts` for the duration of the call.
    unsafe { syscall3(nr::WRITEV, fd as usize, iov.as_ptr() as usize, n) };
}

pub fn exit(code: i32) -> ! {
    arch::exit_group(code)
}

pub fn getpid() -> i32 {
    // SAFETY: no arguments, no memory touched.
    unsafe { syscall0(nr::GETPID) as i32 }
}

/// Orphans of our descendants are re-parented to us rather than to the
/// namespace's PID 1.
pub fn set_child_subreaper() -> Result<(), Errno> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer, no memory.
    check(unsafe { syscall2(nr::PRCTL, PR_SET_CHILD_SUBREAPER, 1) }).map(drop)
}

/// Resets `sig` to its default action. An inherited `SIG_IGN` on SIGCHLD
/// would make the kernel reap children behind our back and lose the exit
/// status init mode passes on.
pub fn set_default_action(sig: i32) {
    // A zeroed kernel `struct sigaction` (handler SIG_DFL, no flags, empty
    // mask); 32 bytes is at least its size on every architecture.
    let act = [0u64; 4];
    // SAFETY: `act` is readable for the size the kernel reads; no old
    // action is requested.
    unsafe {
        syscall4(
            nr::RT_SIGACTION,
            sig as usize,
            act.as_ptr() as usize,
            0,
            SIGSET_SIZE,
        )
    };
}

/// A set of signals, as the kernel's 64-bit sigset.
#[derive(Clone, Copy)]
pub struct SigSet(u64);

impl SigSet {
    /// Every signal the kernel lets a process block (all but SIGKILL and
    /// SIGSTOP). Fault signals are included: a real fault is delivered by
    /// the kernel even when blocked, while a `kill -SEGV` from outside is
    /// then just one more signal to ignore or forward.
    pub const fn all() -> Self {
        SigSet(!(bit(SIGKILL) | bit(SIGSTOP)))
    }
}

const fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// Replaces the signal mask and returns the previous one.
pub fn set_signal_mask(set: &SigSet) -> SigSet {
    let mut old = SigSet(0);
    // SAFETY: both pointers are valid 8-byte sigsets.
    unsafe {
        syscall4(
            nr::RT_SIGPROCMASK,
            SIG_SETMASK,
            &set.0 as *const u64 as usize,
            &mut old.0 as *mut u64 as usize,
            SIGSET_SIZE,
        )
    };
    old
}

/// Sleeps in the kernel until a signal of `set` (which must be blocked) is
/// pending, takes it and returns its number. No handler ever runs, so no
/// work happens in signal context.
pub fn wait_signal(set: &SigSet) -> i32 {
    loop {
        // SAFETY: `set` is a valid sigset; no siginfo and no timeout wanted.
        let ret = unsafe {
            syscall4(
                nr::RT_SIGTIMEDWAIT,
                &set.0 as *const u64 as usize,
                0,
                0,
                SIGSET_SIZE,
            )
        };
        match check(ret) {
            Ok(sig) => return sig as i32,
            // EINTR: a ptrace stop or SIGCONT interrupted the wait.
            Err(_) => continue,
        }
    }
}

/// One exited child, if any is waiting to be reaped: `(pid, wait status)`.
pub fn reap_one() -> Option<(i32, u32)> {
    let mut status: i32 = 0;
    // SAFETY: `status` is a valid int; no rusage wanted.
    let ret = unsafe {
        syscall4(
            nr::WAIT4,
            -1isize as usize,
            &mut status as *mut i32 as usize,
            WNOHANG,
            0,
        )
    };
    match check(ret) {
        Ok(0) => None, // children left, none exited
        Ok(pid) => Some((pid as i32, status as u32)),
        Err(_) => None, // ECHILD: no children at all
    }
}

pub enum Fork {
    Child,
    Parent(i32),
}

/// A plain `fork()` (aarch64 and riscv64 only have `clone`).
pub fn fork() -> Result<Fork, Errno> {
    // SAFETY: with only SIGCHLD as flags and no new stack, clone duplicates
    // the process like fork(2): the child gets a copy-on-write copy of
    // this single-threaded, allocation-free process and continues here.
    let ret = unsafe { arch::fork() };
    check(ret).map(|pid| {
        if pid == 0 {
            Fork::Child
        } else {
            Fork::Parent(pid as i32)
        }
    })
}

/// `execve(path, args[from..], env)`; returns only on failure.
///
/// `path` must end with a NUL byte.
pub fn execve(path: &[u8], args: &Args, from: usize) -> Errno {
    if path.last() != Some(&0) {
        return ENOENT;
    }
    let from = from.min(args.argc);
    // SAFETY: `path` is NUL-terminated (checked above); `argv + from`
    // stays within the NULL-terminated argv array; envp is the kernel's.
    let ret = unsafe {
        syscall3(
            nr::EXECVE,
            path.as_ptr() as usize,
            args.argv.add(from) as usize,
            args.envp as usize,
        )
    };
    check(ret).err().unwrap_or(ENOEXEC)
}

pub fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: integers only.
    check(unsafe { syscall2(nr::KILL, pid as isize as usize, sig as usize) }).map(drop)
}

pub fn setpgid(pid: i32, pgid: i32) -> Result<(), Errno> {
    // SAFETY: integers only.
    check(unsafe { syscall2(nr::SETPGID, pid as usize, pgid as usize) }).map(drop)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // No code path is meant to panic; if one does, die like an abort would.
    exit(134)
}

// Compiler support routines. LLVM may turn loops and slice comparisons into
// calls to these C library functions, and we link no C library. LLVM does
// not rewrite the body of a function with one of these names into a call to
// itself, so plain loops are safe here.

/// # Safety
/// `s` must point at a NUL-terminated string.
#[no_mangle]
unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller guarantees a NUL within the readable memory.
    while unsafe { *s.add(n) } != 0 {
        n += 1;
    }
    n
}

/// # Safety
/// `a` and `b` must be readable for `n` bytes.
#[no_mangle]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: i < n, within the caller's guarantee.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

/// # Safety
/// As for `memcmp`.
#[no_mangle]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
/// `d` must be writable and `s` readable for `n` bytes, not overlapping.
#[no_mangle]
unsafe extern "C" fn memcpy(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: i < n, within the caller's guarantee.
        unsafe { *d.add(i) = *s.add(i) };
    }
    d
}

/// # Safety
/// `d` must be writable for `n` bytes.
#[no_mangle]
unsafe extern "C" fn memset(d: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: i < n, within the caller's guarantee.
        unsafe { *d.add(i) = c as u8 };
    }
    d
}
