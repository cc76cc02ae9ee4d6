//! The pause image: its layout, reproducibility, skopeo, the Containerfile,
//! and mirroring into a registry.

use blackbox::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Platforms as the image index must list them: (architecture, variant).
const PLATFORMS: [(&str, Option<&str>); 6] = [
    ("amd64", None),
    ("arm64", Some("v8")),
    ("arm", Some("v7")),
    ("ppc64le", None),
    ("s390x", None),
    ("riscv64", None),
];
const ANNOTATIONS: [&str; 5] = ["created", "source", "version", "revision", "licenses"];

struct Built {
    layout: PathBuf,
    archive: PathBuf,
    digest: String,
}

/// scripts/build-image, once per test run, into target/blackbox/.
fn image() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_image_in(
            &workspace_root(),
            &workspace_root().join("target/blackbox/pause-image"),
            None,
        )
    })
}

/// The oci-archive and layout of the main build, for other test modules.
pub fn image_archive() -> &'static Path {
    &image().archive
}

pub fn image_layout() -> &'static Path {
    &image().layout
}

pub fn image_digest() -> &'static str {
    &image().digest
}

fn build_image_in(src: &Path, out: &Path, target_dir: Option<&Path>) -> Built {
    require_root();
    pause_bins(); // the layer contents are compared with these
    let mut cmd = Command::new(src.join("scripts/build-image"));
    cmd.arg(out);
    if let Some(t) = target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let stdout = must(&mut cmd);
    let digest = stdout
        .lines()
        .last()
        .expect("build-image prints the digest last")
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest:?}"
    );
    let mut archive = out.as_os_str().to_owned();
    archive.push(".tar");
    Built {
        layout: out.to_path_buf(),
        archive: archive.into(),
        digest,
    }
}

fn sha256_file(path: &Path) -> String {
    let out = must(Command::new("sha256sum").arg(path));
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// Reads a blob as JSON after checking its digest and size.
fn read_json(layout: &Path, desc: &Value) -> Value {
    let digest = desc["digest"].as_str().unwrap();
    let path = blob(layout, digest);
    assert_eq!(
        sha256_file(&path),
        digest,
        "blob content matches its digest"
    );
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        desc["size"].as_u64().unwrap(),
        "{digest} size"
    );
    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
}

fn git(args: &[&str]) -> String {
    must(Command::new("git").args(args).current_dir(workspace_root()))
        .trim()
        .to_string()
}

