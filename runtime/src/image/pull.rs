//! `podrun pull`: an image from a registry (or its mirrors) into the store.
//!
//! Everything fetched is checked before it is used: a manifest against the
//! digest asked for (or the one the registry announces), every blob against
//! its descriptor's digest and size while it streams into staging. Blobs
//! the store already has are not fetched again. Nothing becomes visible
//! until the whole image is verified and unpacked.

use std::io::{self, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::layout::sha256;
use super::load::{platforms_of, Platform};
use super::reference::Reference;
use super::registry::{Client, Endpoint, Fetched, RegistriesConf, RegistryError};
use super::store::{Store, StoreError, WriteLock};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("pull {reference}: {source}")]
    Registry {
        reference: String,
        source: RegistryError,
    },
    #[error("pull {reference}: {source}")]
    Store {
        reference: String,
        source: StoreError,
    },
    #[error("pull {reference}: {what} from {registry}: {why}")]
    Invalid {
        reference: String,
        registry: String,
        what: String,
        why: String,
    },
    #[error("pull {reference}: every source failed:\n  {}", .errors.join("\n  "))]
    AllFailed {
        reference: String,
        errors: Vec<String>,
    },
}

type Result<T> = std::result::Result<T, PullError>;

const MAX_MANIFEST: u64 = 4 << 20;

pub struct Puller<'a> {
    pub store: &'a Store,
    pub lock: &'a WriteLock,
    pub client: &'a Client,
    pub conf: &'a RegistriesConf,
    pub platform: Platform,
    /// Draw progress on stderr (only when it is a terminal).
    pub progress: bool,
}

impl Puller<'_> {
    /// Pulls `reference`, trying its mirrors first; returns the name it is
    /// stored under.
    pub fn pull(&self, reference: &Reference) -> Result<String> {
        let name = reference.to_string();
        let endpoints = self
            .conf
            .endpoints(reference)
            .map_err(|source| PullError::Registry {
                reference: name.clone(),
                source,
            })?;
        let mut errors = Vec::new();
        let count = endpoints.len();
        for ep in endpoints {
            match self.pull_from(reference, &ep) {
                Ok(()) => return Ok(name),
                Err(e) if count == 1 => return Err(e),
                Err(e) => errors.push(format!(
                    "{}{}: {e}",
                    ep.registry,
                    if ep.mirror { " (mirror)" } else { "" }
                )),
            }
        }
        Err(PullError::AllFailed {
            reference: name,
            errors,
        })
    }

    fn pull_from(&self, reference: &Reference, ep: &Endpoint) -> Result<()> {
        let name = reference.to_string();
        let reg_err = |source| PullError::Registry {
            reference: name.clone(),
            source,
        };
        let invalid = |what: &str, why: String| PullError::Invalid {
            reference: name.clone(),
            registry: ep.registry.clone(),
            what: what.to_owned(),
            why,
        };
        let mut session = self.client.session(ep).map_err(reg_err)?;
        let wanted = reference
            .digest
            .clone()
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".into());

        // The manifest (or index) the reference names.
        let fetched = session.manifest(&wanted).map_err(reg_err)?;
        let (bytes, media_type) = read_manifest(fetched, reference.digest.as_deref())
            .map_err(|why| invalid(&format!("manifest {wanted}"), why))?;
        let (manifest_bytes, manifest_digest) = if is_index_type(&media_type, &bytes) {
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(&format!("image index {wanted}"), e.to_string()))?;
            let chosen = index
                .manifests()
                .iter()
                .find(|d| self.platform.matches(d))
                .ok_or_else(|| {
                    invalid(
                        &format!("image index {wanted}"),
                        format!(
                            "no image for {} (it has: {})",
                            self.platform,
                            platforms_of(&index)
                        ),
                    )
                })?;
            let digest = chosen.digest().to_string();
            let fetched = session.manifest(&digest).map_err(reg_err)?;
            let (bytes, _) = read_manifest(fetched, Some(&digest))
                .map_err(|why| invalid(&format!("manifest {digest}"), why))?;
            (bytes, digest)
        } else {
            let digest = sha256(&bytes).to_string();
            (bytes, digest)
        };
        let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
            invalid(
                &format!("manifest {manifest_digest}"),
                format!("not an image manifest: {e}"),
            )
        })?;
        if manifest.schema_version() != 2 {
            return Err(invalid(
                &format!("manifest {manifest_digest}"),
                "only schema version 2 is supported".into(),
            ));
        }

        // Stage the manifest, then every blob the store lacks.
        let store_err = |source| PullError::Store {
            reference: name.clone(),
            source,
        };
        let staging = self.store.staging(self.lock, "pull").map_err(store_err)?;
        let mut staged = Vec::new();
        let m = self
            .store
            .stage_blob(
                &staging,
                &manifest_bytes[..],
                &manifest_digest,
                Some(manifest_bytes.len() as u64),
            )
            .map_err(store_err)?;
        staged.push((m, manifest_digest.clone()));
        let blobs: Vec<&Descriptor> = std::iter::once(manifest.config())
            .chain(manifest.layers())
            .collect();
        for d in blobs {
            let digest = d.digest().to_string();
            if self.store.has_blob(&digest) {
                continue;
            }
            let fetched = session.blob(&digest).map_err(reg_err)?;
            let reader = Progress::new(fetched.body, &digest, d.size(), self.progress);
            let path = self
                .store
                .stage_blob(&staging, reader, &digest, Some(d.size()))
                .map_err(store_err)?;
            staged.push((path, digest));
        }
        for (path, digest) in &staged {
            self.store.commit_blob(path, digest).map_err(store_err)?;
        }
        self.store
            .unpack_layers(self.lock, &name, &manifest_digest)
            .map_err(store_err)?;
        let desc: Descriptor = serde_json::from_value(serde_json::json!({
            "mediaType": manifest.media_type().as_ref().map(|m| m.to_string())
                .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into()),
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
        }))
        .expect("a descriptor built from verified values");
        self.store
            .tag(self.lock, reference, &desc)
            .map_err(store_err)?;
        Ok(())
    }
}

