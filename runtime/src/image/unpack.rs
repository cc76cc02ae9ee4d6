//! Unpacking one image layer into an overlayfs lower directory.
//!
//! [`unpack_layer`] applies one uncompressed layer tar (OCI image-spec
//! "layer" rules) to an empty directory, which then serves as one lowerdir
//! of an overlay mount; [`decompress`] turns a gzip or plain layer blob into
//! that tar stream.
//!
//! # The rules
//!
//! - Entry names are relative to the layer root: leading `./` is stripped,
//!   a trailing `/` is allowed; absolute names, `..` components, empty
//!   names or components, `.` components after the start, NUL bytes and
//!   names over 4096 bytes are refused. `.` or `./` is the layer root
//!   itself (only a directory entry may describe it).
//! - No symlink is ever followed while writing: every parent of an entry
//!   must be a real directory inside the layer (missing ones are created
//!   0755, owned by the caller, i.e. root); a parent that is a symlink
//!   (created earlier by the same layer) is refused. Symlink entries are
//!   created as-is, whatever their target: they mean something only inside
//!   the container.
//! - Hard links: the target (the tar link name) follows the same name rules,
//!   must already exist in the layer as a non-directory, and is reached
//!   through real directories only. A hard link to a symlink links the
//!   symlink itself.
//! - Whiteouts (by name, whatever the entry type): `DIR/.wh..wh..opq` sets
//!   `trusted.overlay.opaque=y` on DIR (created if missing); `DIR/.wh.NAME`
//!   creates the overlayfs whiteout, a 0:0 character device `DIR/NAME`.
//!   Whiteouts of `.`, `..` or an empty name, other `.wh..wh.` (AUFS
//!   metadata) names, and `.wh.` names used as parent directories are
//!   refused. Whiteouts only hide lower layers, so a whiteout of a path this
//!   layer itself created is refused; a directory entry over a whiteout
//!   created earlier in the layer becomes an opaque directory (lower content
//!   hidden, this layer's shown), a non-directory simply replaces it.
//! - Regular files, directories, symlinks, character and block devices and
//!   FIFOs keep their mode bits (setuid, setgid and sticky included; not on
//!   symlinks, which have none on Linux), numeric uid/gid from the header
//!   (or PAX `uid`/`gid`), mtime (PAX `mtime` with its fraction, else the
//!   header; atime is set to the same value) and `SCHILY.xattr.*` PAX
//!   records. Owner first, then mode (chown clears setuid), then xattrs
//!   (chown also clears `security.capability`), then times. Directory times
//!   are set at the very end, after all their contents.
//! - An entry over an existing path replaces it: a non-directory is
//!   removed, and so is a whole directory tree when the new entry is not a
//!   directory (OCI "changeset over existing files"); a directory entry
//!   over a directory only updates its metadata.
//! - Refused: other entry types (GNU sparse, contiguous, GNU long-name
//!   headers the tar crate did not consume, unknown bytes), PAX GNU sparse
//!   records, xattrs in the `trusted.overlay.` / `user.overlay.` namespaces
//!   (overlayfs would read them as its own metadata: a layer must say
//!   "whiteout" with `.wh.` names, in the same way on every storage), uids,
//!   gids or times out of range, malformed PAX values.
//! - Ignored: PAX global headers (as containerd does), PAX records other
//!   than `mtime`, `SCHILY.xattr.*` and those the tar crate applies (`path`,
//!   `linkpath`, `size`, `uid`, `gid`), notably `LIBARCHIVE.xattr.*`
//!   (libarchive writes the same xattrs as `SCHILY.xattr.*` too) and atime.
//!   Hard link entries get no metadata of their own: they share the
//!   target's inode, and changing it would rewrite the target's.
//!
//! # On failure
//!
//! The first refused or failed entry stops the unpacking and the whole layer
//! fails; whatever was already written stays in `dest`. The caller unpacks
//! into a fresh temporary directory, renames it into place on success and
//! deletes it on failure. Nothing outside `dest` is ever written, whatever
//! the tar holds. Durability (syncfs before the rename) is also the
//! caller's.
//!
//! # Why this cannot be tricked into writing outside `dest`
//!
//! Paths are never resolved as strings. `dest` is opened once; every entry
//! is reached by opening one component at a time with
//! `openat(parent, component, O_DIRECTORY | O_NOFOLLOW)`, each relative to
//! the descriptor of the directory just opened, and the last component is
//! acted upon with `*at` calls on that parent descriptor that do not follow
//! a symlink (O_EXCL/O_NOFOLLOW creation, mknodat, symlinkat, linkat without
//! AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW for owner, mode, times and
//! xattrs). So the check ("this is a real directory") and the use are the
//! same system call: no window in which a path could be swapped for a
//! symlink, even by a concurrent process. (`openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` would walk in one call, but
//! needs Linux 5.6 and would not tell which parent was the symlink.) The
//! owner/mode/xattr calls on the last component go through
//! `/proc/self/fd`, so `/proc` must be mounted.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::EntryType;

use crate::sys::{self, FileType, NodeKind, Timestamp};

/// What one layer unpacked to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar members applied: files, directories, links, devices, FIFOs and
    /// whiteouts (not the PAX or GNU headers that describe them).
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot read the layer: {0}")]
    Read(#[source] io::Error),
    #[error("the layer is compressed with {0}: unsupported compression (only gzip and uncompressed tar are)")]
    UnsupportedCompression(&'static str),
    #[error("cannot open the layer destination {path}: {source}")]
    OpenDest { path: PathBuf, source: io::Error },
    #[error("the layer destination {0} is not empty")]
    DestNotEmpty(PathBuf),
    #[error("cannot read the layer tar {}: {source}", after_entry(.after))]
    Tar {
        /// The last entry read before the failure, if any.
        after: Option<String>,
        source: io::Error,
    },
    #[error("layer entry {entry:?}: {refusal}")]
    Refused { entry: String, refusal: Refusal },
    #[error("layer entry {entry:?}: cannot {step}: {source}")]
    Io {
        entry: String,
        step: String,
        source: io::Error,
    },
}

fn after_entry(after: &Option<String>) -> String {
    match after {
        Some(entry) => format!("after entry {entry:?}"),
        None => "at its start".to_owned(),
    }
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("path {0}")]
    Path(PathProblem),
    #[error("a parent is a symlink ({0:?})")]
    ParentIsSymlink(String),
    #[error("a parent is not a directory ({0:?})")]
    ParentNotDirectory(String),
    #[error("a parent is a whiteout name ({0:?})")]
    ParentIsWhiteout(String),
    #[error("hard link target {target:?} {problem}")]
    LinkTarget {
        target: String,
        problem: LinkProblem,
    },
    #[error("link entry without a link target")]
    NoLinkTarget,
    #[error("symlink target {0:?} is empty or holds a NUL byte")]
    BadSymlinkTarget(String),
    #[error("whiteout of {0:?}: only a plain name can be whited out")]
    BadWhiteout(String),
    #[error("whiteout of a path this layer itself creates (whiteouts only hide lower layers)")]
    WhiteoutOverEntry,
    #[error("unsupported AUFS metadata entry")]
    AufsMetadata,
    #[error("unsupported entry type {0}")]
    UnsupportedType(String),
    #[error("the layer root can only be a directory, not {0}")]
    RootNotDirectory(String),
    #[error("device entry without device numbers")]
    NoDeviceNumbers,
    #[error("{what} {value} is out of range")]
    OutOfRange { what: &'static str, value: String },
    #[error("PAX record {key:?} has an invalid value {value:?}")]
    BadPax { key: String, value: String },
    #[error("xattr {0:?} is reserved for overlayfs")]
    ReservedXattr(String),
}

/// What is wrong with an entry name or hard link target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    Absolute,
    DotDot,
    Empty,
    Nul,
    EmptyComponent,
    DotComponent,
    TooLong,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::Absolute => "escapes the layer root (absolute)",
            PathProblem::DotDot => "escapes the layer root (\"..\" component)",
            PathProblem::Empty => "is empty",
            PathProblem::Nul => "holds a NUL byte",
            PathProblem::EmptyComponent => "has an empty component",
            PathProblem::DotComponent => "has a \".\" component after its start",
            PathProblem::TooLong => "is longer than 4096 bytes",
        })
    }
}