#[test]
fn image_layout_holds_one_index_of_six_single_layer_platforms() {
    let img = image();
    let top: Value =
        serde_json::from_slice(&fs::read(img.layout.join("index.json")).unwrap()).unwrap();
    let tops = top["manifests"].as_array().unwrap();
    assert_eq!(tops.len(), 1, "index.json holds one descriptor");
    assert_eq!(
        tops[0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        tops[0]["annotations"]["org.opencontainers.image.ref.name"],
        pause_version()
    );
    assert_eq!(tops[0]["digest"], img.digest.as_str());
    assert_eq!(
        fs::read_to_string(img.layout.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );

    let index = read_json(&img.layout, &tops[0]);
    let commit_time = git(&["log", "-1", "--format=%cI"]);
    for key in ANNOTATIONS {
        assert!(
            index["annotations"][format!("org.opencontainers.image.{key}")].is_string(),
            "{key}"
        );
    }
    assert_eq!(
        index["annotations"]["org.opencontainers.image.revision"],
        git(&["rev-parse", "HEAD"])
    );
    assert_eq!(
        index["annotations"]["org.opencontainers.image.licenses"],
        "Apache-2.0"
    );
    // created: the last commit's time (SOURCE_DATE_EPOCH's default), UTC.
    let created = index["annotations"]["org.opencontainers.image.created"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        created.ends_with('Z') && commit_time.starts_with(&created[..10]),
        "{created} vs {commit_time}"
    );

    let manifests = index["manifests"].as_array().unwrap();
    let listed: Vec<(String, Option<String>)> = manifests
        .iter()
        .map(|m| {
            assert_eq!(m["platform"]["os"], "linux");
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["platform"]["variant"].as_str().map(str::to_string),
            )
        })
        .collect();
    let want: Vec<(String, Option<String>)> = PLATFORMS
        .iter()
        .map(|(a, v)| (a.to_string(), v.map(str::to_string)))
        .collect();
    assert_eq!(listed, want);

    for (m, (arch, variant)) in manifests.iter().zip(PLATFORMS) {
        assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        let manifest = read_json(&img.layout, m);
        assert_eq!(manifest["schemaVersion"], 2);
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1, "{arch}: one layer");
        assert_eq!(
            layers[0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        let config = read_json(&img.layout, &manifest["config"]);
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["variant"].as_str(), variant);
        assert_eq!(config["os"], "linux");
        assert_eq!(config["created"], created.as_str());
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/pause"])
        );
        assert_eq!(config["config"]["User"], "65535:65535");
        for key in ANNOTATIONS {
            let k = format!("org.opencontainers.image.{key}");
            assert_eq!(
                config["config"]["Labels"][&k], index["annotations"][&k],
                "{arch} label {key}"
            );
        }

        // The layer: a gzip'd tar with only /pause, 0755, owned by 0:0,
        // byte-identical to the binary scripts/build-pause made.
        let layer = blob(&img.layout, layers[0]["digest"].as_str().unwrap());
        assert_eq!(sha256_file(&layer), layers[0]["digest"].as_str().unwrap());
        let listing = must(
            Command::new("tar")
                .args(["--numeric-owner", "-tvzf"])
                .arg(&layer),
        );
        let entries: Vec<&str> = listing.lines().collect();
        assert_eq!(entries.len(), 1, "{arch}: {listing}");
        let fields: Vec<&str> = entries[0].split_whitespace().collect();
        assert_eq!(
            (fields[0], fields[1], fields[5]),
            ("-rwxr-xr-x", "0/0", "pause"),
            "{arch}: {listing}"
        );
        let tmp = TempDir::new("layer");
        must(
            Command::new("tar")
                .arg("-xzf")
                .arg(&layer)
                .arg("-C")
                .arg(tmp.path()),
        );
        assert_eq!(
            fs::read(tmp.join("pause")).unwrap(),
            fs::read(&pause_bins()[arch]).unwrap(),
            "{arch}"
        );
        // diff_ids: the digest of the uncompressed layer.
        let tar = tmp.join("layer.tar");
        must(Command::new("sh").arg("-c").arg(format!(
            "gzip -dc {} > {}",
            layer.display(),
            tar.display()
        )));
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!([sha256_file(&tar)]),
            "{arch}"
        );
    }
}

/// Size budget: every blob plus index.json under 64 KiB for all six
/// platforms (the official images weigh 325-731 kB per platform).
#[test]
fn whole_six_platform_image_is_under_64_kib() {
    let img = image();
    let mut total = fs::metadata(img.layout.join("index.json")).unwrap().len();
    for b in fs::read_dir(img.layout.join("blobs/sha256")).unwrap() {
        total += b.unwrap().metadata().unwrap().len();
    }
    assert!(total < 64 * 1024, "{total} bytes");
}

#[test]
fn oci_archive_holds_the_same_layout() {
    let img = image();
    let tmp = TempDir::new("archive");
    let listing = must(
        Command::new("tar")
            .args(["--numeric-owner", "-tvf"])
            .arg(&img.archive),
    );
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(
        &names[..4],
        ["oci-layout", "index.json", "blobs/", "blobs/sha256/"]
    );
    assert!(
        listing
            .lines()
            .all(|l| l.split_whitespace().nth(1) == Some("0/0")),
        "{listing}"
    );
    must(
        Command::new("tar")
            .arg("-xf")
            .arg(&img.archive)
            .arg("-C")
            .arg(tmp.path()),
    );
    let files = |root: &Path| -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for name in ["oci-layout", "index.json"] {
            out.insert(name.to_string(), fs::read(root.join(name)).unwrap());
        }
        for b in fs::read_dir(root.join("blobs/sha256")).unwrap() {
            let b = b.unwrap();
            out.insert(
                b.file_name().to_string_lossy().into(),
                fs::read(b.path()).unwrap(),
            );
        }
        out
    };
    assert!(
        files(tmp.path()) == files(&img.layout),
        "archive and layout hold the same files"
    );
}

