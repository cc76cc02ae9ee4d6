//! The only module of podrun with `unsafe` code and raw system calls.
//!
//! The rest of the crate calls the safe functions here, never `nix` or
//! `libc` directly, so everything that touches the kernel can be reviewed in
//! one place. Most functions are thin wrappers of `nix` (itself a safe layer
//! over libc); the few calls nix lacks go to libc, each `unsafe` block with a
//! `// SAFETY:` comment. Errors are plain `std::io::Error`.
//!
//! The functions are grouped in sections (process, files relative to a
//! directory descriptor, extended attributes); mounts, namespaces and the
//! like get their own sections the same way.

// The one module allowed to use `unsafe`: should the crate ever
// `#![deny(unsafe_code)]`, this keeps working, and every unsafe block here
// must say why it is sound.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::{self, AtFlags, OFlag};
use nix::sys::stat::{self, FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{self, Gid, Uid, UnlinkatFlags};

// ---------------------------------------------------------------------------
// Process identity
// ---------------------------------------------------------------------------

/// The effective user id of this process (0 when running as root).
pub fn effective_uid() -> u32 {
    unistd::geteuid().as_raw()
}

// ---------------------------------------------------------------------------
// Files relative to a directory descriptor
//
// Every function takes a directory fd and a `name` looked up in it. They
// never follow a symlink in the last component of `name` (O_NOFOLLOW,
// AT_SYMLINK_NOFOLLOW, O_EXCL, or calls that do not follow by nature such as
// mknodat). Intermediate components of `name` *would* be followed, so
// callers that must not follow any symlink walk one component at a time with
// `open_dir_at` and pass single names (image/unpack.rs does).
// ---------------------------------------------------------------------------

/// What kind of file an inode is (`st_mode & S_IFMT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// The parts of `lstat` the crate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub file_type: FileType,
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Device number of a character or block device (0 otherwise).
    pub rdev_major: u64,
    pub rdev_minor: u64,
}

/// A point in time as the kernel stores file times: seconds since the epoch
/// (negative before 1970) and nanoseconds `0..1_000_000_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

/// What `mknod_at` creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    CharDevice { major: u32, minor: u32 },
    BlockDevice { major: u32, minor: u32 },
    Fifo,
}

/// Opens the directory `path` (following symlinks: the caller chose the
/// path) for use as the `dir` of the `*_at` functions.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    Ok(fcntl::open(path, flags, Mode::empty())?)
}

/// Opens the directory `dir/name`. Fails (ELOOP or ENOTDIR) if `name` is a
/// symlink, even one pointing to a directory.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(fcntl::openat(dir, name, flags, Mode::empty())?)
}

/// Creates the regular file `dir/name`, which must not exist (O_EXCL: an
/// existing symlink is not followed either), open for writing. The mode is
/// reduced by the umask; use `lchmod_at` for exact bits.
pub fn create_file_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<File> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = fcntl::openat(dir, name, flags, Mode::from_bits_truncate(mode))?;
    Ok(File::from(fd))
}

/// Creates the directory `dir/name` (mode reduced by the umask).
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(stat::mkdirat(dir, name, Mode::from_bits_truncate(mode))?)
}

/// Creates the device node or FIFO `dir/name` (mode reduced by the umask).
pub fn mknod_at(dir: BorrowedFd<'_>, name: &OsStr, kind: NodeKind, mode: u32) -> io::Result<()> {
    let (kind, dev) = match kind {
        NodeKind::CharDevice { major, minor } => {
            (SFlag::S_IFCHR, stat::makedev(major.into(), minor.into()))
        }
        NodeKind::BlockDevice { major, minor } => {
            (SFlag::S_IFBLK, stat::makedev(major.into(), minor.into()))
        }
        NodeKind::Fifo => (SFlag::S_IFIFO, 0),
    };
    Ok(stat::mknodat(
        dir,
        name,
        kind,
        Mode::from_bits_truncate(mode),
        dev,
    )?)
}

/// Creates the symlink `dir/name` pointing to `target` (stored as given,
/// never resolved).
pub fn symlink_at(target: &OsStr, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(unistd::symlinkat(target, dir, name)?)
}

/// Creates the hard link `new_dir/new_name` to `old_dir/old_name`. If
/// `old_name` is a symlink, the link is to the symlink itself.
pub fn hard_link_at(
    old_dir: BorrowedFd<'_>,
    old_name: &OsStr,
    new_dir: BorrowedFd<'_>,
    new_name: &OsStr,
) -> io::Result<()> {
    Ok(unistd::linkat(
        old_dir,
        old_name,
        new_dir,
        new_name,
        AtFlags::empty(),
    )?)
}

/// Removes the non-directory `dir/name`.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?)
}

/// Removes the empty directory `dir/name`.
pub fn remove_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(unistd::unlinkat(dir, name, UnlinkatFlags::RemoveDir)?)
}

/// `lstat` of `dir/name`.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Stat> {
    let st = stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let file_type = match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => FileType::Regular,
        SFlag::S_IFDIR => FileType::Directory,
        SFlag::S_IFLNK => FileType::Symlink,
        SFlag::S_IFCHR => FileType::CharDevice,
        SFlag::S_IFBLK => FileType::BlockDevice,
        SFlag::S_IFIFO => FileType::Fifo,
        SFlag::S_IFSOCK => FileType::Socket,
        _ => {
            return Err(io::Error::other(format!(
                "unknown file type in st_mode {:o}",
                st.st_mode
            )))
        }
    };
    Ok(Stat {
        file_type,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev_major: stat::major(st.st_rdev),
        rdev_minor: stat::minor(st.st_rdev),
    })
}

