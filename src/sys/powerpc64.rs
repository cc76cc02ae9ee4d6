//! 64-bit little-endian PowerPC (ELFv2): entry point, `sc` instruction,
//! syscall numbers (arch/powerpc/kernel/syscalls/syscall.tbl).
//!
//! The kernel reports a failed syscall by setting the summary-overflow bit
//! of CR0 and returning the positive errno in r3; the wrappers negate it so
//! callers see the -errno convention of the other architectures.

use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITEV: usize = 146;
    pub const GETPID: usize = 20;
    pub const CLONE: usize = 120;
    pub const EXECVE: usize = 11;
    pub const WAIT4: usize = 114;
    pub const KILL: usize = 37;
    pub const SETPGID: usize = 57;
    pub const RT_SIGACTION: usize = 173;
    pub const RT_SIGPROCMASK: usize = 174;
    pub const RT_SIGTIMEDWAIT: usize = 176;
    pub const PRCTL: usize = 171;
    pub const EXIT_GROUP: usize = 234;
}

// The kernel starts us with r1 at argc. Even static code addresses data
// through the TOC pointer r2, so compute it from our own address first
// (bcl/mflr gives the address of label 1). Then pass the stack pointer,
// align the stack and open the ABI's minimal 32-byte frame with a NULL
// back chain (the outermost frame).
global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "bcl 20, 31, 1f",
    "1:",
    "mflr 12",
    "addis 2, 12, (.TOC. - 1b)@ha",
    "addi 2, 2, (.TOC. - 1b)@l",
    "mr 3, 1",
    "clrrdi 1, 1, 4",
    "li 0, 0",
    "stdu 0, -32(1)",
    "bl {entry}",
    "nop",
    "trap",
    entry = sym super::entry,
);

// `sc` clobbers the volatile registers r0 and r4-r12, CR0, CTR and XER.

/// # Safety
/// `n` must be a syscall that takes no arguments and touches no memory.
#[inline(always)]
pub unsafe fn syscall0(n: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall.
    unsafe {
        asm!("sc", "bns+ 2f", "neg 3, 3", "2:", inlateout("r0") n => _, lateout("r3") ret,
        lateout("r4") _, lateout("r5") _, lateout("r6") _, lateout("r7") _, lateout("r8") _,
        lateout("r9") _, lateout("r10") _, lateout("r11") _, lateout("r12") _,
        out("cr0") _, out("ctr") _, out("xer") _, options(nostack))
    };
    ret
}

/// # Safety
/// The arguments must be valid for syscall `n` (pointers readable/writable
/// for what the kernel accesses).
#[inline(always)]
pub unsafe fn syscall2(n: usize, a1: usize, a2: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller's argument contract.
    unsafe {
        asm!("sc", "bns+ 2f", "neg 3, 3", "2:", inlateout("r0") n => _,
        inlateout("r3") a1 as isize => ret, inlateout("r4") a2 => _,
        lateout("r5") _, lateout("r6") _, lateout("r7") _, lateout("r8") _,
        lateout("r9") _, lateout("r10") _, lateout("r11") _, lateout("r12") _,
        out("cr0") _, out("ctr") _, out("xer") _, options(nostack))
    };
    ret
}

/// # Safety
/// As for `syscall2`.
#[inline(always)]
pub unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller's argument contract.
    unsafe {
        asm!("sc", "bns+ 2f", "neg 3, 3", "2:", inlateout("r0") n => _,
        inlateout("r3") a1 as isize => ret, inlateout("r4") a2 => _, inlateout("r5") a3 => _,
        lateout("r6") _, lateout("r7") _, lateout("r8") _,
        lateout("r9") _, lateout("r10") _, lateout("r11") _, lateout("r12") _,
        out("cr0") _, out("ctr") _, out("xer") _, options(nostack))
    };
    ret
}

/// # Safety
/// As for `syscall2`.
#[inline(always)]
pub unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller's argument contract.
    unsafe {
        asm!("sc", "bns+ 2f", "neg 3, 3", "2:", inlateout("r0") n => _,
        inlateout("r3") a1 as isize => ret, inlateout("r4") a2 => _, inlateout("r5") a3 => _,
        inlateout("r6") a4 => _, lateout("r7") _, lateout("r8") _,
        lateout("r9") _, lateout("r10") _, lateout("r11") _, lateout("r12") _,
        out("cr0") _, out("ctr") _, out("xer") _, options(nostack))
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
        asm!("sc", in("r0") nr::EXIT_GROUP, in("r3") code as isize, options(noreturn, nostack))
    }
}