#[test]
fn skopeo_reads_every_platform_from_the_archive() {
    let img = image();
    let raw = must(
        Command::new("skopeo")
            .arg("inspect")
            .arg("--raw")
            .arg(format!(
                "oci-archive:{}:{}",
                img.archive.display(),
                pause_version()
            )),
    );
    let index: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 6);
    for (arch, variant) in PLATFORMS {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--override-os", "linux", "--override-arch", arch]);
        if let Some(v) = variant {
            cmd.args(["--override-variant", v]);
        }
        cmd.arg(format!(
            "oci-archive:{}:{}",
            img.archive.display(),
            pause_version()
        ));
        let info: Value = serde_json::from_str(&must(&mut cmd)).unwrap();
        assert_eq!(info["Architecture"], arch);
        assert_eq!(info["Layers"].as_array().unwrap().len(), 1);
    }
}

/// The same commit, built from two checkouts in two directories, at two
/// different times, gives identical binaries, archives and index digests.
#[test]
fn builds_from_two_directories_at_two_times_are_byte_identical() {
    let root = workspace_root();
    let mut builds = Vec::new();
    let mut keep = Vec::new();
    for n in 0..2 {
        if n == 1 {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let tmp = TempDir::new(&format!("repro{n}"));
        let src = tmp.join("checkout");
        // The files git tracks or would track, as in the work tree, plus
        // .git, so both builds see the same revision.
        let files = must(
            Command::new("git")
                .args([
                    "ls-files",
                    "-z",
                    "--cached",
                    "--others",
                    "--exclude-standard",
                ])
                .current_dir(&root),
        );
        for f in files.split('\0').filter(|f| !f.is_empty()) {
            let (from, to) = (root.join(f), src.join(f));
            if from.is_file() {
                fs::create_dir_all(to.parent().unwrap()).unwrap();
                fs::copy(&from, &to).unwrap();
            }
        }
        must(
            Command::new("cp")
                .arg("-a")
                .arg(root.join(".git"))
                .arg(&src),
        );
        let built = build_image_in(&src, &tmp.join("out/pause"), Some(&tmp.join("target")));
        let bins: Vec<Vec<u8>> = ARCHES
            .iter()
            .map(|a| fs::read(tmp.path().join(format!("target/pause/{a}/pause"))).unwrap())
            .collect();
        builds.push((
            built.digest.clone(),
            fs::read(&built.archive).unwrap(),
            bins,
        ));
        keep.push(tmp);
    }
    for (i, arch) in ARCHES.iter().enumerate() {
        assert!(
            builds[0].2[i] == builds[1].2[i],
            "{arch}: the two pause builds differ"
        );
    }
    assert_eq!(builds[0].0, builds[1].0, "index digests");
    assert!(builds[0].1 == builds[1].1, "the two oci-archives differ");
    assert_eq!(
        builds[0].0,
        image().digest,
        "and they equal the main build's"
    );
}

#[test]
fn arm64_binary_from_the_image_runs_under_qemu() {
    let img = image();
    let raw: Value =
        serde_json::from_slice(&fs::read(blob(&img.layout, &img.digest)).unwrap()).unwrap();
    let m = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .unwrap();
    let manifest: Value = serde_json::from_slice(
        &fs::read(blob(&img.layout, m["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let layer = blob(
        &img.layout,
        manifest["layers"][0]["digest"].as_str().unwrap(),
    );
    let tmp = TempDir::new("arm64-layer");
    must(
        Command::new("tar")
            .arg("-xzf")
            .arg(&layer)
            .arg("-C")
            .arg(tmp.path()),
    );
    let out = must(
        Command::new("qemu-aarch64-static")
            .arg(tmp.join("pause"))
            .arg("-v"),
    );
    assert!(
        out.starts_with(&format!("pause {} (revision ", pause_version())),
        "{out}"
    );
}

#[test]
fn mirror_pushes_every_platform_and_pulls_back_identical_blobs() {
    let img = image();
    let registry = Registry::start();
    let dest = format!("{}/k8s/pause:{}", registry.addr, pause_version());
    let out = must(
        Command::new(workspace_root().join("scripts/mirror"))
            .arg("--archive")
            .arg(&img.archive)
            .arg(&dest)
            .arg("--dest-tls-verify=false"),
    );
    let pinned = format!("{}/k8s/pause@{}", registry.addr, img.digest);
    assert_eq!(out.lines().last(), Some(pinned.as_str()), "{out}");
    for setting in [
        format!("--pod-infra-container-image={pinned}"),
        format!("sandbox_image = \"{pinned}\""),
        format!("pause_image = \"{pinned}\""),
        format!("infra_image = \"{pinned}\""),
        format!("pod-infra-container-image: \"{pinned}\""),
    ] {
        assert!(out.contains(&setting), "mirror prints {setting}:\n{out}");
    }
    // The registry serves the very index we built...
    let raw = must(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{dest}")),
    );
    let tmp = TempDir::new("mirror");
    fs::write(tmp.join("raw"), &raw).unwrap();
    assert_eq!(sha256_file(&tmp.join("raw")), img.digest);
    // ...and pulling every platform back gives byte-identical blobs.
    let back = tmp.join("back");
    must(
        Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--all",
                "--preserve-digests",
                "--src-tls-verify=false",
            ])
            .arg(format!("docker://{pinned}"))
            .arg(format!("oci:{}:back", back.display())),
    );
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&back), names(&img.layout));
    for n in names(&img.layout) {
        let (a, b) = (
            img.layout.join("blobs/sha256").join(&n),
            back.join("blobs/sha256").join(&n),
        );
        assert!(fs::read(a).unwrap() == fs::read(b).unwrap(), "blob {n}");
    }
}

