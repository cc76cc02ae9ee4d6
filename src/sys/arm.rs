//! 32-bit ARM (EABI): entry point, `svc 0` instruction, syscall numbers
//! (arch/arm/tools/syscall.tbl).

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

// The kernel starts us with sp at argc. Zero the frame pointer and link
// register (the outermost frame), pass sp, align the stack to 8 bytes as
// the AAPCS requires.
global_asm!(
    ".globl _start",
    ".type _start, %function",
    "_start:",
    "mov fp, #0",
    "mov lr, #0",
    "mov r0, sp",
    "bic sp, sp, #15",
    "bl {entry}",
    "udf #0",
    entry = sym super::entry,
);

/// # Safety
/// `n` must be a syscall that takes no arguments and touches no memory.
#[inline(always)]
pub unsafe fn syscall0(n: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall.
    unsafe { asm!("svc 0", in("r7") n, lateout("r0") ret, options(nostack, preserves_flags)) };
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
        asm!("svc 0", in("r7") n, inlateout("r0") a1 as isize => ret, in("r1") a2,
             options(nostack, preserves_flags))
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
        asm!("svc 0", in("r7") n, inlateout("r0") a1 as isize => ret, in("r1") a2, in("r2") a3,
             options(nostack, preserves_flags))
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
        asm!("svc 0", in("r7") n, inlateout("r0") a1 as isize => ret, in("r1") a2, in("r2") a3,
             in("r3") a4, options(nostack, preserves_flags))
    };
    ret
}

/// fork(2) as `clone(SIGCHLD, 0, NULL, NULL, NULL)`.
///
/// # Safety
/// The process must be single-threaded (it is: we never create threads).
#[inline(always)]
pub unsafe fn fork() -> isize {
    // SAFETY: the caller's contract; the unused pointer arguments are NULL.
    unsafe { syscall4(nr::CLONE, super::SIGCHLD as usize, 0, 0, 0) }
}

pub fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group takes an integer and never returns.
    unsafe {
        asm!("svc 0", in("r7") nr::EXIT_GROUP, in("r0") code as isize, options(noreturn, nostack))
    }
}
