//! RISC-V 64: entry point, `ecall` instruction, syscall numbers
//! (include/uapi/asm-generic/unistd.h).

use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITEV: usize = 66;
    pub const GETPID: usize = 172;
    pub const CLONE: usize = 220;
    pub const EXECVE: usize = 221;
    pub const WAIT4: usize = 260;
    pub const KILL: usize = 129;
    pub const SETPGID: usize = 154;
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const RT_SIGTIMEDWAIT: usize = 137;
    pub const PRCTL: usize = 167;
    pub const EXIT_GROUP: usize = 94;
}

// The kernel starts us with sp at argc. Zero the return address (the
// outermost frame), pass sp, keep the ABI's 16-byte alignment. No gp
// set-up: lld does not relax to gp unless asked (--relax-gp).
global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "li ra, 0",
    "mv a0, sp",
    "andi sp, sp, -16",
    "call {entry}",
    "unimp",
    entry = sym super::entry,
);

/// # Safety
/// `n` must be a syscall that takes no arguments and touches no memory.
#[inline(always)]
pub unsafe fn syscall0(n: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall.
    unsafe { asm!("ecall", in("a7") n, lateout("a0") ret, options(nostack, preserves_flags)) };
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
        asm!("ecall", in("a7") n, inlateout("a0") a1 as isize => ret, in("a1") a2,
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
        asm!("ecall", in("a7") n, inlateout("a0") a1 as isize => ret, in("a1") a2, in("a2") a3,
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
        asm!("ecall", in("a7") n, inlateout("a0") a1 as isize => ret, in("a1") a2, in("a2") a3,
             in("a3") a4, options(nostack, preserves_flags))
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
        asm!("ecall", in("a7") nr::EXIT_GROUP, in("a0") code as isize, options(noreturn, nostack))
    }
}