/// What is wrong with a hard link target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    Path(PathProblem),
    DoesNotExist,
    IsDirectory,
    ParentIsSymlink(String),
    ParentNotDirectory(String),
    IsTheEntry,
}

impl fmt::Display for LinkProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkProblem::Path(problem) => problem.fmt(f),
            LinkProblem::DoesNotExist => f.write_str("does not exist"),
            LinkProblem::IsDirectory => f.write_str("is a directory"),
            LinkProblem::ParentIsSymlink(p) => write!(f, "has a parent that is a symlink ({p:?})"),
            LinkProblem::ParentNotDirectory(p) => {
                write!(f, "has a parent that is not a directory ({p:?})")
            }
            LinkProblem::IsTheEntry => f.write_str("is the entry itself"),
        }
    }
}

/// Wraps a layer blob so that reading it yields the tar: gzip (by its magic
/// bytes, concatenated members included) is decompressed, anything else is
/// passed through as a plain tar. zstd, xz and bzip2 are recognised and
/// refused with [`UnpackError::UnsupportedCompression`].
pub fn decompress<'a, R: Read + 'a>(mut reader: R) -> Result<Box<dyn Read + 'a>, UnpackError> {
    let mut magic = [0u8; 10];
    let mut len = 0;
    while len < magic.len() {
        match reader.read(&mut magic[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(UnpackError::Read(e)),
        }
    }
    let head = &magic[..len];
    let unsupported = if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if head.len() == 10
        && head.starts_with(b"BZh")
        && head[3].is_ascii_digit()
        && head[4..] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
    {
        // "BZh" alone could start a tar entry name; the block magic cannot.
        Some("bzip2")
    } else {
        None
    };
    if let Some(name) = unsupported {
        return Err(UnpackError::UnsupportedCompression(name));
    }
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let replay = io::Cursor::new(magic).take(len as u64).chain(reader);
    Ok(if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(replay))
    } else {
        Box::new(replay)
    })
}

/// Applies the uncompressed layer tar `tar_stream` to the empty directory
/// `dest` (see the module documentation for the rules). On error, `dest`
/// holds part of the layer and is for the caller to delete.
pub fn unpack_layer<R: Read>(tar_stream: R, dest: &Path) -> Result<UnpackStats, UnpackError> {
    let open_dest = |source| UnpackError::OpenDest {
        path: dest.to_path_buf(),
        source,
    };
    let root = sys::open_dir(dest).map_err(open_dest)?;
    if !sys::read_dir_names(root.as_fd())
        .map_err(open_dest)?
        .is_empty()
    {
        return Err(UnpackError::DestNotEmpty(dest.to_path_buf()));
    }
    let mut layer = Layer {
        root,
        dir_times: BTreeMap::new(),
    };
    let mut stats = UnpackStats::default();
    let mut archive = tar::Archive::new(tar_stream);
    let entries = archive.entries().map_err(|source| UnpackError::Tar {
        after: None,
        source,
    })?;
    let mut last: Option<String> = None;
    for entry in entries {
        let mut entry = entry.map_err(|source| UnpackError::Tar {
            after: last.clone(),
            source,
        })?;
        let raw_name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        match layer.apply(&mut entry, &raw_name) {
            Ok(Applied::Entry { bytes }) => {
                stats.entries += 1;
                stats.bytes += bytes;
            }
            Ok(Applied::Skipped) => {}
            Err(fail) => return Err(fail.at(name)),
        }
        last = Some(name);
    }
    layer.set_dir_times()?;
    Ok(stats)
}

/// The state of one unpacking.
struct Layer {
    /// `dest`, the layer root.
    root: OwnedFd,
    /// Times of the directory entries seen, set once all entries are
    /// written (writing into a directory changes its mtime). Keyed by path
    /// under the root ("" is the root).
    dir_times: BTreeMap<PathBuf, Timestamp>,
}

enum Applied {
    Entry { bytes: u64 },
    Skipped,
}

/// Why one entry failed, before the entry's name is attached.
enum Fail {
    Refused(Refusal),
    Io { step: String, source: io::Error },
}

impl Fail {
    fn at(self, entry: String) -> UnpackError {
        match self {
            Fail::Refused(refusal) => UnpackError::Refused { entry, refusal },
            Fail::Io { step, source } => UnpackError::Io {
                entry,
                step,
                source,
            },
        }
    }
}

impl From<Refusal> for Fail {
    fn from(refusal: Refusal) -> Fail {
        Fail::Refused(refusal)
    }
}

/// `map_err` helper: an I/O failure at `step` ("create the file", ...).
fn io_err(step: impl Into<String>) -> impl FnOnce(io::Error) -> Fail {
    let step = step.into();
    move |source| Fail::Io { step, source }
}

/// Why walking to a directory stopped.
enum Walk {
    Symlink(String),
    NotDirectory(String),
    Missing(String),
    Failed(Fail),
}

impl From<Walk> for Fail {
    /// For the parents of the entry being written.
    fn from(walk: Walk) -> Fail {
        match walk {
            Walk::Symlink(p) => Refusal::ParentIsSymlink(p).into(),
            Walk::NotDirectory(p) => Refusal::ParentNotDirectory(p).into(),
            // Only walks without `create` can find a directory missing, and
            // those are of directories seen before.
            Walk::Missing(p) => Fail::Io {
                step: format!("open the directory {p:?}"),
                source: io::ErrorKind::NotFound.into(),
            },
            Walk::Failed(fail) => fail,
        }
    }
}

/// The metadata an entry's header and PAX records give.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timestamp,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

const PATH_MAX: usize = 4096;

/// The path of an entry name (or hard link target) under the layer root;
/// empty for the root itself.
fn normalize(raw: &[u8]) -> Result<PathBuf, PathProblem> {
    if raw.is_empty() {
        return Err(PathProblem::Empty);
    }
    if raw.contains(&0) {
        return Err(PathProblem::Nul);
    }
    if raw.len() > PATH_MAX {
        return Err(PathProblem::TooLong);
    }
    if raw[0] == b'/' {
        return Err(PathProblem::Absolute);
    }
    // `tar -C dir .` writes "./", "./a", ...
    let mut rest = raw;
    while let Some(r) = rest.strip_prefix(b"./") {
        rest = r;
    }
    if rest == b"." {
        rest = b"";
    }
    // Directories are often written "a/b/".
    let rest = rest.strip_suffix(b"/").unwrap_or(rest);
    if rest.is_empty() {
        return Ok(PathBuf::new());
    }
    let components: Vec<&[u8]> = rest.split(|&b| b == b'/').collect();
    if components.iter().any(|c| *c == b"..") {
        return Err(PathProblem::DotDot);
    }
    if components.iter().any(|c| c.is_empty()) {
        return Err(PathProblem::EmptyComponent);
    }
    if components.iter().any(|c| *c == b".") {
        return Err(PathProblem::DotComponent);
    }
    Ok(PathBuf::from(OsStr::from_bytes(rest)))
}

fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn describe(kind: EntryType) -> String {
    format!("{kind:?} ({:?})", kind.as_byte() as char)
}

const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

impl Layer {
    fn apply<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw_name: &[u8],
    ) -> Result<Applied, Fail> {
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(Applied::Skipped);
        }
        let path = normalize(raw_name).map_err(Refusal::Path)?;
        if let Some(parent) = path.parent() {
            if let Some(bad) = parent.iter().find(|c| c.as_bytes().starts_with(WHITEOUT)) {
                return Err(Refusal::ParentIsWhiteout(bad.to_string_lossy().into_owned()).into());
            }
        }
        if let Some(base) = path.file_name() {
            if let Some(hidden) = base.as_bytes().strip_prefix(WHITEOUT) {
                self.whiteout(&path, hidden)?;
                return Ok(Applied::Entry { bytes: 0 });
            }
        }
        if path.as_os_str().is_empty() && kind != EntryType::Directory {
            return Err(Refusal::RootNotDirectory(describe(kind)).into());
        }
        let bytes = match kind {
            EntryType::Directory => {
                let meta = read_meta(entry)?;
                self.directory(&path, meta)?;
                0
            }
            EntryType::Regular => {
                let meta = read_meta(entry)?;
                self.regular(&path, meta, entry)?
            }
            EntryType::Symlink => {
                let meta = read_meta(entry)?;
                let target = entry
                    .link_name_bytes()
                    .ok_or(Refusal::NoLinkTarget)?
                    .into_owned();
                self.symlink(&path, meta, &target)?;
                0
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or(Refusal::NoLinkTarget)?
                    .into_owned();
                self.hard_link(&path, &target)?;
                0
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let meta = read_meta(entry)?;
                let node = node_kind(entry.header(), kind)?;
                self.node(&path, meta, node)?;
                0
            }
            other => return Err(Refusal::UnsupportedType(describe(other)).into()),
        };
        Ok(Applied::Entry { bytes })
    }

    /// Opens the directory `path` (under the root) one component at a time,
    /// never following a symlink; with `create`, missing components are
    /// created 0755.
    fn walk(&self, path: &Path, create: bool) -> Result<OwnedFd, Walk> {
        let mut dir = self
            .root
            .try_clone()
            .map_err(|e| Walk::Failed(io_err("duplicate the layer root descriptor")(e)))?;
        let mut so_far = PathBuf::new();
        for name in path.iter() {
            so_far.push(name);
            let next = match sys::open_dir_at(dir.as_fd(), name) {
                Ok(next) => next,
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    let step = || format!("create the parent directory {:?}", shown(&so_far));
                    sys::mkdir_at(dir.as_fd(), name, 0o700)
                        .and_then(|()| sys::lchmod_at(dir.as_fd(), name, 0o755))
                        .and_then(|()| sys::open_dir_at(dir.as_fd(), name))
                        .map_err(|e| Walk::Failed(io_err(step())(e)))?
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Walk::Missing(shown(&so_far)))
                }
                Err(e) => {
                    // ELOOP or ENOTDIR, most likely: ask lstat what is
                    // there rather than read errno, to name the refusal.
                    return Err(match sys::lstat_at(dir.as_fd(), name) {
                        Ok(st) if st.file_type == FileType::Symlink => {
                            Walk::Symlink(shown(&so_far))
                        }
                        Ok(st) if st.file_type != FileType::Directory => {
                            Walk::NotDirectory(shown(&so_far))
                        }
                        _ => Walk::Failed(io_err(format!(
                            "open the directory {:?}",
                            shown(&so_far)
                        ))(e)),
                    });
                }
            };
            dir = next;
        }
        Ok(dir)
    }

    /// The parent directory of `path` (created as needed) and the last
    /// name; `(root, ".")` for the root itself.
    fn locate<'p>(&self, path: &'p Path) -> Result<(OwnedFd, &'p OsStr), Fail> {
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => Ok((self.walk(parent, true)?, name)),
            _ => Ok((self.walk(Path::new(""), false)?, OsStr::new("."))),
        }
    }

    /// Makes room for a new entry at `dir/name` (`path` under the root).
    fn make_room(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        new_is_dir: bool,
    ) -> Result<Existing, Fail> {
        let st = match sys::lstat_at(dir, name) {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Nothing),
            Err(e) => return Err(io_err("look at the existing path")(e)),
        };
        match st.file_type {
            FileType::Directory if new_is_dir => Ok(Existing::Directory),
            FileType::Directory => {
                self.remove_tree(path)?;
                Ok(Existing::Nothing)
            }
            _ => {
                sys::unlink_at(dir, name).map_err(io_err("remove the existing file"))?;
                Ok(if is_whiteout(&st) {
                    Existing::Whiteout
                } else {
                    Existing::Nothing
                })
            }
        }
    }

    /// Removes the directory tree at `path` without following any symlink
    /// and without recursion: the stack holds paths, each visit re-walks
    /// from the root, so neither the stack nor the open descriptors grow
    /// with the depth of the tree.
    fn remove_tree(&mut self, path: &Path) -> Result<(), Fail> {
        let removing = || format!("remove the existing directory {:?}", shown(path));
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir_path) = stack.last().cloned() {
            let dir = self.walk(&dir_path, false)?;
            let names = sys::read_dir_names(dir.as_fd()).map_err(io_err(removing()))?;
            let mut subdirs = Vec::new();
            for name in names {
                let st = sys::lstat_at(dir.as_fd(), &name).map_err(io_err(removing()))?;
                if st.file_type == FileType::Directory {
                    subdirs.push(dir_path.join(&name));
                } else {
                    sys::unlink_at(dir.as_fd(), &name).map_err(io_err(removing()))?;
                }
            }
            if subdirs.is_empty() {
                stack.pop();
                let (parent, name) = self.locate(&dir_path)?;
                sys::remove_dir_at(parent.as_fd(), name).map_err(io_err(removing()))?;
            } else {
                stack.extend(subdirs);
            }
        }
        self.dir_times.retain(|p, _| !p.starts_with(path));
        Ok(())
    }

    fn whiteout(&mut self, path: &Path, hidden: &[u8]) -> Result<(), Fail> {
        let dir_path = path.parent().unwrap_or(Path::new(""));
        if hidden == &OPAQUE[WHITEOUT.len()..] {
            // The directory itself, created if missing.
            let dir = self.walk(dir_path, true)?;
            sys::lsetxattr_at(dir.as_fd(), OsStr::new("."), OsStr::new(OPAQUE_XATTR), b"y")
                .map_err(io_err(format!("set {OPAQUE_XATTR} on the directory")))?;
            return Ok(());
        }
        if hidden.starts_with(WHITEOUT) {
            return Err(Refusal::AufsMetadata.into());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(Refusal::BadWhiteout(String::from_utf8_lossy(hidden).into_owned()).into());
        }
        let dir = self.walk(dir_path, true)?;
        let name = OsStr::from_bytes(hidden);
        match sys::lstat_at(dir.as_fd(), name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let whiteout = NodeKind::CharDevice { major: 0, minor: 0 };
                sys::mknod_at(dir.as_fd(), name, whiteout, 0)
                    .map_err(io_err("create the whiteout device"))
            }
            Ok(st) if is_whiteout(&st) => Ok(()),
            Ok(_) => Err(Refusal::WhiteoutOverEntry.into()),
            Err(e) => Err(io_err("look at the whited-out path")(e)),
        }
    }

    fn directory(&mut self, path: &Path, meta: Meta) -> Result<(), Fail> {
        let (dir, name) = self.locate(path)?;
        let existing = if path.as_os_str().is_empty() {
            Existing::Directory
        } else {
            self.make_room(dir.as_fd(), name, path, true)?
        };
        if existing != Existing::Directory {
            sys::mkdir_at(dir.as_fd(), name, 0o700).map_err(io_err("create the directory"))?;
        }
        set_meta(dir.as_fd(), name, &meta, FileType::Directory)?;
        if existing == Existing::Whiteout {
            // This layer removed the lower directory, then made its own.
            sys::lsetxattr_at(dir.as_fd(), name, OsStr::new(OPAQUE_XATTR), b"y")
                .map_err(io_err(format!("set {OPAQUE_XATTR} on the directory")))?;
        }
        self.dir_times.insert(path.to_path_buf(), meta.mtime);
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        path: &Path,
        meta: Meta,
        content: &mut tar::Entry<'_, R>,
    ) -> Result<u64, Fail> {
        let size = content.size();
        let (dir, name) = self.locate(path)?;
        self.make_room(dir.as_fd(), name, path, false)?;
        let mut file =
            sys::create_file_at(dir.as_fd(), name, 0o600).map_err(io_err("create the file"))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("read the file content from the layer")(e)),
            };
            file.write_all(&buf[..n])
                .map_err(io_err("write the file"))?;
            written += n as u64;
        }
        if written != size {
            let short = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the layer ends after {written} of its {size} bytes"),
            );
            return Err(io_err("read the file content from the layer")(short));
        }
        drop(file);
        set_meta(dir.as_fd(), name, &meta, FileType::Regular)?;
        set_times(dir.as_fd(), name, meta.mtime)?;
        Ok(written)
    }

    fn symlink(&mut self, path: &Path, meta: Meta, target: &[u8]) -> Result<(), Fail> {
        if target.is_empty() || target.contains(&0) {
            return Err(
                Refusal::BadSymlinkTarget(String::from_utf8_lossy(target).into_owned()).into(),
            );
        }
        let (dir, name) = self.locate(path)?;
        self.make_room(dir.as_fd(), name, path, false)?;
        sys::symlink_at(OsStr::from_bytes(target), dir.as_fd(), name)
            .map_err(io_err("create the symlink"))?;
        set_meta(dir.as_fd(), name, &meta, FileType::Symlink)?;
        set_times(dir.as_fd(), name, meta.mtime)
    }

    fn hard_link(&mut self, path: &Path, raw_target: &[u8]) -> Result<(), Fail> {
        let refuse = |problem| {
            Fail::from(Refusal::LinkTarget {
                target: String::from_utf8_lossy(raw_target).into_owned(),
                problem,
            })
        };
        let target = normalize(raw_target).map_err(|p| refuse(LinkProblem::Path(p)))?;
        let (Some(target_parent), Some(target_name)) = (target.parent(), target.file_name()) else {
            return Err(refuse(LinkProblem::IsDirectory));
        };
        let target_dir = match self.walk(target_parent, false) {
            Ok(fd) => fd,
            Err(Walk::Symlink(p)) => return Err(refuse(LinkProblem::ParentIsSymlink(p))),
            Err(Walk::NotDirectory(p)) => return Err(refuse(LinkProblem::ParentNotDirectory(p))),
            Err(Walk::Missing(_)) => return Err(refuse(LinkProblem::DoesNotExist)),
            Err(Walk::Failed(fail)) => return Err(fail),
        };
        match sys::lstat_at(target_dir.as_fd(), target_name) {
            Ok(st) if st.file_type == FileType::Directory => {
                return Err(refuse(LinkProblem::IsDirectory))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(refuse(LinkProblem::DoesNotExist))
            }
            Err(e) => return Err(io_err("look at the hard link target")(e)),
        }
        if target == path {
            return Err(refuse(LinkProblem::IsTheEntry));
        }
        let (dir, name) = self.locate(path)?;
        self.make_room(dir.as_fd(), name, path, false)?;
        sys::hard_link_at(target_dir.as_fd(), target_name, dir.as_fd(), name)
            .map_err(io_err("create the hard link"))
    }

    fn node(&mut self, path: &Path, meta: Meta, kind: NodeKind) -> Result<(), Fail> {
        let (dir, name) = self.locate(path)?;
        self.make_room(dir.as_fd(), name, path, false)?;
        sys::mknod_at(dir.as_fd(), name, kind, 0o600).map_err(io_err("create the node"))?;
        let file_type = match kind {
            NodeKind::CharDevice { .. } => FileType::CharDevice,
            NodeKind::BlockDevice { .. } => FileType::BlockDevice,
            NodeKind::Fifo => FileType::Fifo,
        };
        set_meta(dir.as_fd(), name, &meta, file_type)?;
        set_times(dir.as_fd(), name, meta.mtime)
    }

    /// Sets the times of every directory entry, now that nothing more is
    /// written into them. The order does not matter: changing a directory's
    /// times does not change its parent's.
    fn set_dir_times(&self) -> Result<(), UnpackError> {
        for (path, &mtime) in &self.dir_times {
            let entry = if path.as_os_str().is_empty() {
                ".".to_owned()
            } else {
                shown(path)
            };
            let (dir, name) = match (path.parent(), path.file_name()) {
                (Some(parent), Some(name)) => (self.walk(parent, false), name),
                _ => (self.walk(Path::new(""), false), OsStr::new(".")),
            };
            let dir = dir.map_err(|walk| Fail::from(walk).at(entry.clone()))?;
            set_times(dir.as_fd(), name, mtime).map_err(|fail| fail.at(entry))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    Nothing,
    Directory,
    /// A whiteout device, now removed.
    Whiteout,
}

/// An overlayfs whiteout: a 0:0 character device.
fn is_whiteout(st: &sys::Stat) -> bool {
    st.file_type == FileType::CharDevice && st.rdev_major == 0 && st.rdev_minor == 0
}

fn node_kind(header: &tar::Header, kind: EntryType) -> Result<NodeKind, Fail> {
    if kind == EntryType::Fifo {
        return Ok(NodeKind::Fifo);
    }
    let number = |n: io::Result<Option<u32>>| -> Result<u32, Fail> {
        n.map_err(io_err("read the device numbers"))?
            .ok_or_else(|| Refusal::NoDeviceNumbers.into())
    };
    let major = number(header.device_major())?;
    let minor = number(header.device_minor())?;
    Ok(if kind == EntryType::Char {
        NodeKind::CharDevice { major, minor }
    } else {
        NodeKind::BlockDevice { major, minor }
    })
}

/// Owner, then mode (chown clears setuid/setgid), then xattrs (chown clears
/// `security.capability`). Times are set separately.
fn set_meta(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    meta: &Meta,
    file_type: FileType,
) -> Result<(), Fail> {
    sys::lchown_at(dir, name, meta.uid, meta.gid).map_err(io_err(format!(
        "set the owner to {}:{}",
        meta.uid, meta.gid
    )))?;
    if file_type != FileType::Symlink {
        sys::lchmod_at(dir, name, meta.mode)
            .map_err(io_err(format!("set the mode to {:04o}", meta.mode)))?;
    }
    for (key, value) in &meta.xattrs {
        let key = OsStr::from_bytes(key);
        sys::lsetxattr_at(dir, name, key, value)
            .map_err(io_err(format!("set the xattr {:?}", key.to_string_lossy())))?;
    }
    Ok(())
}

/// atime = mtime: the tar's atime (if any) says when someone last read the
/// file on the build machine, which no one needs, and would make two
/// unpackings differ.
fn set_times(dir: BorrowedFd<'_>, name: &OsStr, mtime: Timestamp) -> Result<(), Fail> {
    sys::lset_times_at(dir, name, mtime, mtime).map_err(io_err("set the modification time"))
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, Fail> {
    let header = entry.header();
    let mode = header
        .mode()
        .map_err(io_err("read the mode from the header"))?
        & 0o7777;
    let id = |what: &'static str, value: io::Result<u64>| -> Result<u32, Fail> {
        let value = value.map_err(io_err(format!("read the {what} from the header")))?;
        // u32::MAX is -1, "leave unchanged", to chown.
        u32::try_from(value)
            .ok()
            .filter(|&v| v != u32::MAX)
            .ok_or_else(|| {
                Refusal::OutOfRange {
                    what,
                    value: value.to_string(),
                }
                .into()
            })
    };
    let uid = id("uid", header.uid())?;
    let gid = id("gid", header.gid())?;
    let secs = header
        .mtime()
        .map_err(io_err("read the mtime from the header"))?;
    let mut mtime = Timestamp {
        secs: i64::try_from(secs).map_err(|_| Refusal::OutOfRange {
            what: "mtime",
            value: secs.to_string(),
        })?,
        nanos: 0,
    };
    let mut xattrs = Vec::new();
    let pax = entry
        .pax_extensions()
        .map_err(io_err("read the PAX records"))?;
    for record in pax.into_iter().flatten() {
        let record = record.map_err(io_err("read the PAX records"))?;
        let (key, value) = (record.key_bytes(), record.value_bytes());
        let bad = || Refusal::BadPax {
            key: String::from_utf8_lossy(key).into_owned(),
            value: String::from_utf8_lossy(value).into_owned(),
        };
        if key == b"mtime" {
            mtime = parse_pax_time(value).ok_or_else(bad)?;
        } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
            if name.is_empty() || name.contains(&0) {
                return Err(bad().into());
            }
            if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
                return Err(
                    Refusal::ReservedXattr(String::from_utf8_lossy(name).into_owned()).into(),
                );
            }
            xattrs.push((name.to_vec(), value.to_vec()));
        } else if key.starts_with(b"GNU.sparse.") {
            return Err(Refusal::UnsupportedType("GNU sparse file (PAX)".to_owned()).into());
        }
    }
    Ok(Meta {
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    })
}