fn is_index_type(media_type: &str, bytes: &[u8]) -> bool {
    if media_type.contains("index") || media_type.contains("manifest.list") {
        return true;
    }
    // Some registries answer with a generic type: look inside.
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v.get("manifests").is_some())
}

/// Reads a manifest body (bounded) and checks it: against `digest` when the
/// reference pins one, else against the registry's Docker-Content-Digest.
fn read_manifest(
    fetched: Fetched,
    digest: Option<&str>,
) -> std::result::Result<(Vec<u8>, String), String> {
    if fetched.length.is_some_and(|l| l > MAX_MANIFEST) {
        return Err(format!("larger than {MAX_MANIFEST} bytes"));
    }
    let mut bytes = Vec::new();
    fetched
        .body
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_MANIFEST {
        return Err(format!("larger than {MAX_MANIFEST} bytes"));
    }
    let got = sha256(&bytes).to_string();
    if let Some(want) = digest.or(fetched.digest_header.as_deref()) {
        if want != got {
            return Err(format!(
                "content does not match its digest {want} (got {got}); refused"
            ));
        }
    }
    Ok((bytes, fetched.content_type.unwrap_or_default()))
}

/// Passes bytes through, drawing `Copying blob sha256:abcd… 1.2/3.4 MB` on
/// stderr at most ten times a second, when asked and stderr is a terminal.
struct Progress<R> {
    inner: R,
    label: String,
    total: u64,
    done: u64,
    draw: bool,
    last: Instant,
}

impl<R: Read> Progress<R> {
    fn new(inner: R, digest: &str, total: u64, wanted: bool) -> Self {
        let short = digest.strip_prefix("sha256:").unwrap_or(digest);
        Progress {
            inner,
            label: format!("Copying blob {}", &short[..short.len().min(12)]),
            total,
            done: 0,
            draw: wanted && io::stderr().is_terminal(),
            last: Instant::now() - Duration::from_secs(1),
        }
    }

    fn show(&mut self, finished: bool) {
        if !self.draw || (!finished && self.last.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last = Instant::now();
        let width = 30;
        let filled = (self.done.min(self.total) * width)
            .checked_div(self.total)
            .unwrap_or(width) as usize;
        let bar: String = "=".repeat(filled) + &" ".repeat(width as usize - filled);
        let mb = |b: u64| b as f64 / 1e6;
        let mut err = io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{bar}] {:.1} / {:.1} MB",
            self.label,
            mb(self.done),
            mb(self.total)
        );
        if finished {
            let _ = writeln!(err);
        }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.show(n == 0);
        Ok(n)
    }
}
