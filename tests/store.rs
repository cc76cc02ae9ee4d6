//! podrun's image store: load (oci-archive, OCI layout, docker-archive),
//! images, rmi, and refusal of tampered content.

use blackbox::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The podrun binary, built once per test run.
pub fn podrun() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        must(
            Command::new("cargo")
                .args(["build", "--quiet", "-p", "podrun", "--bin", "podrun"])
                .current_dir(workspace_root()),
        );
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or(workspace_root().join("target"));
        dir.join("debug/podrun")
    })
}

pub fn run(root: &Path, args: &[&str]) -> Output {
    Command::new(podrun())
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

pub fn ok(root: &Path, args: &[&str]) -> String {
    let out = run(root, args);
    assert!(
        out.status.success(),
        "podrun {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// busybox from Debian's busybox-static, as an oci-archive and a
/// docker-archive named docker.io/library/busybox:latest, built once with
/// buildah (no network: FROM scratch).
pub struct Busybox {
    pub oci_archive: PathBuf,
    pub docker_archive: PathBuf,
}

pub fn busybox() -> &'static Busybox {
    static B: OnceLock<Busybox> = OnceLock::new();
    B.get_or_init(|| {
        require_root();
        let dir = workspace_root().join("target/blackbox/busybox");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("rootfs/bin")).unwrap();
        fs::copy("/bin/busybox", dir.join("rootfs/bin/busybox"))
            .expect("/bin/busybox (apt-get install busybox-static)");
        // Applet links, relative (busybox --install would point them at
        // this host's path).
        for applet in must(Command::new("/bin/busybox").arg("--list")).lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", dir.join("rootfs/bin").join(applet)).unwrap();
            }
        }
        let env = containers_storage_env(&dir);
        let ctr = must(
            Command::new("buildah")
                .envs(env.clone())
                .args(["from", "scratch"]),
        )
        .trim()
        .to_string();
        must(
            Command::new("buildah")
                .envs(env.clone())
                .args(["copy", &ctr])
                .arg(dir.join("rootfs"))
                .arg("/"),
        );
        must(Command::new("buildah").envs(env.clone()).args([
            "config",
            "--cmd",
            "/bin/sh",
            "--env",
            "PATH=/bin",
            &ctr,
        ]));
        let oci = dir.join("busybox-oci.tar");
        let docker = dir.join("busybox-docker.tar");
        must(Command::new("buildah").envs(env.clone()).args([
            "commit",
            "--quiet",
            &ctr,
            "localhost/bb",
        ]));
        must(
            Command::new("buildah")
                .envs(env.clone())
                .args(["push", "--quiet", "localhost/bb"])
                .arg(format!(
                    "oci-archive:{}:docker.io/library/busybox:latest",
                    oci.display()
                )),
        );
        must(
            Command::new("buildah")
                .envs(env.clone())
                .args(["push", "--quiet", "localhost/bb"])
                .arg(format!(
                    "docker-archive:{}:docker.io/library/busybox:latest",
                    docker.display()
                )),
        );
        let _ = Command::new("buildah")
            .envs(env)
            .args(["rm", "-a"])
            .output();
        Busybox {
            oci_archive: oci,
            docker_archive: docker,
        }
    })
}

/// Every blob's bytes hash to its name.
pub fn assert_blobs_intact(root: &Path) {
    for b in fs::read_dir(root.join("blobs/sha256")).unwrap() {
        let b = b.unwrap();
        let sum = must(Command::new("sha256sum").arg(b.path()));
        assert!(
            sum.starts_with(&*b.file_name().to_string_lossy()),
            "blob {:?} intact",
            b.file_name()
        );
    }
}