#[test]
fn mirror_without_destination_is_a_usage_error() {
    let out = Command::new(workspace_root().join("scripts/mirror"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: scripts/mirror"));
}

/// podman/buildah settings this machine needs (see shared FACTS): runc,
/// cgroupfs, file events, ulimits within the hard limit, and private
/// storage so the host's images are untouched.
fn podman_env(tmp: &TempDir) -> Vec<(String, String)> {
    let conf = tmp.join("containers.conf");
    fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
         [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )
    .unwrap();
    let mut env = containers_storage_env(tmp.path());
    env.push(("CONTAINERS_CONF".into(), conf.display().to_string()));
    env
}

#[test]
fn containerfile_builds_offline_with_buildah_and_runs_in_podman() {
    pause_bins();
    let tmp = TempDir::new("containerfile");
    let env = podman_env(&tmp);
    must(
        Command::new("buildah")
            .envs(env.clone())
            .args([
                "build",
                "--quiet",
                "--pull=never",
                "--network=none",
                "--platform",
                "linux/amd64",
            ])
            .args([
                "-t",
                "localhost/pause-containerfile:test",
                "-f",
                "Containerfile",
                ".",
            ])
            .current_dir(workspace_root()),
    );
    let inspect: Value =
        serde_json::from_str(&must(Command::new("podman").envs(env.clone()).args([
            "image",
            "inspect",
            "localhost/pause-containerfile:test",
        ])))
        .unwrap();
    assert_eq!(inspect[0]["Config"]["User"], "65535:65535");
    assert_eq!(
        inspect[0]["Config"]["Entrypoint"],
        serde_json::json!(["/pause"])
    );
    let out = must(Command::new("podman").envs(env.clone()).args([
        "run",
        "--rm",
        "--network=none",
        "localhost/pause-containerfile:test",
        "-v",
    ]));
    assert!(
        out.starts_with(&format!("pause {} (revision ", pause_version())),
        "{out}"
    );
    let out = must(
        Command::new("podman")
            .envs(env.clone())
            .args(["run", "--rm", "--network=none", "--entrypoint", "/pause"])
            .args(["localhost/pause-containerfile:test", "--", "/pause", "-h"]),
    );
    assert!(out.contains("usage: pause"), "{out}");
    let _ = Command::new("podman")
        .envs(env)
        .args(["rmi", "-af"])
        .output();
}

#[test]
fn source_date_epoch_sets_the_creation_time() {
    let tmp = TempDir::new("sde");
    let mut cmd = Command::new(workspace_root().join("scripts/build-image"));
    cmd.arg(tmp.join("img"))
        .env("SOURCE_DATE_EPOCH", "1700000000");
    let digest = must(&mut cmd).lines().last().unwrap().to_string();
    let index: Value =
        serde_json::from_slice(&fs::read(blob(&tmp.join("img"), &digest)).unwrap()).unwrap();
    assert_eq!(
        index["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_ne!(digest, image().digest, "another time, another digest");
}

#[test]
fn build_image_without_out_dir_is_a_usage_error() {
    let out = Command::new(workspace_root().join("scripts/build-image"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: scripts/build-image OUT_DIR"));
}
