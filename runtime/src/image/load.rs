//! `podrun load`: images from an oci-archive, an OCI layout directory or a
//! docker-archive (`docker save` / `podman save`), into the store.
//!
//! Archives are read in one pass: every file is streamed into the store's
//! staging area and hashed on the way (blobs are checked against the digest
//! in their name). Only then are the documents parsed, the image for this
//! platform chosen, and its blobs moved into the store, so a refused archive
//! leaves nothing behind.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use serde::Deserialize;

use super::layout::canonical_json;
use super::reference::Reference;
use super::store::{Staging, Store, StoreError, WriteLock, REF_NAME};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("load {path}: cannot read it: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("load {path}: not an oci-archive, OCI layout or docker-archive (no oci-layout, index.json or manifest.json)")]
    UnknownFormat { path: PathBuf },
    #[error("load {path}: {what} is not valid JSON: {source}")]
    BadJson {
        path: PathBuf,
        what: String,
        source: serde_json::Error,
    },
    #[error("load {path}: {what} refers to {digest}, which the archive does not hold")]
    MissingBlob {
        path: PathBuf,
        what: String,
        digest: String,
    },
    #[error("load {path}: no image for {platform} in {what} (it has: {available})")]
    NoPlatform {
        path: PathBuf,
        what: String,
        platform: String,
        available: String,
    },
    #[error("load {path}: {what}: {why}")]
    Invalid {
        path: PathBuf,
        what: String,
        why: String,
    },
    #[error("load {path}: {source}")]
    Store { path: PathBuf, source: StoreError },
}

type Result<T> = std::result::Result<T, LoadError>;

/// JSON documents (index.json, manifests, configs) are read whole; no real
/// one comes near this.
const MAX_DOCUMENT: u64 = 4 << 20;

