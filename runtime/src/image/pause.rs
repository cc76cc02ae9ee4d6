//! The multi-arch pause image: one single-layer image per platform, an image
//! index listing them, and a layout whose `index.json` names that index by
//! tag (the nested form skopeo needs to copy every platform with `--all`).
//!
//! Byte-reproducible: the only time in it is `created` (from
//! SOURCE_DATE_EPOCH), tar entries have fixed owners and modes, gzip
//! headers carry no time or name, and JSON keys are sorted.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use flate2::{Compression, GzBuilder};
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};

use super::layout::{self, Blob, LayoutError, LayoutWriter};

#[derive(Debug, thiserror::Error)]
pub enum PauseImageError {
    #[error("unknown platform {0:?} (want one of: amd64 arm64 arm ppc64le s390x riscv64)")]
    UnknownPlatform(String),
    #[error("platform {0} given twice")]
    DuplicatePlatform(String),
    #[error("no pause binary given")]
    NoBinaries,
    #[error("cannot build the {platform} layer: {source}")]
    Layer {
        platform: String,
        source: std::io::Error,
    },
    #[error("cannot build the {what}: {source}")]
    Spec {
        what: String,
        source: oci_spec::OciSpecError,
    },
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

type Result<T> = std::result::Result<T, PauseImageError>;

/// A platform as OCI names it; `name` is what scripts/build-pause calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub name: &'static str,
    pub architecture: &'static str,
    pub variant: Option<&'static str>,
}

/// The six platforms, in the order the index lists them.
pub const PLATFORMS: [Platform; 6] = [
    Platform {
        name: "amd64",
        architecture: "amd64",
        variant: None,
    },
    Platform {
        name: "arm64",
        architecture: "arm64",
        variant: Some("v8"),
    },
    Platform {
        name: "arm",
        architecture: "arm",
        variant: Some("v7"),
    },
    Platform {
        name: "ppc64le",
        architecture: "ppc64le",
        variant: None,
    },
    Platform {
        name: "s390x",
        architecture: "s390x",
        variant: None,
    },
    Platform {
        name: "riscv64",
        architecture: "riscv64",
        variant: None,
    },
];

pub fn platform(name: &str) -> Result<Platform> {
    PLATFORMS
        .iter()
        .find(|p| p.name == name)
        .copied()
        .ok_or_else(|| PauseImageError::UnknownPlatform(name.to_owned()))
}

/// What goes into the image besides the binaries.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub tag: String,
    pub version: String,
    pub revision: String,
    pub source: String,
    pub licenses: String,
    /// Seconds since the epoch (SOURCE_DATE_EPOCH).
    pub created: u64,
}

impl Metadata {
    /// The standard `org.opencontainers.image.*` annotations, given to the
    /// image index and, as labels, to every config (where `podman inspect`
    /// and `docker inspect` show them). Not repeated on each manifest: every
    /// byte counts six times in this image.
    fn annotations(&self) -> HashMap<String, String> {
        [
            ("created", rfc3339(self.created)),
            ("source", self.source.clone()),
            ("version", self.version.clone()),
            ("revision", self.revision.clone()),
            ("licenses", self.licenses.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("org.opencontainers.image.{k}"), v))
        .collect()
    }
}

/// The uid:gid the image runs as: no privileges needed to sleep and reap.
pub const USER: &str = "65535:65535";
pub const ENTRYPOINT: &str = "/pause";

/// Writes the image for `binaries` (platform name, bytes) into `dir` as an
/// OCI layout and returns the image index blob (its digest is the one to
/// pin).
pub fn write(dir: &Path, meta: &Metadata, binaries: &[(String, Vec<u8>)]) -> Result<Blob> {
    if binaries.is_empty() {
        return Err(PauseImageError::NoBinaries);
    }
    let mut platforms: Vec<(Platform, &[u8])> = Vec::new();
    for (name, bytes) in binaries {
        let p = platform(name)?;
        if platforms.iter().any(|(q, _)| q.name == p.name) {
            return Err(PauseImageError::DuplicatePlatform(name.clone()));
        }
        platforms.push((p, bytes));
    }
    // The index lists platforms in PLATFORMS order whatever the input order.
    platforms.sort_by_key(|(p, _)| PLATFORMS.iter().position(|q| q == p));

    let out = LayoutWriter::create(dir)?;
    let annotations = meta.annotations();
    let mut manifests = Vec::new();
    for (p, bytes) in platforms {
        manifests.push(write_platform(&out, meta, &annotations, p, bytes)?);
    }
    let spec = |what: &str| {
        let what = what.to_owned();
        move |source| PauseImageError::Spec { what, source }
    };
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .annotations(annotations)
        .build()
        .map_err(spec("image index"))?;
    let index_blob = out.put_json("image index", &index)?;

    // index.json names the image index by tag.
    let top = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![descriptor(
            MediaType::ImageIndex,
            &index_blob,
            Some(HashMap::from([(
                "org.opencontainers.image.ref.name".to_owned(),
                meta.tag.clone(),
            )])),
        )
        .map_err(spec("index.json"))?])
        .build()
        .map_err(spec("index.json"))?;
    out.write_index(&top)?;
    Ok(index_blob)
}