/// A PAX time: `[-]SECONDS[.FRACTION]`.
fn parse_pax_time(value: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nanos = 0u32;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
    }
    Some(match (negative, nanos) {
        (false, _) => Timestamp { secs, nanos },
        (true, 0) => Timestamp {
            secs: -secs,
            nanos: 0,
        },
        (true, _) => Timestamp {
            secs: -secs - 1,
            nanos: 1_000_000_000 - nanos,
        },
    })
}

#[cfg(test)]
mod tests {
    //! These run as root (devices, chown, trusted xattrs) and fail, never
    //! skip, without it.

    use super::*;
    use std::collections::BTreeSet;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn require_root() {
        assert_eq!(
            sys::effective_uid(),
            0,
            "the unpack tests must run as root (mknod, chown, trusted.* xattrs)"
        );
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("podrun-unpack-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// One tar member, written with raw name bytes (the tar crate's
    /// `set_path` refuses "..", which the malicious layers need).
    #[derive(Clone)]
    struct E {
        kind: EntryType,
        name: Vec<u8>,
        link: Vec<u8>,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        dev: (u32, u32),
        data: Vec<u8>,
        pax: Vec<(&'static str, Vec<u8>)>,
    }

    fn entry(kind: EntryType, name: impl AsRef<[u8]>, mode: u32) -> E {
        E {
            kind,
            name: name.as_ref().to_vec(),
            link: Vec::new(),
            mode,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            dev: (0, 0),
            data: Vec::new(),
            pax: Vec::new(),
        }
    }

    fn file(name: impl AsRef<[u8]>, mode: u32, data: &[u8]) -> E {
        E {
            data: data.to_vec(),
            ..entry(EntryType::Regular, name, mode)
        }
    }

    fn dir(name: impl AsRef<[u8]>, mode: u32) -> E {
        entry(EntryType::Directory, name, mode)
    }

    fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> E {
        E {
            link: target.as_ref().to_vec(),
            ..entry(EntryType::Symlink, name, 0o777)
        }
    }

    fn hard_link(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> E {
        E {
            link: target.as_ref().to_vec(),
            ..entry(EntryType::Link, name, 0o644)
        }
    }

    fn device(kind: EntryType, name: impl AsRef<[u8]>, mode: u32, major: u32, minor: u32) -> E {
        E {
            dev: (major, minor),
            ..entry(kind, name, mode)
        }
    }

    fn owned(e: E, uid: u64, gid: u64) -> E {
        E { uid, gid, ..e }
    }

    fn at(e: E, mtime: u64) -> E {
        E { mtime, ..e }
    }

    fn with_pax(mut e: E, key: &'static str, value: &[u8]) -> E {
        e.pax.push((key, value.to_vec()));
        e
    }

    fn tar(entries: &[E]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for e in entries {
            if !e.pax.is_empty() {
                builder
                    .append_pax_extensions(e.pax.iter().map(|(k, v)| (*k, v.as_slice())))
                    .unwrap();
            }
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(e.kind);
            header.set_mode(e.mode);
            header.set_uid(e.uid);
            header.set_gid(e.gid);
            header.set_mtime(e.mtime);
            header.set_size(e.data.len() as u64);
            header.set_device_major(e.dev.0).unwrap();
            header.set_device_minor(e.dev.1).unwrap();
            if e.kind == EntryType::GNUSparse {
                // A sparse file of no data blocks, for the tar crate to parse.
                header.as_gnu_mut().unwrap().realsize = *b"00000000000\0";
            }
            let old = header.as_old_mut();
            assert!(e.name.len() <= old.name.len() && e.link.len() <= old.linkname.len());
            old.name = [0; 100];
            old.name[..e.name.len()].copy_from_slice(&e.name);
            old.linkname = [0; 100];
            old.linkname[..e.link.len()].copy_from_slice(&e.link);
            header.set_cksum();
            builder.append(&header, e.data.as_slice()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn unpack(entries: &[E], dest: &Path) -> Result<UnpackStats, UnpackError> {
        unpack_layer(tar(entries).as_slice(), dest)
    }

    fn meta(path: &Path) -> fs::Metadata {
        fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn xattr(path: &Path, key: &str) -> Option<Vec<u8>> {
        sys::lgetxattr(path, OsStr::new(key)).ok()
    }

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn good_layer_keeps_every_kind_and_its_metadata() {
        require_root();
        let t = TempDir::new("good");
        let layer = [
            at(dir("./", 0o755), 1_500_000_000),
            at(dir("./etc/", 0o750), 1_111_111_111),
            with_pax(
                at(
                    owned(file("./etc/conf", 0o640, b"hello\n"), 1234, 5678),
                    1_234_567_890,
                ),
                "SCHILY.xattr.user.foo",
                b"bar",
            ),
            hard_link("./etc/conf-link", "./etc/conf"),
            file("usr/bin/su", 0o4755, b"#!su\n"),
            file("usr/bin/wall", 0o2755, b"#!wall\n"),
            dir("tmp/", 0o1777),
            owned(symlink("usr/bin/sh", "busybox"), 1234, 5678),
            symlink("abs", "/etc/passwd"),
            symlink("dotdot", "../../.."),
            hard_link("dotdot-link", "dotdot"),
            device(EntryType::Char, "dev/null", 0o666, 1, 3),
            device(EntryType::Block, "dev/loop0", 0o660, 7, 0),
            entry(EntryType::Fifo, "run/fifo", 0o620),
            with_pax(
                file("precise", 0o600, b""),
                "mtime",
                b"1700000000.123456789",
            ),
        ];
        let stats = unpack(&layer, &t.0).unwrap();
        assert_eq!(
            stats,
            UnpackStats {
                entries: 15,
                bytes: 6 + 5 + 7
            }
        );

        let root = &t.0;
        let m = meta(root);
        assert_eq!((m.mode() & 0o7777, m.mtime()), (0o755, 1_500_000_000));

        let etc = meta(&root.join("etc"));
        assert!(etc.is_dir());
        // The directory's time survives the entries written into it later.
        assert_eq!((etc.mode() & 0o7777, etc.mtime()), (0o750, 1_111_111_111));

        let conf = root.join("etc/conf");
        let m = meta(&conf);
        assert!(m.is_file());
        assert_eq!(fs::read(&conf).unwrap(), b"hello\n");
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o640, 1234, 5678));
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_234_567_890, 0));
        assert_eq!(m.atime(), 1_234_567_890);
        assert_eq!(xattr(&conf, "user.foo").as_deref(), Some(&b"bar"[..]));
        assert_eq!(m.nlink(), 2);
        assert_eq!(meta(&root.join("etc/conf-link")).ino(), m.ino());

        let su = meta(&root.join("usr/bin/su"));
        assert_eq!((su.mode() & 0o7777, su.uid(), su.gid()), (0o4755, 0, 0));
        assert_eq!(meta(&root.join("usr/bin/wall")).mode() & 0o7777, 0o2755);
        // Parents no entry describes: 0755, root.
        for parent in ["usr", "usr/bin", "dev", "run"] {
            let m = meta(&root.join(parent));
            assert!(m.is_dir(), "{parent}");
            assert_eq!(
                (m.mode() & 0o7777, m.uid(), m.gid()),
                (0o755, 0, 0),
                "{parent}"
            );
        }
        let tmp = meta(&root.join("tmp"));
        assert_eq!(tmp.mode() & 0o7777, 0o1777);

        let sh = root.join("usr/bin/sh");
        assert!(meta(&sh).file_type().is_symlink());
        assert_eq!(fs::read_link(&sh).unwrap(), Path::new("busybox"));
        assert_eq!((meta(&sh).uid(), meta(&sh).gid()), (1234, 5678));
        assert_eq!(meta(&sh).mtime(), 1_600_000_000);
        assert_eq!(
            fs::read_link(root.join("abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        // A hard link to a symlink links the symlink, not what it points to.
        let dotdot = meta(&root.join("dotdot"));
        let link = meta(&root.join("dotdot-link"));
        assert!(link.file_type().is_symlink());
        assert_eq!((link.ino(), dotdot.nlink()), (dotdot.ino(), 2));

        use std::os::unix::fs::FileTypeExt;
        let null = meta(&root.join("dev/null"));
        assert!(null.file_type().is_char_device());
        assert_eq!(
            (sys::dev_major(null.rdev()), sys::dev_minor(null.rdev())),
            (1, 3)
        );
        assert_eq!(null.mode() & 0o7777, 0o666);
        let loop0 = meta(&root.join("dev/loop0"));
        assert!(loop0.file_type().is_block_device());
        assert_eq!(
            (sys::dev_major(loop0.rdev()), sys::dev_minor(loop0.rdev())),
            (7, 0)
        );
        assert_eq!(loop0.mode() & 0o7777, 0o660);
        let fifo = meta(&root.join("run/fifo"));
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o7777, 0o620);

        let precise = meta(&root.join("precise"));
        assert_eq!(
            (precise.mtime(), precise.mtime_nsec()),
            (1_700_000_000, 123_456_789)
        );
    }

    #[test]
    fn whiteouts_become_overlayfs_whiteouts() {
        require_root();
        use std::os::unix::fs::FileTypeExt;
        let t = TempDir::new("whiteout");
        let layer = [
            dir("a/", 0o755),
            file("a/kept", 0o644, b"x"),
            file("a/.wh.gone", 0o644, b""),
            file(".wh.top", 0o644, b""),
            file("b/.wh..wh..opq", 0o644, b""),
            dir("c/", 0o700),
            file("c/.wh..wh..opq", 0o644, b""),
            file("c/new", 0o644, b"y"),
            // Removed from the lower layers, then made again by this one:
            // an opaque directory.
            file("d/.wh.sub", 0o644, b""),
            dir("d/sub/", 0o755),
        ];
        unpack(&layer, &t.0).unwrap();
        let root = &t.0;
        for whiteout in ["a/gone", "top"] {
            let m = meta(&root.join(whiteout));
            assert!(m.file_type().is_char_device(), "{whiteout}");
            assert_eq!(m.rdev(), 0, "{whiteout}");
        }
        assert_eq!(
            names(&root.join("a")),
            BTreeSet::from(["gone".into(), "kept".into()])
        );
        assert_eq!(
            names(root),
            ["a", "b", "c", "d", "top"].map(String::from).into()
        );
        for opaque in ["b", "c", "d/sub"] {
            assert_eq!(
                xattr(&root.join(opaque), OPAQUE_XATTR).as_deref(),
                Some(&b"y"[..]),
                "{opaque}"
            );
        }
        assert_eq!(xattr(&root.join("a"), OPAQUE_XATTR), None);
        assert_eq!(names(&root.join("c")), BTreeSet::from(["new".into()]));
        assert_eq!(meta(&root.join("c")).mode() & 0o7777, 0o700);
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        require_root();
        let t = TempDir::new("replace");
        let layer = [
            file("x", 0o644, b"first"),
            symlink("x", "elsewhere"),
            dir("d/", 0o700),
            file("d/inner/deep", 0o644, b"deep"),
            symlink("d/inner/link", "/"),
            at(dir("d/", 0o755), 1_000),
            dir("gone/sub/subsub/", 0o755),
            file("gone/sub/f", 0o644, b"f"),
            at(dir("gone/sub/subsub/", 0o755), 42),
            file("gone", 0o600, b"now a file"),
            file("y", 0o644, b"y"),
            dir("y/", 0o711),
        ];
        unpack(&layer, &t.0).unwrap();
        let root = &t.0;
        assert_eq!(
            fs::read_link(root.join("x")).unwrap(),
            Path::new("elsewhere")
        );
        let d = meta(&root.join("d"));
        assert_eq!((d.mode() & 0o7777, d.mtime()), (0o755, 1_000));
        assert_eq!(fs::read(root.join("d/inner/deep")).unwrap(), b"deep");
        assert_eq!(fs::read(root.join("gone")).unwrap(), b"now a file");
        assert_eq!(meta(&root.join("y")).mode() & 0o7777, 0o711);
        assert!(meta(&root.join("y")).is_dir());
    }

    #[test]
    fn dest_must_be_an_empty_directory() {
        require_root();
        let t = TempDir::new("dest");
        fs::write(t.0.join("old"), b"").unwrap();
        let err = unpack(&[file("a", 0o644, b"")], &t.0).unwrap_err();
        assert!(matches!(err, UnpackError::DestNotEmpty(_)), "{err}");
        let err = unpack(&[], &t.0.join("missing")).unwrap_err();
        assert!(matches!(err, UnpackError::OpenDest { .. }), "{err}");
    }

    /// Where each malicious layer is unpacked: `T/root`, next to the
    /// sentinel `T/outside/victim`. `T` itself sits in a fresh directory
    /// `J`, so that even `../..` from the root lands somewhere watched.
    struct Arena {
        jail: TempDir,
        t: PathBuf,
        before: String,
    }

    impl Arena {
        fn new() -> Arena {
            let jail = TempDir::new("evil");
            let t = jail.0.join("t");
            fs::create_dir(&t).unwrap();
            fs::create_dir(t.join("root")).unwrap();
            fs::create_dir(t.join("outside")).unwrap();
            fs::write(t.join("outside/victim"), b"victim\n").unwrap();
            let mut arena = Arena {
                jail,
                t,
                before: String::new(),
            };
            arena.before = arena.snapshot();
            assert!(arena
                .before
                .starts_with(r#"{"t"} {"outside", "root"} {"victim"}"#));
            arena
        }

        fn root(&self) -> PathBuf {
            self.t.join("root")
        }

        fn outside(&self) -> PathBuf {
            self.t.join("outside")
        }

        /// Everything outside `T/root` that an escape could change.
        fn snapshot(&self) -> String {
            let victim = self.t.join("outside/victim");
            let m = meta(&victim);
            let o = meta(&self.outside());
            let passwd = meta(Path::new("/etc/passwd"));
            format!(
                "{:?} {:?} {:?} victim {:?} {} {:o} {}:{} {} {} {:?} outside {:o} {} {} {:?} passwd {} {} {}",
                names(&self.jail.0),
                names(&self.t),
                names(&self.outside()),
                fs::read(&victim).unwrap(),
                m.nlink(),
                m.mode(),
                m.uid(),
                m.gid(),
                m.mtime(),
                m.mtime_nsec(),
                xattr(&victim, "user.foo"),
                o.mode(),
                o.mtime(),
                o.mtime_nsec(),
                xattr(&self.outside(), OPAQUE_XATTR),
                passwd.nlink(),
                passwd.mtime(),
                passwd.mode(),
            )
        }
    }

    #[test]
    fn malicious_layers_are_refused_and_touch_nothing_outside() {
        require_root();
        type Layer = fn(&Path) -> Vec<E>;
        let cases: &[(&str, Layer, &str, &str)] = &[
            (
                "dot-dot",
                |_| vec![file("../evil", 0o644, b"x")],
                "../evil",
                "path escapes the layer root",
            ),
            (
                "dot-dot inside",
                |_| vec![file("a/../../evil", 0o644, b"x")],
                "a/../../evil",
                "path escapes the layer root",
            ),
            (
                "dot-slash dot-dot",
                |_| vec![file("./../outside/victim", 0o644, b"x")],
                "./../outside/victim",
                "path escapes the layer root",
            ),
            (
                "absolute",
                |_| vec![file("/abs/evil", 0o644, b"x")],
                "/abs/evil",
                "escapes the layer root (absolute)",
            ),
            (
                "write through a relative symlink",
                |_| vec![symlink("link", "../.."), file("link/evil", 0o644, b"x")],
                "link/evil",
                "a parent is a symlink (\"link\")",
            ),
            (
                "write through a dangling symlink",
                |_| {
                    vec![
                        symlink("link", "../outside/new"),
                        file("link/evil", 0o644, b"x"),
                    ]
                },
                "link/evil",
                "a parent is a symlink (\"link\")",
            ),
            (
                "write through a symlink to the parent",
                |_| vec![symlink("up", ".."), file("up/outside/evil", 0o644, b"x")],
                "up/outside/evil",
                "a parent is a symlink (\"up\")",
            ),
            (
                "write through a symlink to the root of the host",
                |_| vec![symlink("slash", "/"), file("slash/tmp/evil", 0o644, b"x")],
                "slash/tmp/evil",
                "a parent is a symlink (\"slash\")",
            ),
            (
                "write through an absolute symlink",
                |o| {
                    vec![
                        symlink("link", o.as_os_str().as_bytes()),
                        file("link/evil", 0o644, b"x"),
                    ]
                },
                "link/evil",
                "a parent is a symlink (\"link\")",
            ),
            (
                "overwrite through a symlink",
                |o| {
                    vec![
                        symlink("link", o.as_os_str().as_bytes()),
                        file("link/victim", 0o600, b"pwned"),
                    ]
                },
                "link/victim",
                "a parent is a symlink",
            ),
            (
                "directory through a symlink",
                |_| vec![symlink("link", "../outside"), dir("link/sub/", 0o755)],
                "link/sub/",
                "a parent is a symlink",
            ),
            (
                "symlink deeper in the path",
                |_| {
                    vec![
                        dir("a/", 0o755),
                        symlink("a/b", "../../outside"),
                        dir("a/b/c/", 0o755),
                        file("a/b/c/d", 0o644, b""),
                    ]
                },
                "a/b/c/",
                "a parent is a symlink (\"a/b\")",
            ),
            (
                "whiteout through a symlink",
                |_| {
                    vec![
                        symlink("link", "../outside"),
                        file("link/.wh.victim", 0o644, b""),
                    ]
                },
                "link/.wh.victim",
                "a parent is a symlink",
            ),
            (
                "opaque through a symlink",
                |_| {
                    vec![
                        symlink("link", "../outside"),
                        file("link/.wh..wh..opq", 0o644, b""),
                    ]
                },
                "link/.wh..wh..opq",
                "a parent is a symlink",
            ),
            (
                "hard link out of the layer",
                |_| vec![hard_link("h", "../outside/victim")],
                "h",
                "hard link target \"../outside/victim\" escapes the layer root",
            ),
            (
                "hard link to an absolute path",
                |_| vec![hard_link("h", "/etc/passwd")],
                "h",
                "hard link target \"/etc/passwd\" escapes the layer root (absolute)",
            ),
            (
                "hard link through a symlinked parent",
                |_| vec![symlink("s", "../outside"), hard_link("h", "s/victim")],
                "h",
                "hard link target \"s/victim\" has a parent that is a symlink (\"s\")",
            ),
            (
                "hard link through an absolute symlinked parent",
                |o| {
                    vec![
                        symlink("s", o.as_os_str().as_bytes()),
                        hard_link("h", "s/victim"),
                    ]
                },
                "h",
                "has a parent that is a symlink",
            ),
            (
                "hard link to a missing file",
                |_| vec![hard_link("h", "victim")],
                "h",
                "hard link target \"victim\" does not exist",
            ),
            (
                "hard link to a directory",
                |_| vec![dir("d/", 0o755), hard_link("h", "d")],
                "h",
                "hard link target \"d\" is a directory",
            ),
            (
                "whiteout of dot-dot",
                |_| vec![file(".wh...", 0o644, b"")],
                ".wh...",
                "whiteout of \"..\"",
            ),
            (
                "whiteout of dot",
                |_| vec![file("a/.wh..", 0o644, b"")],
                "a/.wh..",
                "whiteout of \".\"",
            ),
            (
                "whiteout of nothing",
                |_| vec![file(".wh.", 0o644, b"")],
                ".wh.",
                "whiteout of \"\"",
            ),
            (
                "whiteout outside",
                |_| vec![file("../.wh.x", 0o644, b"")],
                "../.wh.x",
                "path escapes the layer root",
            ),
            (
                "NUL in a name",
                |_| {
                    vec![with_pax(
                        file("placeholder", 0o644, b"x"),
                        "path",
                        b"evil\0/../x",
                    )]
                },
                "evil\0/../x",
                "path holds a NUL byte",
            ),
            (
                "directory named dot-dot",
                |_| vec![dir("..", 0o755)],
                "..",
                "path escapes the layer root",
            ),
            (
                "directory named dot-dot/",
                |_| vec![dir("../", 0o755)],
                "../",
                "path escapes the layer root",
            ),
            (
                "empty name",
                |_| vec![file("", 0o644, b"x")],
                "",
                "path is empty",
            ),
            (
                "reserved overlay xattr",
                |_| {
                    vec![with_pax(
                        dir("d/", 0o755),
                        "SCHILY.xattr.trusted.overlay.redirect",
                        b"/x",
                    )]
                },
                "d/",
                "xattr \"trusted.overlay.redirect\" is reserved for overlayfs",
            ),
        ];
        assert!(cases.len() >= 10);
        for (what, layer, entry, why) in cases {
            let arena = Arena::new();
            let result = unpack(&layer(&arena.outside()), &arena.root());
            // Escapes first: they matter more than the message.
            assert_eq!(
                arena.snapshot(),
                arena.before,
                "{what}: something outside the layer changed ({result:?})"
            );
            let err = match result {
                Ok(stats) => panic!("{what}: unpacked ({stats:?}) instead of refused"),
                Err(err) => err.to_string(),
            };
            let prefix = format!("layer entry {entry:?}: ");
            assert!(
                err.starts_with(&prefix),
                "{what}: {err:?} does not start with {prefix:?}"
            );
            assert!(err.contains(why), "{what}: {err:?} does not say {why:?}");
        }
    }

    #[test]
    fn error_messages_name_the_entry_and_the_step() {
        require_root();
        let t = TempDir::new("messages");
        let err = unpack(&[file("../etc/passwd", 0o644, b"")], &t.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer entry \"../etc/passwd\": path escapes the layer root (\"..\" component)"
        );
        let t = TempDir::new("messages");
        let err = unpack(&[file("f", 0o644, b""), file("f/g", 0o644, b"")], &t.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer entry \"f/g\": a parent is not a directory (\"f\")"
        );
        let t = TempDir::new("messages");
        let err = unpack(
            &[owned(file("f", 0o644, b""), u64::from(u32::MAX), 0)],
            &t.0,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer entry \"f\": uid 4294967295 is out of range"
        );
    }

    #[test]
    fn strictness_beyond_the_attacks() {
        require_root();
        let cases: &[(&str, Vec<E>, &str)] = &[
            (
                "a//b",
                vec![file("a//b", 0o644, b"")],
                "has an empty component",
            ),
            (
                "a/./b",
                vec![file("a/./b", 0o644, b"")],
                "has a \".\" component",
            ),
            (
                ".wh.x/y",
                vec![file(".wh.x/y", 0o644, b"")],
                "a parent is a whiteout name (\".wh.x\")",
            ),
            (
                "a/.wh..wh.plnk",
                vec![file("a/.wh..wh.plnk", 0o644, b"")],
                "unsupported AUFS metadata",
            ),
            (
                ".wh.f",
                vec![file("f", 0o644, b""), file(".wh.f", 0o644, b"")],
                "whiteout of a path this layer itself creates",
            ),
            (
                "./",
                vec![file("./", 0o644, b"")],
                "the layer root can only be a directory",
            ),
            (
                "h",
                vec![file("h", 0o644, b""), hard_link("h", "./h")],
                "is the entry itself",
            ),
            (
                "s",
                vec![symlink("s", "")],
                "link entry without a link target",
            ),
            (
                "s",
                vec![with_pax(symlink("s", "x"), "linkpath", b"a\0b")],
                "symlink target \"a\\0b\" is empty or holds a NUL byte",
            ),
            (
                "sparse",
                vec![entry(EntryType::GNUSparse, "sparse", 0o644)],
                "unsupported entry type GNUSparse ('S')",
            ),
            (
                "cont",
                vec![entry(EntryType::Continuous, "cont", 0o644)],
                "unsupported entry type Continuous ('7')",
            ),
            (
                "odd",
                vec![entry(EntryType::new(b'Z'), "odd", 0o644)],
                "unsupported entry type",
            ),
            (
                "p",
                vec![with_pax(file("p", 0o644, b""), "GNU.sparse.major", b"1")],
                "unsupported entry type GNU sparse file (PAX)",
            ),
            (
                "t",
                vec![with_pax(file("t", 0o644, b""), "mtime", b"12x")],
                "PAX record \"mtime\" has an invalid value \"12x\"",
            ),
        ];
        for (entry, layer, why) in cases {
            let t = TempDir::new("strict");
            let err = unpack(layer, &t.0).unwrap_err().to_string();
            let prefix = format!("layer entry {entry:?}: ");
            assert!(
                err.starts_with(&prefix) && err.contains(why),
                "{err:?} is not {prefix:?}...{why:?}"
            );
        }
    }

    #[test]
    fn a_truncated_layer_is_an_error() {
        require_root();
        let t = TempDir::new("truncated");
        let bytes = tar(&[file("big", 0o644, &[7u8; 2000])]);
        let err = unpack_layer(&bytes[..512 + 1000], &t.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer entry \"big\": cannot read the file content from the layer: \
             the layer ends after 1000 of its 2000 bytes"
        );
    }

    #[test]
    fn pax_times() {
        let t = |secs, nanos| Some(Timestamp { secs, nanos });
        assert_eq!(parse_pax_time(b"1700000000"), t(1_700_000_000, 0));
        assert_eq!(parse_pax_time(b"1.5"), t(1, 500_000_000));
        assert_eq!(parse_pax_time(b"1.1234567891"), t(1, 123_456_789));
        assert_eq!(parse_pax_time(b"-1.25"), t(-2, 750_000_000));
        assert_eq!(parse_pax_time(b"-3"), t(-3, 0));
        for bad in [&b""[..], b".5", b"+1", b"1.-2", b"1e3", b"--1"] {
            assert_eq!(
                parse_pax_time(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn decompress_detects_gzip_and_passes_tar_through() {
        let layer = tar(&[file("a", 0o644, b"content")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&layer).unwrap();
        let gz = gz.finish().unwrap();
        for input in [&gz, &layer] {
            let mut out = Vec::new();
            decompress(input.as_slice())
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, layer);
        }
        let mut out = Vec::new();
        decompress(&b"ab"[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"ab");
        let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
        let err = decompress(&zstd[..]).err().expect("zstd is refused");
        assert!(matches!(err, UnpackError::UnsupportedCompression("zstd")));
        assert!(
            err.to_string().contains("zstd: unsupported compression"),
            "{err}"
        );
    }
}
