//! s390x: entry point, `svc` instruction, syscall numbers
//! (arch/s390/kernel/syscalls/syscall.tbl). The syscall number goes in r1
//! (`svc 0`), arguments in r2-r7, the result comes back in r2.

use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITEV: usize = 146;
    pub const GETPID: usize = 20;
    pub const CLONE: usize = 120;
    pub const EXECVE: usize = 11;
    pub const WAIT4: usize = 114;
    pub const KILL: usize = 37;
    pub const SETPGID: usize = 57;
    pub const RT_SIGACTION: usize = 174;
    pub const RT_SIGPROCMASK: usize = 175;
    pub const RT_SIGTIMEDWAIT: usize = 177;
    pub const PRCTL: usize = 172;
    pub const EXIT_GROUP: usize = 248;
}

// The kernel starts us with r15 at argc. Pass it, then allocate the
// 160-byte register save area the ABI makes every caller provide, with a
// zero back chain (the outermost frame).
global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "lgr %r2, %r15",
    "aghi %r15, -160",
    "xc 0(8,%r15), 0(%r15)",
    "brasl %r14, {entry}",
    ".word 0",
    entry = sym super::entry,
);

/// # Safety
/// `n` must be a syscall that takes no arguments and touches no memory.
#[inline(always)]
pub unsafe fn syscall0(n: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall.
    unsafe { asm!("svc 0", in("r1") n, lateout("r2") ret, options(nostack)) };
    ret
}

/// # Safety
/// The arguments must be valid for syscall `n` (pointers readable/writable
/// for what the kernel accesses).
#[inline(always)]
pub unsafe fn syscall2(n: usize, a1: usize, a2: usize) -> isize {
    let ret;
    // SAFETY: the caller's argument contract.
    unsafe {
        asm!("svc 0", in("r1") n, inlateout("r2") a1 as isize => ret, in("r3") a2, options(nostack))
    };
    ret
}

/// # Safety
/// As for `syscall2`.
#[inline(always)]
pub unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    // SAFETY: the caller's argument contract.
    unsafe {
        asm!("svc 0", in("r1") n, inlateout("r2") a1 as isize => ret, in("r3") a2, in("r4") a3,
             options(nostack))
    };
    ret
}

/// # Safety
/// As for `syscall2`.
#[inline(always)]
pub unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret;
    // SAFETY: the caller's argument contract.
    unsafe {
        asm!("svc 0", in("r1") n, inlateout("r2") a1 as isize => ret, in("r3") a2, in("r4") a3,
             in("r5") a4, options(nostack))
    };
    ret
}

/// fork(2) as `clone(0, SIGCHLD, NULL, NULL, NULL)`: on s390 the new stack
/// pointer comes first and the flags second.
///
/// # Safety
/// The process must be single-threaded (it is: we never create threads).
#[inline(always)]
pub unsafe fn fork() -> isize {
    // SAFETY: the caller's contract; the unused pointer arguments are NULL.
    unsafe { syscall4(nr::CLONE, 0, super::SIGCHLD as usize, 0, 0) }
}

pub fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group takes an integer and never returns.
    unsafe {
        asm!("svc 0", in("r1") nr::EXIT_GROUP, in("r2") code as isize, options(noreturn, nostack))
    }
}