/// The platform images are chosen for (default: this machine's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(Into::into),
        }
    }

    /// `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?;
        let arch = parts.next().filter(|p| !p.is_empty())?;
        let variant = parts.next().map(str::to_owned);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            os: os.into(),
            architecture: arch.into(),
            variant,
        })
    }

    /// Whether an index entry serves this platform.
    pub fn matches(&self, d: &Descriptor) -> bool {
        let Some(p) = d.platform() else { return false };
        p.os().to_string() == self.os
            && p.architecture().to_string() == self.architecture
            && match (&self.variant, p.variant()) {
                (Some(want), Some(have)) => want == have,
                // An index entry without a variant serves any variant.
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A file of the input, staged and hashed.
struct Staged {
    path: PathBuf,
    digest: String,
    size: u64,
}

/// Where the input's files are: name inside the archive/layout -> staged.
struct Input<'a> {
    origin: &'a Path,
    files: HashMap<String, Staged>,
    staging: Staging,
    store: &'a Store,
    /// For an OCI layout directory, blobs are staged on demand from here.
    layout_dir: Option<PathBuf>,
    /// Names staged files; not `files.len()`, which a repeated archive
    /// entry (the later one wins, as with `tar -r`) does not grow.
    next: usize,
}

/// Loads every image `path` holds; returns the names given to them.
pub fn load(
    store: &Store,
    lock: &WriteLock,
    path: &Path,
    platform: &Platform,
) -> Result<Vec<String>> {
    let store_err = |source| LoadError::Store {
        path: path.to_path_buf(),
        source,
    };
    let staging = store.staging(lock, "load").map_err(store_err)?;
    let mut input = Input {
        origin: path,
        files: HashMap::new(),
        staging,
        store,
        layout_dir: None,
        next: 0,
    };
    if path.is_dir() {
        input.layout_dir = Some(path.to_path_buf());
        for name in ["oci-layout", "index.json"] {
            let p = path.join(name);
            if p.is_file() {
                let f = fs::File::open(&p).map_err(|source| LoadError::Read {
                    path: p.clone(),
                    source,
                })?;
                input.stage(name, f, None)?;
            }
        }
    } else {
        let f = fs::File::open(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = io::BufReader::new(f);
        // `podman save | gzip` and `docker save | gzip` are common: accept
        // gzip; anything that is then not a tar is not an archive of ours.
        let head = io::BufRead::fill_buf(&mut reader).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let stream: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(reader))
        } else {
            Box::new(reader)
        };
        let mut stream = io::BufReader::with_capacity(64 * 1024, stream);
        let head = io::BufRead::fill_buf(&mut stream).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if head.len() < 512 || &head[257..262] != b"ustar" {
            return Err(LoadError::UnknownFormat {
                path: path.to_path_buf(),
            });
        }
        let mut archive = tar::Archive::new(stream);
        let entries = archive.entries().map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| LoadError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = entry
                .path()
                .map_err(|source| LoadError::Read {
                    path: path.to_path_buf(),
                    source,
                })?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_owned();
            // Blobs are checked against the digest their name claims; a
            // name that is not a digest is refused, never used as a path.
            let expected = match name.strip_prefix("blobs/sha256/") {
                Some(hex) => {
                    let digest = format!("sha256:{hex}");
                    if super::store::sha256_hex(&digest).is_none() {
                        return Err(LoadError::Invalid {
                            path: path.to_path_buf(),
                            what: format!("archive entry {name:?}"),
                            why: "a blob's name must be its sha256 digest".into(),
                        });
                    }
                    Some(digest)
                }
                None => None,
            };
            let size = entry.header().size().ok();
            input.stage(&name, entry, expected.map(|d| (d, size)))?;
        }
    }

    let result = if input.files.contains_key("index.json") {
        load_oci(&mut input, lock, platform)
    } else if input.files.contains_key("manifest.json") {
        load_docker(&mut input, lock)
    } else {
        Err(LoadError::UnknownFormat {
            path: path.to_path_buf(),
        })
    };
    // On failure, blobs already moved in for an image that then failed
    // (say, a layer that does not unpack) are named by no image; on
    // success, a name given to a new image may have left the old one
    // unnamed. Either way, drop what no image uses.
    let gc = store.collect_garbage(lock);
    let names = result?;
    gc.map_err(|source| LoadError::Store {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(names)
}

impl Input<'_> {
    fn err_store(&self) -> impl Fn(StoreError) -> LoadError + '_ {
        move |source| LoadError::Store {
            path: self.origin.to_path_buf(),
            source,
        }
    }

    fn stage(
        &mut self,
        name: &str,
        reader: impl Read,
        expected: Option<(String, Option<u64>)>,
    ) -> Result<()> {
        let origin = self.origin.to_path_buf();
        let store_err = |source| LoadError::Store {
            path: origin.clone(),
            source,
        };
        let n = self.next;
        self.next += 1;
        let path = self.staging.dir.join(format!("file-{n}"));
        let mut hashing = super::store::HashingReader::new(reader);
        let (staged, digest, size) = match expected {
            Some((digest, size)) => {
                let staged = self
                    .store
                    .stage_blob(&self.staging, &mut hashing, &digest, size)
                    .map_err(store_err)?;
                let size = hashing.bytes;
                (staged, digest, size)
            }
            None => {
                let mut out = fs::File::create(&path).map_err(|source| LoadError::Read {
                    path: path.clone(),
                    source,
                })?;
                io::copy(&mut hashing, &mut out).map_err(|source| LoadError::Read {
                    path: origin.clone(),
                    source,
                })?;
                (path, hashing.digest(), hashing.bytes)
            }
        };
        self.files.insert(
            name.to_owned(),
            Staged {
                path: staged,
                digest,
                size,
            },
        );
        Ok(())
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T> {
        let staged = self.files.get(name).ok_or_else(|| LoadError::MissingBlob {
            path: self.origin.to_path_buf(),
            what: "the archive".into(),
            digest: name.to_owned(),
        })?;
        if staged.size > MAX_DOCUMENT {
            return Err(LoadError::Invalid {
                path: self.origin.to_path_buf(),
                what: name.to_owned(),
                why: format!("larger than {MAX_DOCUMENT} bytes"),
            });
        }
        let bytes = fs::read(&staged.path).map_err(|source| LoadError::Read {
            path: staged.path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| LoadError::BadJson {
            path: self.origin.to_path_buf(),
            what: name.to_owned(),
            source,
        })
    }

    /// Makes sure blob `digest` is staged (or already in the store); `what`
    /// names who refers to it, for the error.
    fn need_blob(&mut self, digest: &str, size: Option<u64>, what: &str) -> Result<()> {
        let name = format!(
            "blobs/sha256/{}",
            digest.strip_prefix("sha256:").unwrap_or(digest)
        );
        if let Some(staged) = self.files.get(&name) {
            // Staged under its digest already; the size must agree too.
            if let Some(want) = size.filter(|&w| w != staged.size) {
                return Err(LoadError::Invalid {
                    path: self.origin.to_path_buf(),
                    what: format!("{what} blob {digest}"),
                    why: format!("it is {} bytes, the descriptor says {want}", staged.size),
                });
            }
            return Ok(());
        }
        if let Some(dir) = self.layout_dir.clone() {
            let p = dir.join(&name);
            if p.is_file() {
                let f = fs::File::open(&p).map_err(|source| LoadError::Read {
                    path: p.clone(),
                    source,
                })?;
                return self.stage(&name, f, Some((digest.to_owned(), size)));
            }
        }
        if self.store.has_blob(digest) {
            return Ok(());
        }
        Err(LoadError::MissingBlob {
            path: self.origin.to_path_buf(),
            what: what.to_owned(),
            digest: digest.to_owned(),
        })
    }

    fn blob_json<T: for<'de> Deserialize<'de>>(&mut self, d: &Descriptor, what: &str) -> Result<T> {
        let digest = d.digest().to_string();
        if d.size() > MAX_DOCUMENT {
            return Err(LoadError::Invalid {
                path: self.origin.to_path_buf(),
                what: format!("{what} {digest}"),
                why: format!("a JSON document larger than {MAX_DOCUMENT} bytes"),
            });
        }
        self.need_blob(&digest, Some(d.size()), what)?;
        let name = format!(
            "blobs/sha256/{}",
            digest.strip_prefix("sha256:").unwrap_or(&digest)
        );
        let bytes = match self.files.get(&name) {
            Some(s) => fs::read(&s.path).map_err(|source| LoadError::Read {
                path: s.path.clone(),
                source,
            })?,
            None => self.store.read_blob(&digest).map_err(self.err_store())?,
        };
        serde_json::from_slice(&bytes).map_err(|source| LoadError::BadJson {
            path: self.origin.to_path_buf(),
            what: format!("{what} {digest}"),
            source,
        })
    }

    /// Moves staged blob `digest` into the store.
    fn commit(&self, digest: &str) -> Result<()> {
        let name = format!(
            "blobs/sha256/{}",
            digest.strip_prefix("sha256:").unwrap_or(digest)
        );
        match self.files.get(&name) {
            Some(s) => self
                .store
                .commit_blob(&s.path, digest)
                .map_err(self.err_store()),
            None if self.store.has_blob(digest) => Ok(()),
            None => Err(LoadError::MissingBlob {
                path: self.origin.to_path_buf(),
                what: "an image".into(),
                digest: digest.to_owned(),
            }),
        }
    }
}

fn is_index(d: &Descriptor) -> bool {
    matches!(d.media_type(), MediaType::ImageIndex)
        || d.media_type().to_string() == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// Follows index -> (index ->) manifest for `platform`.
fn resolve_manifest(
    input: &mut Input,
    d: &Descriptor,
    platform: &Platform,
    what: &str,
    depth: u32,
) -> Result<Descriptor> {
    if !is_index(d) {
        return Ok(d.clone());
    }
    if depth > 3 {
        return Err(LoadError::Invalid {
            path: input.origin.to_path_buf(),
            what: what.to_owned(),
            why: "image indexes nested more than 3 deep".into(),
        });
    }
    let index: ImageIndex = input.blob_json(d, what)?;
    let chosen = index
        .manifests()
        .iter()
        .find(|m| platform.matches(m))
        .or_else(|| {
            index
                .manifests()
                .iter()
                .find(|m| is_index(m) && m.platform().is_none())
        });
    match chosen {
        Some(m) => resolve_manifest(input, &m.clone(), platform, what, depth + 1),
        None => {
            let available = platforms_of(&index);
            Err(LoadError::NoPlatform {
                path: input.origin.to_path_buf(),
                what: what.to_owned(),
                platform: platform.to_string(),
                available,
            })
        }
    }
}

/// The platforms an index offers, as `os/arch[/variant], ...` (for errors).
pub fn platforms_of(index: &ImageIndex) -> String {
    let names: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|m| m.platform().as_ref())
        .map(|p| {
            let v = p
                .variant()
                .as_ref()
                .map(|v| format!("/{v}"))
                .unwrap_or_default();
            format!("{}/{}{v}", p.os(), p.architecture())
        })
        .collect();
    names.join(", ")
}

/// The name an image gets: the full reference in `ref.name`, or for a bare
/// tag (as skopeo writes `oci:DIR:TAG`) `localhost/<file name>:<tag>`.
fn image_name(origin: &Path, ref_name: &str) -> std::result::Result<Reference, String> {
    if ref_name.contains('/') || ref_name.contains(':') || ref_name.contains('@') {
        return Reference::parse(ref_name).map_err(|e| e.to_string());
    }
    let stem = origin
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.strip_suffix(".tar").unwrap_or(&stem).to_lowercase();
    Reference::parse(&format!("localhost/{stem}:{ref_name}")).map_err(|e| e.to_string())
}

fn load_oci(input: &mut Input, lock: &WriteLock, platform: &Platform) -> Result<Vec<String>> {
    let index: ImageIndex = input.json("index.json")?;
    let mut ready = Vec::new();
    for (i, d) in index.manifests().iter().enumerate() {
        let what = format!("index.json manifests[{i}]");
        let ref_name = d
            .annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .cloned();
        let Some(ref_name) = ref_name else { continue };
        let reference = image_name(input.origin, &ref_name).map_err(|why| LoadError::Invalid {
            path: input.origin.to_path_buf(),
            what: format!("{what} name {ref_name:?}"),
            why,
        })?;
        let manifest_desc = resolve_manifest(input, d, platform, &what, 0)?;
        let manifest: oci_spec::image::ImageManifest = input.blob_json(&manifest_desc, &what)?;
        let mut blobs = vec![
            manifest_desc.digest().to_string(),
            manifest.config().digest().to_string(),
        ];
        input.need_blob(
            manifest.config().digest().as_ref(),
            Some(manifest.config().size()),
            &what,
        )?;
        for l in manifest.layers() {
            input.need_blob(l.digest().as_ref(), Some(l.size()), &what)?;
            blobs.push(l.digest().to_string());
        }
        for b in &blobs {
            input.commit(b)?;
        }
        let mut desc = manifest_desc.clone();
        desc.set_annotations(None);
        let name = reference.to_string();
        input
            .store
            .unpack_layers(lock, &name, desc.digest().as_ref())
            .map_err(input.err_store())?;
        ready.push((reference, desc));
    }
    if ready.is_empty() {
        return Err(LoadError::Invalid {
            path: input.origin.to_path_buf(),
            what: "index.json".into(),
            why: format!("names no image (no {REF_NAME} annotation)"),
        });
    }
    tag_all(input, lock, ready)
}

/// Names the images only once every image of the input is in the store
/// and unpacked: a load that fails half-way names nothing, and in
/// particular does not take a name away from the image that had it.
fn tag_all(
    input: &Input,
    lock: &WriteLock,
    ready: Vec<(Reference, Descriptor)>,
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for (reference, desc) in ready {
        input
            .store
            .tag(lock, &reference, &desc)
            .map_err(input.err_store())?;
        names.push(reference.to_string());
    }
    Ok(names)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn load_docker(input: &mut Input, lock: &WriteLock) -> Result<Vec<String>> {
    let entries: Vec<DockerManifestEntry> = input.json("manifest.json")?;
    let mut ready = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let what = format!("manifest.json[{i}]");
        let staged = |name: &str| {
            input
                .files
                .get(name)
                .map(|s| (s.digest.clone(), s.size))
                .ok_or_else(|| LoadError::MissingBlob {
                    path: input.origin.to_path_buf(),
                    what: what.clone(),
                    digest: name.to_owned(),
                })
        };
        let (config_digest, config_size) = staged(&e.config)?;
        let mut layers = Vec::new();
        for l in &e.layers {
            layers.push(staged(l)?);
        }
        // Docker's layers are plain tars: the blob digest is the diff id.
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": layers.iter().map(|(d, s)| serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": d,
                "size": s,
            })).collect::<Vec<_>>(),
        });
        let bytes = canonical_json("manifest", &manifest).map_err(|e| LoadError::Store {
            path: input.origin.to_path_buf(),
            source: e.into(),
        })?;
        let manifest_digest = super::layout::sha256(&bytes).to_string();
        let staged_manifest = input
            .store
            .stage_blob(
                &input.staging,
                &bytes[..],
                &manifest_digest,
                Some(bytes.len() as u64),
            )
            .map_err(input.err_store())?;
        input
            .store
            .commit_blob(&staged_manifest, &manifest_digest)
            .map_err(input.err_store())?;
        for (path, (digest, _)) in std::iter::once((&e.config, (config_digest.clone(), 0)))
            .chain(e.layers.iter().zip(layers.iter().cloned()))
        {
            let s = &input.files[path];
            input
                .store
                .commit_blob(&s.path, &digest)
                .map_err(input.err_store())?;
        }
        let desc: Descriptor = serde_json::from_value(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": bytes.len(),
        }))
        .expect("a descriptor built from known-good values");
        let tags = e.repo_tags.clone().unwrap_or_default();
        if tags.is_empty() {
            return Err(LoadError::Invalid {
                path: input.origin.to_path_buf(),
                what,
                why: "the image has no RepoTags to name it by".into(),
            });
        }
        for t in tags {
            let reference = Reference::parse(&t).map_err(|err| LoadError::Invalid {
                path: input.origin.to_path_buf(),
                what: format!("{what} RepoTags {t:?}"),
                why: err.to_string(),
            })?;
            let name = reference.to_string();
            input
                .store
                .unpack_layers(lock, &name, &manifest_digest)
                .map_err(input.err_store())?;
            ready.push((reference, desc.clone()));
        }
    }
    tag_all(input, lock, ready)
}