fn descriptor(
    media_type: MediaType,
    blob: &Blob,
    annotations: Option<HashMap<String, String>>,
) -> std::result::Result<Descriptor, oci_spec::OciSpecError> {
    let mut d = DescriptorBuilder::default()
        .media_type(media_type)
        .digest(blob.digest.clone())
        .size(blob.size)
        .build()?;
    d.set_annotations(annotations);
    Ok(d)
}

/// Layer, config and manifest of one platform; returns the manifest's
/// descriptor for the index.
fn write_platform(
    out: &LayoutWriter,
    meta: &Metadata,
    annotations: &HashMap<String, String>,
    p: Platform,
    binary: &[u8],
) -> Result<Descriptor> {
    let spec = |what: &str| {
        let what = format!("{} {what}", p.name);
        move |source| PauseImageError::Spec { what, source }
    };
    let layer_err = |source| PauseImageError::Layer {
        platform: p.name.to_owned(),
        source,
    };

    // The layer: a tar holding only /pause, gzip-compressed.
    let mut tar = tar::Builder::new(Vec::new());
    layout::append_file(&mut tar, "pause", 0o755, meta.created, binary).map_err(layer_err)?;
    let tar = tar.into_inner().map_err(layer_err)?;
    let diff_id = layout::sha256(&tar);
    // No file name, mtime 0 and OS "unknown" in the gzip header (flate2's
    // defaults): nothing that varies between builds.
    let mut gz = GzBuilder::new().write(Vec::new(), Compression::best());
    gz.write_all(&tar).map_err(layer_err)?;
    let layer = out.put_blob(&gz.finish().map_err(layer_err)?)?;

    let created = rfc3339(meta.created);
    let config = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(Arch::from(p.architecture))
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .entrypoint(vec![ENTRYPOINT.to_owned()])
                .user(USER.to_owned())
                .labels(annotations.clone())
                .build()
                .map_err(spec("config"))?,
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()
                .map_err(spec("rootfs"))?,
        )
        .history(vec![HistoryBuilder::default()
            .created(created)
            .created_by(format!(
                "pause-image: /pause {} ({})",
                meta.version, meta.revision
            ))
            .build()
            .map_err(spec("history"))?])
        .build()
        .map_err(spec("config"))?;
    let mut config = config;
    if let Some(v) = p.variant {
        config.set_variant(Some(v.to_owned()));
    }
    let config_blob = out.put_json("image config", &config)?;

    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(
            descriptor(MediaType::ImageConfig, &config_blob, None)
                .map_err(spec("config descriptor"))?,
        )
        .layers(vec![descriptor(MediaType::ImageLayerGzip, &layer, None)
            .map_err(spec("layer descriptor"))?])
        .build()
        .map_err(spec("manifest"))?;
    let manifest_blob = out.put_json("image manifest", &manifest)?;

    let mut platform = PlatformBuilder::default()
        .architecture(Arch::from(p.architecture))
        .os(Os::Linux)
        .build()
        .map_err(spec("platform"))?;
    if let Some(v) = p.variant {
        platform.set_variant(Some(v.to_owned()));
    }
    let mut d = descriptor(MediaType::ImageManifest, &manifest_blob, None)
        .map_err(spec("manifest descriptor"))?;
    d.set_platform(Some(platform));
    Ok(d)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (UTC).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (the proleptic calendar
/// computed in 400-year eras of 146,097 days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn unknown_and_duplicate_platforms_are_refused() {
        let meta = Metadata {
            tag: "t".into(),
            version: "v".into(),
            revision: "r".into(),
            source: "s".into(),
            licenses: "l".into(),
            created: 0,
        };
        let dir = std::env::temp_dir().join(format!("pause-image-unit-{}", std::process::id()));
        let err = write(&dir, &meta, &[("mips".into(), vec![1])]).unwrap_err();
        assert!(
            err.to_string().contains("unknown platform \"mips\""),
            "{err}"
        );
        let err = write(
            &dir,
            &meta,
            &[("arm".into(), vec![1]), ("arm".into(), vec![2])],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("platform arm given twice"),
            "{err}"
        );
        assert!(matches!(
            write(&dir, &meta, &[]),
            Err(PauseImageError::NoBinaries)
        ));
        assert!(!dir.exists(), "nothing written for refused input");
    }
}
