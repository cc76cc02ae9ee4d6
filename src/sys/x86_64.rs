//! x86-64: entry point, `syscall` instruction, syscall numbers
//! (arch/x86/entry/syscalls/syscall_64.tbl).

use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITEV: usize = 20;
    pub const GETPID: usize = 39;
    pub const CLONE: usize = 56;
    pub const EXECVE: usize = 59;
    pub const WAIT4: usize = 61;
    pub const KILL: usize = 62;
    pub const SETPGID: usize = 109;
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const RT_SIGTIMEDWAIT: usize = 128;
    pub const PRCTL: usize = 157;
    pub const EXIT_GROUP: usize = 231;
}

// The kernel starts us with %rsp at argc. Clear the frame pointer (marks the
// outermost frame), pass %rsp, and align the stack as the ABI requires.
global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym super::entry,
);

/// # Safety
/// `n` must be a syscall that takes no arguments and touches no memory.
#[inline(always)]
pub unsafe fn syscall0(n: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; rcx and r11 are clobbered
    // by the `syscall` instruction itself.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags))
    };
    ret
}

/// # Safety
/// The arguments must be valid for syscall `n` (pointers readable/writable
/// for what the kernel accesses).
#[inline(always)]
pub unsafe fn syscall2(n: usize, a1: usize, a2: usize) -> isize {
    let ret;
    // SAFETY: as for `syscall0`, plus the caller's argument contract.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1, in("rsi") a2,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags))
    };
    ret
}

/// # Safety
/// As for `syscall2`.
#[inline(always)]
pub unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    // SAFETY: as for `syscall2`.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1, in("rsi") a2, in("rdx") a3,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags))
    };
    ret
}

/// # Safety
/// As for `syscall2`.
#[inline(always)]
pub unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret;
    // SAFETY: as for `syscall2`.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1, in("rsi") a2, in("rdx") a3,
             in("r10") a4, lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags))
    };
    ret
}

/// fork(2) as `clone(SIGCHLD, 0, NULL, NULL, 0)`.
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
        asm!("syscall", in("rax") nr::EXIT_GROUP, in("rdi") code as isize, options(noreturn, nostack))
    }
}
