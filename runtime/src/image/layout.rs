//! OCI image layouts on disk (OCI image-layout spec): an `oci-layout` marker
//! file, `index.json`, and content-addressed `blobs/sha256/<hex>`; and
//! oci-archives (a tar of such a layout).
//!
//! Everything written here is byte-reproducible: JSON with sorted keys, tar
//! entries in a fixed order with fixed owners, modes and times.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Digest, ImageIndex};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot encode {what} as JSON: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
}

type Result<T> = std::result::Result<T, LayoutError>;

/// A blob stored in a layout: its digest and size, as a descriptor needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
        .parse()
        .expect("a sha256 hex string is a valid digest")
}

/// JSON with object keys sorted at every level. oci-spec keeps annotations
/// and labels in `HashMap`s, whose order changes from run to run; going
/// through `serde_json::Value` (a sorted map without the `preserve_order`
/// feature) makes the bytes, and so the digests, reproducible.
pub fn canonical_json<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    let json = |source| LayoutError::Json {
        what: what.to_owned(),
        source,
    };
    let value = serde_json::to_value(value).map_err(json)?;
    serde_json::to_vec(&value).map_err(json)
}

/// Writes an OCI image layout into a directory.
pub struct LayoutWriter {
    dir: PathBuf,
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

impl LayoutWriter {
    /// Creates the directory (and `blobs/sha256`) and the `oci-layout`
    /// marker. An existing layout is added to.
    pub fn create(dir: &Path) -> Result<LayoutWriter> {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(|source| LayoutError::Write {
            path: blobs,
            source,
        })?;
        let writer = LayoutWriter {
            dir: dir.to_path_buf(),
        };
        writer.write_file("oci-layout", OCI_LAYOUT)?;
        Ok(writer)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `bytes` as a blob under its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Blob> {
        let digest = sha256(bytes);
        let name = format!("blobs/sha256/{}", digest.digest());
        if !self.dir.join(&name).exists() {
            self.write_file(&name, bytes)?;
        }
        Ok(Blob {
            digest,
            size: bytes.len() as u64,
        })
    }

    /// Stores `value` as canonical JSON; returns the blob.
    pub fn put_json<T: Serialize>(&self, what: &str, value: &T) -> Result<Blob> {
        self.put_blob(&canonical_json(what, value)?)
    }

    /// Writes the layout's `index.json`.
    pub fn write_index(&self, index: &ImageIndex) -> Result<()> {
        self.write_file("index.json", &canonical_json("index.json", index)?)
    }

    /// Writes a file through a temporary name and a rename, so a reader
    /// never sees half of it.
    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp-{}", std::process::id()));
        let write = |source| LayoutError::Write {
            path: path.clone(),
            source,
        };
        let mut f = fs::File::create(&tmp).map_err(write)?;
        f.write_all(bytes).map_err(write)?;
        f.sync_all().map_err(write)?;
        fs::rename(&tmp, &path).map_err(write)
    }
}

/// A tar entry with fixed metadata: owner root, the given mode and time.
fn fixed_header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

/// Appends a regular file with fixed metadata to a tar archive.
pub fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    mtime: u64,
    data: &[u8],
) -> io::Result<()> {
    let mut h = fixed_header(tar::EntryType::Regular, mode, data.len() as u64, mtime);
    tar.append_data(&mut h, path, data)
}

/// Writes the layout in `dir` as an oci-archive: `oci-layout`,
/// `index.json`, then the blobs sorted by name, every entry owned by root
/// with mode 0644 (directories 0755) and time `mtime`.
pub fn write_archive(dir: &Path, out: &Path, mtime: u64) -> Result<()> {
    let write = |source| LayoutError::Write {
        path: out.to_path_buf(),
        source,
    };
    let read = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LayoutError::Read { path, source }
    };
    let blobs_dir = dir.join("blobs/sha256");
    let mut blobs: Vec<String> = fs::read_dir(&blobs_dir)
        .map_err(read(&blobs_dir))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()
        .map_err(read(&blobs_dir))?;
    blobs.retain(|b| !b.contains(".tmp-"));
    blobs.sort();

    let tmp = out.with_extension(format!("tmp-{}", std::process::id()));
    let file = fs::File::create(&tmp).map_err(write)?;
    let mut tar = tar::Builder::new(io::BufWriter::new(file));
    for name in ["oci-layout", "index.json"] {
        let data = fs::read(dir.join(name)).map_err(read(&dir.join(name)))?;
        append_file(&mut tar, name, 0o644, mtime, &data).map_err(write)?;
    }
    for d in ["blobs/", "blobs/sha256/"] {
        let mut h = fixed_header(tar::EntryType::Directory, 0o755, 0, mtime);
        tar.append_data(&mut h, d, io::empty()).map_err(write)?;
    }
    for b in &blobs {
        let path = blobs_dir.join(b);
        let data = fs::read(&path).map_err(read(&path))?;
        append_file(&mut tar, &format!("blobs/sha256/{b}"), 0o644, mtime, &data).map_err(write)?;
    }
    let file = tar.into_inner().map_err(write)?;
    file.into_inner()
        .map_err(|e| write(e.into_error()))?
        .sync_all()
        .map_err(write)?;
    fs::rename(&tmp, out).map_err(write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn canonical_json_sorts_keys_whatever_the_map_order() {
        let mut a = HashMap::new();
        let mut b = HashMap::new();
        for k in ["zeta", "alpha", "mid", "beta", "omega", "x"] {
            a.insert(k.to_string(), k.len());
        }
        for k in ["x", "omega", "beta", "mid", "alpha", "zeta"] {
            b.insert(k.to_string(), k.len());
        }
        let ja = canonical_json("a", &a).unwrap();
        assert_eq!(ja, canonical_json("b", &b).unwrap());
        assert_eq!(
            String::from_utf8(ja).unwrap(),
            r#"{"alpha":5,"beta":4,"mid":3,"omega":5,"x":1,"zeta":4}"#
        );
    }

    #[test]
    fn sha256_of_empty_input_is_the_well_known_digest() {
        assert_eq!(
            sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