/// Sets the owner of `dir/name` (of the symlink itself if it is one).
/// Note that the kernel clears setuid/setgid bits on chown: set the mode
/// after.
pub fn lchown_at(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    Ok(unistd::fchownat(
        dir,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?)
}

/// Sets the permission bits (`0o7777`, setuid/setgid/sticky included) of
/// `dir/name`; fails with EOPNOTSUPP on a symlink (Linux symlinks have no
/// mode). glibc implements the no-follow flag with an O_PATH descriptor and
/// `/proc/self/fd` (fchmodat2 on newer kernels), so it needs `/proc`.
pub fn lchmod_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(stat::fchmodat(
        dir,
        name,
        Mode::from_bits_truncate(mode),
        FchmodatFlags::NoFollowSymlink,
    )?)
}

/// Sets the access and modification times of `dir/name` (of the symlink
/// itself if it is one).
pub fn lset_times_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    atime: Timestamp,
    mtime: Timestamp,
) -> io::Result<()> {
    let spec = |t: Timestamp| TimeSpec::new(t.secs, t.nanos.into());
    Ok(stat::utimensat(
        dir,
        name,
        &spec(atime),
        &spec(mtime),
        UtimensatFlags::NoFollowSymlink,
    )?)
}

/// The names in a directory, without `.` and `..`, in no particular order.
pub fn read_dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    // A fresh open file description (not a dup of `dir`), so reading it
    // leaves the offset of `dir` alone.
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut listing = Dir::openat(dir, ".", flags, Mode::empty())?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name));
        }
    }
    Ok(names)
}

// ---------------------------------------------------------------------------
// Extended attributes (nix has no wrappers: libc)
// ---------------------------------------------------------------------------

/// Sets the extended attribute `key` of `dir/name` (of the symlink itself
/// if it is one) to `value`, creating or replacing it.
///
/// Linux has no `lsetxattrat` before 6.13, so the path is
/// `/proc/self/fd/<dir>/<name>`: the kernel resolves the magic link to the
/// very directory `dir` holds, then looks up `name` in it without following
/// it, which is exactly `lsetxattrat(dir, name)`. Needs `/proc`. Nothing is
/// opened, so device nodes and FIFOs are safe to label.
pub fn lsetxattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    key: &OsStr,
    value: &[u8],
) -> io::Result<()> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.as_bytes());
    let path = c_string(path)?;
    let key = c_string(key.as_bytes().to_vec())?;
    // SAFETY: `path` and `key` are NUL-terminated strings and `value` a
    // valid slice, all alive for the duration of the call, which only reads
    // them (`value.len()` bytes of `value`).
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The value of the extended attribute `key` of `path` (of the symlink
/// itself if it is one). ENODATA if it is not set.
pub fn lgetxattr(path: &Path, key: &OsStr) -> io::Result<Vec<u8>> {
    let path = c_string(path.as_os_str().as_bytes().to_vec())?;
    let key = c_string(key.as_bytes().to_vec())?;
    loop {
        // SAFETY: both strings are NUL-terminated and alive; a NULL buffer
        // with size 0 asks only for the size of the value.
        let size = unsafe { libc::lgetxattr(path.as_ptr(), key.as_ptr(), std::ptr::null_mut(), 0) };
        let size = usize::try_from(size).map_err(|_| io::Error::last_os_error())?;
        let mut value = vec![0u8; size];
        // SAFETY: as above; `value` is a writable buffer of `value.len()`
        // bytes, and the kernel writes at most that many.
        let got = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                key.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        match usize::try_from(got) {
            Ok(len) => {
                value.truncate(len);
                return Ok(value);
            }
            // The value grew between the two calls: ask again.
            Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) => continue,
            Err(_) => return Err(io::Error::last_os_error()),
        }
    }
}

fn c_string(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a name"))
}

// ---------------------------------------------------------------------------
// Device numbers
// ---------------------------------------------------------------------------

/// The major number of a device number (`st_rdev`).
pub fn dev_major(dev: u64) -> u64 {
    stat::major(dev)
}

/// The minor number of a device number (`st_rdev`).
pub fn dev_minor(dev: u64) -> u64 {
    stat::minor(dev)
}

// ---------------------------------------------------------------------------
// Locks
// ---------------------------------------------------------------------------

/// An exclusive `flock` on a file, held until dropped.
pub struct FileLock {
    _lock: fcntl::Flock<File>,
}

/// Takes an exclusive lock on `file` if nobody holds one; `Err(file)` back
/// when somebody does (so the caller can say so, then wait).
pub fn try_lock_exclusive(file: File) -> io::Result<Result<FileLock, File>> {
    match fcntl::Flock::lock(file, fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Ok(FileLock { _lock: lock })),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => Ok(Err(file)),
        Err((_, errno)) => Err(io::Error::from(errno)),
    }
}

/// Blocks until `file` is exclusively locked. The lock is the open file
/// description's: it ends when this value (and the file) is dropped, or
/// when the process dies, so a killed holder never leaves it stuck.
pub fn lock_exclusive(file: File) -> io::Result<FileLock> {
    fcntl::Flock::lock(file, fcntl::FlockArg::LockExclusive)
        .map(|lock| FileLock { _lock: lock })
        .map_err(|(_, errno)| io::Error::from(errno))
}