pub fn blob_count(root: &Path) -> usize {
    fs::read_dir(root.join("blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn tmp_is_empty(root: &Path) -> bool {
    fs::read_dir(root.join("tmp"))
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

#[test]
fn load_docker_archive_and_oci_archive_of_busybox() {
    let bb = busybox();
    for archive in [&bb.docker_archive, &bb.oci_archive] {
        let tmp = TempDir::new("store-bb");
        let root = tmp.join("store");
        let out = ok(&root, &["load", archive.to_str().unwrap()]);
        // buildah also names the docker-archive after its local name.
        assert!(
            out.lines()
                .any(|l| l == "Loaded image: docker.io/library/busybox:latest"),
            "{}: {out}",
            archive.display()
        );
        let images = ok(&root, &["images"]);
        let rows: Vec<&str> = images.lines().collect();
        assert!(rows[0].starts_with("REPOSITORY"), "{images}");
        assert_eq!(
            rows.len(),
            1 + out.lines().count(),
            "one row per name: {images}"
        );
        assert!(
            rows.iter()
                .any(|r| r.starts_with("docker.io/library/busybox") && r.contains(" latest ")),
            "{images}"
        );
        // The unpacked layer holds busybox and its applet links.
        let layers: Vec<PathBuf> = fs::read_dir(root.join("layers"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(layers.len(), 1);
        assert_eq!(
            fs::read(layers[0].join("bin/busybox")).unwrap(),
            fs::read("/bin/busybox").unwrap()
        );
        assert_eq!(
            fs::read_link(layers[0].join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        // The store is an OCI layout skopeo reads.
        let info: Value = serde_json::from_str(&must(Command::new("skopeo").arg("inspect").arg(
            format!("oci:{}:docker.io/library/busybox:latest", root.display()),
        )))
        .unwrap();
        assert_eq!(info["Architecture"], "amd64");
        assert!(tmp_is_empty(&root));
    }
}

#[test]
fn load_multi_platform_pause_image_picks_the_platform() {
    let tmp = TempDir::new("store-pause");
    let root = tmp.join("store");
    let archive = crate::image::image_archive();
    let out = ok(&root, &["load", archive.to_str().unwrap()]);
    assert_eq!(
        out,
        format!("Loaded image: localhost/pause-image:{}\n", pause_version())
    );
    let layer = fs::read_dir(root.join("layers"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        fs::read(layer.join("pause")).unwrap(),
        fs::read(&pause_bins()["amd64"]).unwrap()
    );
    // --platform picks another one, under the same name (replacing it).
    let layout = crate::image::image_layout();
    ok(
        &root,
        &[
            "load",
            "--platform",
            "linux/arm64",
            layout.to_str().unwrap(),
        ],
    );
    let info: Value =
        serde_json::from_str(&must(Command::new("skopeo").arg("inspect").arg(format!(
            "oci:{}:localhost/pause-image:{}",
            root.display(),
            pause_version()
        ))))
        .unwrap();
    assert_eq!(info["Architecture"], "arm64");
    // A platform the index lacks is named in the error with what there is.
    let out = run(
        &root,
        &[
            "load",
            "--platform",
            "linux/mips64",
            layout.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no image for linux/mips64") && err.contains("linux/arm/v7"),
        "{err}"
    );
}

#[test]
fn images_and_rmi_agree_with_the_store() {
    let bb = busybox();
    let tmp = TempDir::new("store-rmi");
    let root = tmp.join("store");
    ok(&root, &["load", bb.oci_archive.to_str().unwrap()]);
    ok(
        &root,
        &["load", crate::image::image_archive().to_str().unwrap()],
    );
    let index: Value = serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(ok(&root, &["images"]).lines().count(), 3);
    let before = blob_count(&root);
    // rmi takes the name as users type it.
    assert_eq!(
        ok(&root, &["rmi", "busybox"]),
        "Untagged: docker.io/library/busybox:latest\n"
    );
    let images = ok(&root, &["images"]);
    assert!(
        !images.contains("busybox") && images.contains("localhost/pause-image"),
        "{images}"
    );
    assert_eq!(
        blob_count(&root),
        before - 3,
        "busybox's manifest, config and layer are gone"
    );
    assert_eq!(fs::read_dir(root.join("layers")).unwrap().count(), 1);
    let out = run(&root, &["rmi", "busybox"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("image docker.io/library/busybox:latest: not in the store"));
    ok(
        &root,
        &["rmi", &format!("localhost/pause-image:{}", pause_version())],
    );
    assert_eq!(blob_count(&root), 0);
    assert_eq!(fs::read_dir(root.join("layers")).unwrap().count(), 0);
}

/// A blob whose bytes do not match its digest is refused, and the store
/// keeps nothing of that load.
#[test]
fn tampered_blob_is_refused_and_nothing_is_kept() {
    let tmp = TempDir::new("store-tamper");
    let layout = tmp.join("layout");
    must(
        Command::new("cp")
            .arg("-a")
            .arg(crate::image::image_layout())
            .arg(&layout),
    );
    // Flip one byte of the amd64 layer.
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blob = |d: &Value| {
        layout
            .join("blobs/sha256")
            .join(d.as_str().unwrap().strip_prefix("sha256:").unwrap())
    };
    let idx: Value =
        serde_json::from_slice(&fs::read(blob(&index["manifests"][0]["digest"])).unwrap()).unwrap();
    let man: Value =
        serde_json::from_slice(&fs::read(blob(&idx["manifests"][0]["digest"])).unwrap()).unwrap();
    let layer = blob(&man["layers"][0]["digest"]);
    let mut bytes = fs::read(&layer).unwrap();
    let n = bytes.len() / 2;
    bytes[n] ^= 0xff;
    fs::write(&layer, bytes).unwrap();

    let root = tmp.join("store");
    let out = run(&root, &["load", layout.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let digest = man["layers"][0]["digest"].as_str().unwrap();
    assert!(
        err.contains(digest) && err.contains("does not match its digest"),
        "{err}"
    );
    assert_eq!(blob_count(&root), 0, "nothing kept");
    assert!(tmp_is_empty(&root));
    assert_eq!(ok(&root, &["images"]).lines().count(), 1);

    // A store file tampered with after loading is refused on use.
    ok(
        &root,
        &["load", crate::image::image_archive().to_str().unwrap()],
    );
    let stored = root.join("blobs/sha256").join(
        idx["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap(),
    );
    let mut m = fs::read(&stored).unwrap();
    m[10] ^= 1;
    fs::write(&stored, m).unwrap();
    let out = run(&root, &["images"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("localhost/pause-image") && err.contains("does not match its digest"),
        "the damaged blob is named: {err}"
    );
    assert!(
        text.contains("localhost/pause-image") && text.contains(" ?"),
        "size unknown for a damaged image: {text}"
    );
}

#[test]
fn bad_input_files_are_named_in_the_error() {
    let tmp = TempDir::new("store-bad");
    let root = tmp.join("store");
    for (input, says) in [
        (
            "/etc/passwd",
            "not an oci-archive, OCI layout or docker-archive",
        ),
        ("/no/such/file.tar", "cannot read it"),
    ] {
        let out = run(&root, &["load", input]);
        assert_eq!(out.status.code(), Some(1), "{input}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(input) && err.contains(says), "{input}: {err}");
    }
    let out = run(&root, &["rmi", "Bad Name"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("image reference \"Bad Name\""));
    assert_eq!(blob_count(&root), 0);
}

/// An OCI layout holding one image whose only layer is `tar_py` (Python
/// tarfile code that adds members to `t`), built with Python's tarfile
/// (which, unlike Rust's tar crate, writes any name it is given).
fn layout_with_layer(dir: &Path, tar_py: &str) {
    layout_with_layer_and_diff_id(dir, tar_py, None)
}

/// As `layout_with_layer`, with the config's diff id replaced by `diff_id`.
fn layout_with_layer_and_diff_id(dir: &Path, tar_py: &str, diff_id: Option<&str>) {
    let script = format!(
        r#"
import gzip, hashlib, io, json, os, tarfile, sys
d = sys.argv[1]
os.makedirs(d + "/blobs/sha256", exist_ok=True)
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(d + "/blobs/sha256/" + h, "wb").write(b)
    return {{"digest": "sha256:" + h, "size": len(b)}}
def member(name, kind=tarfile.REGTYPE, data=b"x", link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
raw = io.BytesIO()
t = tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT)
{tar_py}
t.close()
layer = raw.getvalue()
diff = sys.argv[2] if len(sys.argv) > 2 else "sha256:" + hashlib.sha256(layer).hexdigest()
cfg = put(json.dumps({{"architecture": "amd64", "os": "linux", "rootfs": {{"type": "layers", "diff_ids": [diff]}}}}).encode())
lay = put(gzip.compress(layer, mtime=0))
man = put(json.dumps({{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [dict(lay, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}}).encode())
open(d + "/oci-layout", "w").write('{{"imageLayoutVersion":"1.0.0"}}')
open(d + "/index.json", "w").write(json.dumps({{"schemaVersion": 2, "manifests": [dict(man,
    mediaType="application/vnd.oci.image.manifest.v1+json",
    annotations={{"org.opencontainers.image.ref.name": "localhost/evil:1"}})]}}))
"#
    );
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).arg(dir);
    if let Some(d) = diff_id {
        cmd.arg(d);
    }
    must(&mut cmd);
}

/// Malicious layers loaded through the real command: each is refused with
/// the entry named, nothing lands outside the store (the victim file next
/// to it is untouched, no stray file appears), and the store keeps nothing.
#[test]
fn malicious_layers_are_refused_by_load() {
    let tmp = TempDir::new("store-evil");
    let victim = tmp.join("victim");
    fs::write(&victim, "original").unwrap();
    let v = victim.display().to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        ("dot-dot", "member('../../evil')".into(), "../../evil"),
        (
            "absolute",
            "member('/tmp/evil-abs')".into(),
            "/tmp/evil-abs",
        ),
        (
            "symlink escape",
            format!(
                "member('ln', tarfile.SYMTYPE, link='{}')\nmember('ln/evil')",
                tmp.path().display()
            ),
            "ln/evil",
        ),
        (
            "symlink to victim then write",
            format!("member('v', tarfile.SYMTYPE, link='{v}')\nmember('v/x')"),
            "v/x",
        ),
        (
            "hardlink escape",
            "member('h', tarfile.LNKTYPE, link='../../../victim')".into(),
            "h",
        ),
        (
            "hardlink absolute",
            "member('h', tarfile.LNKTYPE, link='/etc/passwd')".into(),
            "h",
        ),
        ("whiteout of ..", "member('a/.wh...')".into(), ".wh.."),
        (
            "nested dot-dot",
            "member('a/b/../../../evil')".into(),
            "evil",
        ),
    ];
    for (what, tar_py, names) in cases {
        let layout = tmp.join(&format!("layout-{}", what.replace(' ', "-")));
        layout_with_layer(&layout, &tar_py);
        let root = tmp.join("store");
        let out = run(&root, &["load", layout.to_str().unwrap()]);
        assert!(!out.status.success(), "{what}: loaded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("layer entry") && err.contains(names),
            "{what}: {err}"
        );
        assert_eq!(fs::read_to_string(&victim).unwrap(), "original", "{what}");
        assert_eq!(blob_count(&root), 0, "{what}: store keeps nothing");
        assert_eq!(
            fs::read_dir(root.join("layers")).unwrap().count(),
            0,
            "{what}"
        );
        assert!(tmp_is_empty(&root), "{what}");
    }
    assert!(!Path::new("/tmp/evil-abs").exists());
    // Only the victim, the store and the layouts: nothing escaped.
    for e in fs::read_dir(tmp.path()).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            n == "victim" || n == "store" || n.starts_with("layout-"),
            "stray {n}"
        );
    }
}

/// Four loads of the same image at once: all succeed, one image, every
/// blob intact, nothing left in staging.
#[test]
fn concurrent_loads_of_the_same_image_do_not_corrupt_the_store() {
    let bb = busybox();
    let tmp = TempDir::new("store-concurrent");
    let root = tmp.join("store");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(podrun())
                .arg("--root")
                .arg(&root)
                .arg("load")
                .arg(&bb.docker_archive)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert!(ok(&root, &["images"]).contains("docker.io/library/busybox"));
    assert_blobs_intact(&root);
    assert!(tmp_is_empty(&root));
}

/// A load killed at any moment leaves either the whole image or none of
/// it, and the next writer clears its staging.
#[test]
fn killed_load_leaves_nothing_half_visible() {
    let bb = busybox();
    let tmp = TempDir::new("store-killed");
    let root = tmp.join("store");
    for delay_ms in [0u64, 5, 20, 60] {
        let mut child = Command::new(podrun())
            .arg("--root")
            .arg(&root)
            .arg("load")
            .arg(&bb.docker_archive)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let images = ok(&root, &["images"]);
        if images.contains("busybox") {
            // Named means complete: its layer is unpacked.
            let layers = fs::read_dir(root.join("layers")).unwrap().count();
            assert!(layers >= 1, "after {delay_ms} ms: named but not unpacked");
            ok(&root, &["rmi", "docker.io/library/busybox:latest"]);
            let _ = run(&root, &["rmi", "localhost/bb:latest"]);
        }
        // The next writer clears what the killed one left.
        let _ = run(&root, &["rmi", "no-such-image"]);
        assert!(tmp_is_empty(&root), "after {delay_ms} ms");
    }
}

/// Regression: a config whose diff id was "sha256:../../../../etc" made the
/// store skip unpacking and verification and hand out the host's /etc as
/// a layer directory. A diff id must be a digest.
#[test]
fn diff_id_that_is_a_path_is_refused() {
    let tmp = TempDir::new("store-diffid");
    let layout = tmp.join("layout");
    layout_with_layer_and_diff_id(
        &layout,
        "member('ok')",
        Some("sha256:../../../../../../../../etc"),
    );
    let root = tmp.join("store");
    let out = run(&root, &["load", layout.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a sha256 digest"), "{err}");
    assert_eq!(ok(&root, &["images"]).lines().count(), 1, "no image named");
    assert_eq!(blob_count(&root), 0);
}

/// Regression: a repeated archive entry reused a staged file's name and
/// moved unverified bytes into the store. Now the later entry wins, as
/// with `tar -r`, and the load succeeds.
#[test]
fn repeated_archive_entries_load_like_tar_reads_them() {
    let bb = busybox();
    let tmp = TempDir::new("store-dup");
    let dup = tmp.join("dup.tar");
    let script = r#"
import sys, tarfile
src = tarfile.open(sys.argv[1]); out = tarfile.open(sys.argv[2], "w")
members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]
import io
for m, data in members + [x for x in members if x[0].name.endswith(".json") and x[0].name != "manifest.json"]:
    out.addfile(m, io.BytesIO(data) if data is not None else None)
out.close()
"#;
    must(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&bb.docker_archive)
            .arg(&dup),
    );
    let root = tmp.join("store");
    let out = ok(&root, &["load", dup.to_str().unwrap()]);
    assert!(out.contains("docker.io/library/busybox:latest"), "{out}");
    assert_blobs_intact(&root);
}

/// Regression: in an input with two images, a failure in the second left
/// the first named, taking the name (and then, through garbage collection,
/// the content) from the image that had it. Now nothing is named unless
/// every image of the input made it.
#[test]
fn failed_load_names_nothing_and_keeps_the_old_image() {
    let tmp = TempDir::new("store-atomic");
    let root = tmp.join("store");
    let archive = crate::image::image_archive();
    ok(&root, &["load", archive.to_str().unwrap()]);
    let before = ok(&root, &["images"]);
    let blobs_before = blob_count(&root);
    // The same layout (named like the archive, so its image gets the name
    // already stored) with a second image whose manifest is missing.
    let layout = tmp.join("pause-image");
    must(
        Command::new("cp")
            .arg("-a")
            .arg(crate::image::image_layout())
            .arg(&layout),
    );
    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let mut broken = index["manifests"][0].clone();
    broken["digest"] = Value::String(format!("sha256:{}", "0".repeat(64)));
    broken["mediaType"] = Value::String("application/vnd.oci.image.manifest.v1+json".into());
    broken["annotations"]["org.opencontainers.image.ref.name"] =
        Value::String("localhost/broken:1".into());
    index["manifests"].as_array_mut().unwrap().push(broken);
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let out = run(
        &root,
        &[
            "load",
            "--platform",
            "linux/arm64",
            layout.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not hold"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ok(&root, &["images"]),
        before,
        "the stored image keeps its name"
    );
    assert_eq!(blob_count(&root), blobs_before, "and its content");
    let info: Value =
        serde_json::from_str(&must(Command::new("skopeo").arg("inspect").arg(format!(
            "oci:{}:localhost/pause-image:{}",
            root.display(),
            pause_version()
        ))))
        .unwrap();
    assert_eq!(
        info["Architecture"], "amd64",
        "not replaced by the arm64 image of the failed load"
    );
}

/// A writer that finds the store locked says so, waits, then goes on.
#[test]
fn a_writer_waiting_for_the_lock_says_so() {
    let tmp = TempDir::new("store-wait");
    let root = tmp.join("store");
    ok(&root, &["images"]);
    // Hold the writers' lock for a moment, as another podrun would.
    fs::write(root.join("lock"), "").unwrap();
    let holder = Command::new("flock")
        .arg(root.join("lock"))
        .args(["sleep", "1"])
        .spawn()
        .unwrap();
    let mut holder = Guard(holder);
    assert!(wait_until(std::time::Duration::from_secs(5), || {
        // flock(1) holds it once sleep runs under it.
        children_of(holder.pid())
            .iter()
            .any(|(p, _)| exe_of(*p).is_some_and(|e| e.ends_with("sleep")))
    }));
    let out = run(&root, &["rmi", "no-such-image"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("waiting for the image store"), "{err}");
    assert!(err.contains("not in the store"), "then it went on: {err}");
    assert!(holder.wait().unwrap().success());
}
