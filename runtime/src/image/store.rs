//! The image store: a content-addressed directory that is also a valid OCI
//! image layout (so `skopeo inspect oci:ROOT:REF` reads it), plus unpacked
//! layers ready to serve as overlayfs lower directories.
//!
//! ```text
//! ROOT/oci-layout, ROOT/index.json   one manifest descriptor per tagged image,
//!                                    named by its full reference
//! ROOT/blobs/sha256/<hex>            manifests, configs, layers (verified)
//! ROOT/layers/<diff-id hex>/         each layer unpacked on its own (overlay
//!                                    whiteouts kept), keyed by its diff id
//! ROOT/tmp/                          staging; renamed into place when complete
//! ROOT/lock                          writers hold an exclusive flock
//! ```
//!
//! Nothing is half-visible: blobs and layers are written under `tmp/` and
//! renamed into place only once verified, and `index.json` is replaced
//! atomically. Writers (load, pull, rmi) hold the lock for their whole
//! operation, so concurrent ones serialize; readers need no lock. What a
//! killed writer left in `tmp/` is removed by the next writer.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType,
};
use sha2::{Digest as _, Sha256};

use super::layout::{canonical_json, sha256};
use super::reference::Reference;
use super::unpack;

pub const DEFAULT_ROOT: &str = "/var/lib/podrun";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("image store {path}: {step}: {source}")]
    Io {
        path: PathBuf,
        step: &'static str,
        source: io::Error,
    },
    #[error("image store {root}: cannot take the writers' lock: {source}")]
    Lock { root: PathBuf, source: io::Error },
    #[error("blob {digest}: content does not match its digest (got {got}); refused")]
    DigestMismatch { digest: String, got: String },
    #[error("blob {digest}: size is {got} bytes, the descriptor says {want}; refused")]
    SizeMismatch { digest: String, got: u64, want: u64 },
    #[error("blob {0} is not in the store")]
    MissingBlob(String),
    #[error("{what} {digest}: not valid JSON for it: {source}")]
    BadDocument {
        what: &'static str,
        digest: String,
        source: serde_json::Error,
    },
    #[error("image {0}: not in the store")]
    NoSuchImage(String),
    #[error("image {image}: layer {index} has diff id {got}, the config says {want}; refused")]
    DiffIdMismatch {
        image: String,
        index: usize,
        got: String,
        want: String,
    },
    #[error(
        "image {image}: the manifest has {layers} layers but the config lists {diff_ids} diff ids"
    )]
    LayerCount {
        image: String,
        layers: usize,
        diff_ids: usize,
    },
    #[error("image {image}: layer {index}: diff id {diff_id:?} is not a sha256 digest; refused")]
    BadDiffId {
        image: String,
        index: usize,
        diff_id: String,
    },
    #[error("image {image}: layer {digest}: {source}")]
    Unpack {
        image: String,
        digest: String,
        source: Box<unpack::UnpackError>,
    },
    #[error(transparent)]
    Json(#[from] super::layout::LayoutError),
}

type Result<T> = std::result::Result<T, StoreError>;

fn io_err(path: &Path, step: &'static str) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { path, step, source }
}

/// An image the store knows by name.
#[derive(Debug, Clone)]
pub struct Image {
    pub reference: String,
    pub manifest: Descriptor,
}

pub struct Store {
    root: PathBuf,
}

/// Held while writing; dropping it releases the lock.
pub struct WriteLock {
    _lock: crate::sys::FileLock,
}

impl Store {
    /// Opens the store at `root`, creating its directories if needed (the
    /// `oci-layout` marker comes with the first writer).
    pub fn open(root: &Path) -> Result<Store> {
        for d in ["blobs/sha256", "layers", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err(&p, "create directory"))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the writers' lock and clears what dead writers left in tmp/.
    pub fn lock(&self) -> Result<WriteLock> {
        self.lock_or_wait(|| {})
    }

    /// As `lock`; `on_wait` runs first if another writer holds the lock
    /// (so a command can say why it sits still).
    pub fn lock_or_wait(&self, on_wait: impl FnOnce()) -> Result<WriteLock> {
        let path = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path, "open lock file"))?;
        let lock_err = |source| StoreError::Lock {
            root: self.root.clone(),
            source,
        };
        let lock = match crate::sys::try_lock_exclusive(file).map_err(lock_err)? {
            Ok(lock) => lock,
            Err(file) => {
                on_wait();
                crate::sys::lock_exclusive(file).map_err(lock_err)?
            }
        };
        // We hold the lock: anything in tmp/ belongs to a writer that died.
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp)
            .map_err(io_err(&tmp, "list tmp"))?
            .flatten()
        {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
        // Written by writers only: a reader opening the store must not
        // stage files a writer may be clearing.
        let marker = self.root.join("oci-layout");
        if !marker.exists() {
            write_atomic(&tmp, &marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        Ok(WriteLock { _lock: lock })
    }

    /// A fresh private directory under tmp/ (same file system, so renames
    /// out of it are atomic). Removed on drop unless emptied by renames.
    pub fn staging(&self, _lock: &WriteLock, tag: &str) -> Result<Staging> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = self
            .root
            .join(format!("tmp/{tag}-{}-{n}", std::process::id()));
        fs::create_dir_all(&dir).map_err(io_err(&dir, "create staging directory"))?;
        Ok(Staging { dir })
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs/sha256").join(hex)
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Streams `reader` into a staged file, checking it against `digest`
    /// and `size` (when known) as it goes: a blob that does not match is
    /// refused and never enters the store. Returns the staged file; call
    /// `commit_blob` to move it in.
    pub fn stage_blob(
        &self,
        staging: &Staging,
        mut reader: impl Read,
        digest: &str,
        size: Option<u64>,
    ) -> Result<PathBuf> {
        let path = staging.dir.join(format!(
            "blob-{}",
            digest.strip_prefix("sha256:").unwrap_or(digest)
        ));
        let mut out = fs::File::create(&path).map_err(io_err(&path, "create staged blob"))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total: u64 = 0;
        loop {
            let n = reader.read(&mut buf).map_err(io_err(&path, "read blob"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            // Stop early on an over-long stream rather than fill the disk.
            if let Some(want) = size.filter(|&w| total > w) {
                return Err(StoreError::SizeMismatch {
                    digest: digest.to_owned(),
                    got: total,
                    want,
                });
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(io_err(&path, "write staged blob"))?;
        }
        if let Some(want) = size.filter(|&w| total != w) {
            return Err(StoreError::SizeMismatch {
                digest: digest.to_owned(),
                got: total,
                want,
            });
        }
        let got = format!("sha256:{}", hex(&hasher.finalize()));
        if got != digest {
            return Err(StoreError::DigestMismatch {
                digest: digest.to_owned(),
                got,
            });
        }
        out.sync_all().map_err(io_err(&path, "sync staged blob"))?;
        Ok(path)
    }

    /// Moves a verified staged blob into blobs/ (a no-op if present).
    pub fn commit_blob(&self, staged: &Path, digest: &str) -> Result<()> {
        let dest = self.blob_path(digest);
        if dest.exists() {
            let _ = fs::remove_file(staged);
            return Ok(());
        }
        fs::rename(staged, &dest).map_err(io_err(&dest, "move blob into the store"))
    }

    /// A blob's bytes, verified against its digest (a tampered store file
    /// is refused).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::MissingBlob(digest.to_owned()))
            }
            Err(e) => return Err(io_err(&path, "read blob")(e)),
        };
        let got = sha256(&bytes).to_string();
        if got != digest {
            return Err(StoreError::DigestMismatch {
                digest: digest.to_owned(),
                got,
            });
        }
        Ok(bytes)
    }

    pub fn read_manifest(&self, digest: &str) -> Result<ImageManifest> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::BadDocument {
            what: "manifest",
            digest: digest.to_owned(),
            source,
        })
    }

    pub fn read_config(&self, digest: &str) -> Result<ImageConfiguration> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::BadDocument {
            what: "config",
            digest: digest.to_owned(),
            source,
        })
    }

    fn read_index(&self) -> Result<Vec<Descriptor>> {
        let path = self.root.join("index.json");
        match fs::read(&path) {
            Ok(bytes) => {
                let index: ImageIndex =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::BadDocument {
                        what: "index",
                        digest: path.display().to_string(),
                        source,
                    })?;
                Ok(index.manifests().clone())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_err(&path, "read index.json")(e)),
        }
    }

    fn write_index(&self, manifests: Vec<Descriptor>) -> Result<()> {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(manifests)
            .build()
            .expect("an index with schema version and manifests is complete");
        let bytes = canonical_json("index.json", &index)?;
        write_atomic(
            &self.root.join("tmp"),
            &self.root.join("index.json"),
            &bytes,
        )
    }

    /// Every named image, sorted by reference.
    pub fn images(&self) -> Result<Vec<Image>> {
        let mut out: Vec<Image> = self
            .read_index()?
            .into_iter()
            .filter_map(|d| {
                let name = d.annotations().as_ref()?.get(REF_NAME)?.clone();
                Some(Image {
                    reference: name,
                    manifest: d,
                })
            })
            .collect();
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    /// The image a user's reference names: by its normalized name and tag,
    /// or by digest.
    pub fn find(&self, reference: &Reference) -> Result<Image> {
        let images = self.images()?;
        let wanted = reference.to_string();
        images
            .into_iter()
            .find(|i| {
                i.reference == wanted
                    || (reference.digest.as_deref() == Some(i.manifest.digest().as_ref())
                        && Reference::parse(&i.reference)
                            .is_ok_and(|r| r.name() == reference.name()))
            })
            .ok_or(StoreError::NoSuchImage(wanted))
    }

    /// Names `manifest` `reference` (replacing what the name meant before).
    pub fn tag(
        &self,
        _lock: &WriteLock,
        reference: &Reference,
        manifest: &Descriptor,
    ) -> Result<()> {
        let name = reference.to_string();
        let mut manifests = self.read_index()?;
        manifests.retain(|d| d.annotations().as_ref().and_then(|a| a.get(REF_NAME)) != Some(&name));
        let mut d = manifest.clone();
        let mut ann = d.annotations().clone().unwrap_or_default();
        ann.insert(REF_NAME.to_owned(), name);
        d.set_annotations(Some(ann));
        manifests.push(d);
        self.write_index(manifests)
    }

    /// Removes the name; then deletes every blob and unpacked layer no
    /// remaining image uses.
    pub fn remove(&self, lock: &WriteLock, reference: &Reference) -> Result<Image> {
        let image = self.find(reference)?;
        let mut manifests = self.read_index()?;
        manifests.retain(|d| {
            d.annotations().as_ref().and_then(|a| a.get(REF_NAME)) != Some(&image.reference)
        });
        self.write_index(manifests)?;
        self.collect_garbage(lock)?;
        Ok(image)
    }

    /// Deletes blobs and layer directories that no named image references.
    pub fn collect_garbage(&self, _lock: &WriteLock) -> Result<()> {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for image in self.images()? {
            let md = image.manifest.digest().to_string();
            blobs.insert(md.clone());
            // An image whose documents are damaged keeps what it names
            // directly; it does not stop the others from being collected.
            let Ok(manifest) = self.read_manifest(&md) else {
                continue;
            };
            blobs.insert(manifest.config().digest().to_string());
            for l in manifest.layers() {
                blobs.insert(l.digest().to_string());
            }
            if let Ok(config) = self.read_config(manifest.config().digest().as_ref()) {
                for d in config.rootfs().diff_ids() {
                    if let Some(hex) = sha256_hex(d) {
                        layers.insert(hex.to_owned());
                    }
                }
            }
        }
        let dir = self.root.join("blobs/sha256");
        for e in fs::read_dir(&dir)
            .map_err(io_err(&dir, "list blobs"))?
            .flatten()
        {
            let name = format!("sha256:{}", e.file_name().to_string_lossy());
            if !blobs.contains(&name) {
                fs::remove_file(e.path()).map_err(io_err(&e.path(), "remove unused blob"))?;
            }
        }
        let dir = self.root.join("layers");
        for e in fs::read_dir(&dir)
            .map_err(io_err(&dir, "list layers"))?
            .flatten()
        {
            if !layers.contains(e.file_name().to_string_lossy().as_ref()) {
                fs::remove_dir_all(e.path()).map_err(io_err(&e.path(), "remove unused layer"))?;
            }
        }
        Ok(())
    }

    /// Unpacks every layer of `image` that is not unpacked yet, checking
    /// each against its diff id; returns the layer directories, bottom
    /// first.
    pub fn unpack_layers(
        &self,
        lock: &WriteLock,
        image: &str,
        manifest_digest: &str,
    ) -> Result<Vec<PathBuf>> {
        let manifest = self.read_manifest(manifest_digest)?;
        let config = self.read_config(manifest.config().digest().as_ref())?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(StoreError::LayerCount {
                image: image.to_owned(),
                layers: manifest.layers().len(),
                diff_ids: diff_ids.len(),
            });
        }
        let mut dirs = Vec::new();
        for (i, (layer, diff_id)) in manifest.layers().iter().zip(diff_ids).enumerate() {
            // The config is untrusted input: a diff id names a directory, so
            // it must be a digest and nothing else (not "sha256:../../etc").
            let hex = sha256_hex(diff_id).ok_or_else(|| StoreError::BadDiffId {
                image: image.to_owned(),
                index: i,
                diff_id: diff_id.clone(),
            })?;
            let dest = self.root.join("layers").join(hex);
            if !dest.is_dir() {
                self.unpack_one(lock, image, i, layer.digest().as_ref(), diff_id, &dest)?;
            }
            dirs.push(dest);
        }
        Ok(dirs)
    }

    fn unpack_one(
        &self,
        lock: &WriteLock,
        image: &str,
        index: usize,
        digest: &str,
        diff_id: &str,
        dest: &Path,
    ) -> Result<()> {
        let unpack_err = |source| StoreError::Unpack {
            image: image.to_owned(),
            digest: digest.to_owned(),
            source: Box::new(source),
        };
        let path = self.blob_path(digest);
        let file = fs::File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob(digest.to_owned()),
            _ => io_err(&path, "open layer")(e),
        })?;
        // Check the compressed bytes against the blob digest and the
        // uncompressed ones against the diff id while unpacking.
        let compressed = HashingReader::new(file);
        let staging = self.staging(lock, "layer")?;
        let target = staging.dir.join("root");
        fs::create_dir(&target).map_err(io_err(&target, "create layer directory"))?;
        let mut compressed = compressed;
        let got_diff = {
            let plain = unpack::decompress(&mut compressed).map_err(unpack_err)?;
            let mut plain = HashingReader::new(plain);
            unpack::unpack_layer(&mut plain, &target).map_err(unpack_err)?;
            // Trailing bytes after the tar end marker still count.
            io::copy(&mut plain, &mut io::sink()).map_err(io_err(&path, "read layer"))?;
            plain.digest()
        };
        io::copy(&mut compressed, &mut io::sink()).map_err(io_err(&path, "read layer"))?;
        let got_blob = compressed.digest();
        if got_blob != digest {
            return Err(StoreError::DigestMismatch {
                digest: digest.to_owned(),
                got: got_blob,
            });
        }
        if got_diff != diff_id {
            return Err(StoreError::DiffIdMismatch {
                image: image.to_owned(),
                index,
                got: got_diff,
                want: diff_id.to_owned(),
            });
        }
        fs::rename(&target, dest).map_err(io_err(dest, "move layer into the store"))
    }
}

/// A directory under tmp/, removed with whatever is left in it on drop.
pub struct Staging {
    pub dir: PathBuf,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Counts and hashes what passes through.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    pub bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex(&self.hasher.clone().finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The hex of a `sha256:<64 lowercase hex>` digest; None for anything else.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` through a temporary file in `tmp_dir` and a
/// rename: readers see the old file or the new one, never a part.
fn write_atomic(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tmp_dir.join(format!("{name}.{}", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(io_err(&tmp, "create temporary file"))?;
    f.write_all(bytes)
        .map_err(io_err(&tmp, "write temporary file"))?;
    f.sync_all().map_err(io_err(&tmp, "sync temporary file"))?;
    fs::rename(&tmp, path).map_err(io_err(path, "replace"))
}
