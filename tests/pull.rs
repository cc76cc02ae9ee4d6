//! `podrun pull` against a docker-registry on 127.0.0.1: tags, digests,
//! multi-platform indexes, mirrors from registries.conf, basic auth, and
//! refusal of bad content and of plain HTTP where it was not allowed.

use crate::store::{blob_count, busybox, podrun};
use blackbox::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pull(root: &Path, args: &[&str]) -> Output {
    let mut all = vec!["pull", "--quiet"];
    all.extend(args);
    crate::store::run(root, &all)
}

fn pull_ok(root: &Path, args: &[&str]) -> String {
    let mut all = vec!["pull", "--quiet"];
    all.extend(args);
    crate::store::ok(root, &all)
}

/// An auth.json named `file` in `dir` that gives `registry` the base64
/// `user:password` in `auth` (None: an auth file without entries).
fn auth_file(dir: &TempDir, file: &str, registry: &str, auth: Option<&str>) -> PathBuf {
    let path = dir.join(file);
    let entries = auth
        .map(|a| format!(r#""{registry}":{{"auth":"{a}"}}"#))
        .unwrap_or_default();
    fs::write(&path, format!(r#"{{"auths":{{{entries}}}}}"#)).unwrap();
    path
}

fn pull_with_authfile(root: &Path, authfile: &Path, name: &str) -> Output {
    pull(
        root,
        &[
            "--insecure-loopback",
            "--authfile",
            authfile.to_str().unwrap(),
            name,
        ],
    )
}

fn push(archive: &str, dest: &str, extra: &[&str]) {
    must(
        Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--all",
                "--preserve-digests",
                "--dest-tls-verify=false",
            ])
            .args(extra)
            .arg(archive)
            .arg(format!("docker://{dest}")),
    );
}

fn skopeo_inspect(reference: &str, raw: bool) -> Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false"]);
    if raw {
        cmd.arg("--raw");
    }
    serde_json::from_str(&must(cmd.arg(format!("docker://{reference}")))).unwrap()
}

/// The stored manifest of `name`, from the store's index.json.
fn stored_manifest(root: &Path, name: &str) -> (String, Value) {
    let index: Value = serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    let d = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} in {index}"))
        .clone();
    let digest = d["digest"].as_str().unwrap().to_string();
    let path = root
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap());
    (
        digest,
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap(),
    )
}

fn oci(archive: &Path) -> String {
    format!("oci-archive:{}", archive.display())
}

#[test]
fn pull_by_tag_and_by_digest_gives_what_skopeo_sees() {
    let registry = Registry::start();
    let bb = busybox();
    let name = format!("{}/library/busybox:latest", registry.addr);
    push(&oci(&bb.oci_archive), &name, &[]);
    let tmp = TempDir::new("pull-tag");
    let root = tmp.join("store");
    assert_eq!(
        pull_ok(&root, &["--insecure-loopback", &name]),
        format!("Pulled image: {name}\n")
    );
    let (digest, manifest) = stored_manifest(&root, &name);
    let seen = skopeo_inspect(&name, false);
    assert_eq!(seen["Digest"], digest.as_str(), "manifest digest");
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    let seen_layers: Vec<&str> = seen["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(layers, seen_layers);
    let raw = skopeo_inspect(&name, true);
    assert_eq!(
        manifest["config"]["digest"], raw["config"]["digest"],
        "config digest"
    );

    // By digest, into a fresh store: same manifest, named with the digest.
    let by_digest = format!("{}/library/busybox@{digest}", registry.addr);
    let root2 = tmp.join("store2");
    assert_eq!(
        pull_ok(&root2, &["--insecure-loopback", &by_digest]),
        format!("Pulled image: {by_digest}\n")
    );
    assert_eq!(stored_manifest(&root2, &by_digest).0, digest);
    let images = String::from_utf8(
        Command::new(podrun())
            .arg("--root")
            .arg(&root2)
            .arg("images")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        images.contains(&format!("{}/library/busybox", registry.addr)) && images.contains("<none>"),
        "{images}"
    );
}

#[test]
fn pull_multi_platform_index_picks_the_platform() {
    let registry = Registry::start();
    let name = format!("{}/k8s/pause:{}", registry.addr, pause_version());
    push(
        &format!("{}:{}", oci(crate::image::image_archive()), pause_version()),
        &name,
        &[],
    );
    let index = skopeo_inspect(&name, true);
    let tmp = TempDir::new("pull-platform");
    for (platform, arch) in [
        ("linux/amd64", "amd64"),
        ("linux/arm64", "arm64"),
        ("linux/arm/v7", "arm"),
    ] {
        let root = tmp.join(arch);
        pull_ok(
            &root,
            &["--insecure-loopback", "--platform", platform, &name],
        );
        let (digest, manifest) = stored_manifest(&root, &name);
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["digest"] == digest.as_str())
            .expect("the stored manifest is one of the index's");
        assert_eq!(entry["platform"]["architecture"], arch);
        // The unpacked layer is that platform's pause.
        let diff = manifest["layers"].as_array().unwrap().len();
        assert_eq!(diff, 1);
        let layer = fs::read_dir(root.join("layers"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert_eq!(
            fs::read(layer.join("pause")).unwrap(),
            fs::read(&pause_bins()[arch]).unwrap(),
            "{arch}"
        );
    }
    let out = pull(
        &tmp.join("none"),
        &["--insecure-loopback", "--platform", "linux/mips64", &name],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no image for linux/mips64") && err.contains("linux/riscv64"),
        "{err}"
    );
}

/// `busybox` resolves to docker.io/library/busybox:latest and, through a
/// registries.conf mirror, is fetched from the loopback registry — after a
/// first mirror that is down. The Pod YAML never changes.
#[test]
fn short_name_is_fetched_through_a_registries_conf_mirror() {
    let registry = Registry::start();
    push(
        &oci(&busybox().oci_archive),
        &format!("{}/library/busybox:latest", registry.addr),
        &[],
    );
    let tmp = TempDir::new("pull-mirror");
    let conf = tmp.join("registries.conf");
    fs::write(
        &conf,
        format!(
            "unqualified-search-registries = [\"docker.io\"]\n\
             [[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n\
             [[registry.mirror]]\nlocation = \"127.0.0.1:{}\"\ninsecure = true\n\
             [[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n",
            free_port(),
            registry.addr
        ),
    )
    .unwrap();
    let root = tmp.join("store");
    let out = pull_ok(
        &root,
        &["--registries-conf", conf.to_str().unwrap(), "busybox"],
    );
    assert_eq!(out, "Pulled image: docker.io/library/busybox:latest\n");
    let (digest, _) = stored_manifest(&root, "docker.io/library/busybox:latest");
    assert_eq!(
        skopeo_inspect(&format!("{}/library/busybox:latest", registry.addr), false)["Digest"],
        digest.as_str()
    );
    // A registries.conf that is not TOML is named in the error.
    fs::write(&conf, "[[registry]\n").unwrap();
    let out = pull(
        &root,
        &["--registries-conf", conf.to_str().unwrap(), "busybox"],
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("registries.conf {}", conf.display())));
}

#[test]
fn basic_auth_from_an_auth_file() {
    let registry = Registry::start_with_auth(Some(("alice", "s3cr3t")));
    let name = format!("{}/private/busybox:1", registry.addr);
    push(
        &oci(&busybox().oci_archive),
        &name,
        &["--dest-creds", "alice:s3cr3t"],
    );
    let tmp = TempDir::new("pull-auth");
    let root = tmp.join("store");
    // No credentials: refused, and the error says where they would come from.
    let empty = auth_file(&tmp, "empty.json", &registry.addr, None);
    let out = pull_with_authfile(&root, &empty, &name);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unauthorized") && err.contains("auth.json"),
        "{err}"
    );
    // Wrong password: refused.
    // base64("alice:wrong")
    let bad = auth_file(&tmp, "bad.json", &registry.addr, Some("YWxpY2U6d3Jvbmc="));
    let out = pull_with_authfile(&root, &bad, &name);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"));
    // Right one (base64 of alice:s3cr3t), here through REGISTRY_AUTH_FILE.
    let good = auth_file(&tmp, "auth.json", &registry.addr, Some("YWxpY2U6czNjcjN0"));
    let out = Command::new(podrun())
        .arg("--root")
        .arg(&root)
        .args(["pull", "--quiet", "--insecure-loopback", &name])
        .env("REGISTRY_AUTH_FILE", &good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(blob_count(&root), 3);
}

/// A registry serving a blob whose bytes do not match its digest: refused,
/// named, and nothing kept.
#[test]
fn registry_blob_with_the_wrong_content_is_refused() {
    let registry = Registry::start();
    let name = format!("{}/library/busybox:latest", registry.addr);
    push(&oci(&busybox().oci_archive), &name, &[]);
    let layer = skopeo_inspect(&name, false)["Layers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let hex = layer.strip_prefix("sha256:").unwrap();
    let data: PathBuf = registry.dir.join(&format!(
        "data/docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = fs::read(&data).unwrap();
    let n = bytes.len() / 3;
    bytes[n] ^= 0x55;
    fs::write(&data, bytes).unwrap();
    let tmp = TempDir::new("pull-tamper");
    let root = tmp.join("store");
    let out = pull(&root, &["--insecure-loopback", &name]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&layer) && err.contains("does not match its digest"),
        "{err}"
    );
    assert_eq!(blob_count(&root), 0, "nothing kept");
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(root.join("layers")).unwrap().count(), 0);
}

#[test]
fn plain_http_needs_insecure_loopback_or_an_insecure_registry() {
    let registry = Registry::start();
    let name = format!("{}/library/busybox:latest", registry.addr);
    push(&oci(&busybox().oci_archive), &name, &[]);
    let tmp = TempDir::new("pull-http");
    let out = pull(&tmp.join("store"), &[&name]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("https://") && err.contains("--insecure-loopback"),
        "{err}"
    );
    // Marked insecure in registries.conf, it works.
    let conf = tmp.join("registries.conf");
    fs::write(
        &conf,
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            registry.addr
        ),
    )
    .unwrap();
    pull_ok(
        &tmp.join("store"),
        &["--registries-conf", conf.to_str().unwrap(), &name],
    );
    // A tag that is not there is a clear 404.
    let out = pull(
        &tmp.join("store"),
        &[
            "--insecure-loopback",
            &format!("{}/library/busybox:nope", registry.addr),
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404 not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A progress bar on a terminal (run under `script`, which gives the
/// command a pty); none when stderr is not a terminal.
#[test]
fn progress_bar_only_on_a_terminal() {
    let registry = Registry::start();
    let name = format!("{}/library/busybox:latest", registry.addr);
    push(&oci(&busybox().oci_archive), &name, &[]);
    let tmp = TempDir::new("pull-progress");
    let cmd = format!(
        "{} --root {} pull --insecure-loopback {name}",
        podrun().display(),
        tmp.join("tty").display()
    );
    let out = must(Command::new("script").args(["-qec", &cmd, "/dev/null"]));
    assert!(
        out.contains("Copying blob") && out.contains(" MB") && out.contains('='),
        "{out:?}"
    );
    let out = Command::new(podrun())
        .arg("--root")
        .arg(tmp.join("pipe"))
        .args(["pull", "--insecure-loopback", &name])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "quiet when not a terminal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Docker v2 schema 2 manifests (what skopeo pushes from a docker-archive)
/// are pulled as well as OCI ones, and kept as they are.
#[test]
fn docker_schema2_manifests_are_pulled() {
    let registry = Registry::start();
    let name = format!("{}/library/busybox:v2s2", registry.addr);
    push(
        &format!("docker-archive:{}", busybox().docker_archive.display()),
        &name,
        &[],
    );
    let raw = skopeo_inspect(&name, true);
    assert_eq!(
        raw["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let tmp = TempDir::new("pull-v2s2");
    let root = tmp.join("store");
    pull_ok(&root, &["--insecure-loopback", &name]);
    let (digest, manifest) = stored_manifest(&root, &name);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(skopeo_inspect(&name, false)["Digest"], digest.as_str());
    let layer = fs::read_dir(root.join("layers"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        fs::read(layer.join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
}

/// Four pulls of the same image into one store at once: all succeed, one
/// image, every blob intact, nothing left in staging.
#[test]
fn concurrent_pulls_of_the_same_image_do_not_corrupt_the_store() {
    let registry = Registry::start();
    let name = format!("{}/library/busybox:latest", registry.addr);
    push(&oci(&busybox().oci_archive), &name, &[]);
    let tmp = TempDir::new("pull-concurrent");
    let root = tmp.join("store");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(podrun())
                .arg("--root")
                .arg(&root)
                .args(["pull", "--quiet", "--insecure-loopback", &name])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(
        stored_manifest(&root, &name).0,
        skopeo_inspect(&name, false)["Digest"].as_str().unwrap()
    );
    crate::store::assert_blobs_intact(&root);
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}

/// A pull killed at any moment leaves either the whole image or none of it.
#[test]
fn killed_pull_leaves_nothing_half_visible() {
    let registry = Registry::start();
    let name = format!("{}/library/busybox:latest", registry.addr);
    push(&oci(&busybox().oci_archive), &name, &[]);
    let tmp = TempDir::new("pull-killed");
    let root = tmp.join("store");
    for delay_ms in [0u64, 10, 30, 80] {
        let mut child = Command::new(podrun())
            .arg("--root")
            .arg(&root)
            .args(["pull", "--quiet", "--insecure-loopback", &name])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let images = crate::store::ok(&root, &["images"]);
        if images.contains("busybox") {
            assert!(
                fs::read_dir(root.join("layers")).unwrap().count() >= 1,
                "named means unpacked"
            );
            crate::store::ok(&root, &["rmi", &name]);
        }
        let _ = crate::store::run(&root, &["rmi", "no-such-image"]);
        assert_eq!(
            fs::read_dir(root.join("tmp")).unwrap().count(),
            0,
            "after {delay_ms} ms"
        );
    }
}

/// The distribution token flow (what Harbor, GitLab, Docker Hub and most
/// mirrors use): the registry answers 401 with a Bearer challenge, podrun
/// asks the token service (tests/token_server.py, on 127.0.0.1) with the
/// auth file's credentials, and pulls with the token.
#[test]
fn bearer_token_auth_from_an_auth_file() {
    let dir = TempDir::new("registry-token");
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    must(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=test-token",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    let token_port = free_port();
    let server = Command::new("python3")
        .arg(workspace_root().join("tests/token_server.py"))
        .arg(token_port.to_string())
        .args([&key, &cert])
        .args(["bob", "hunter2"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3 tests/token_server.py");
    let _server = Guard(server);
    assert!(wait_until(std::time::Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", token_port)).is_ok()
    }));
    let extra = format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: test-registry\n    \
         issuer: test-issuer\n    rootcertbundle: {}\n",
        cert.display()
    );
    let registry = Registry::start_in(dir, &extra);
    let name = format!("{}/library/busybox:latest", registry.addr);
    push(
        &oci(&busybox().oci_archive),
        &name,
        &["--dest-creds", "bob:hunter2"],
    );

    let tmp = TempDir::new("pull-token");
    let root = tmp.join("store");
    let empty = auth_file(&tmp, "empty.json", &registry.addr, None);
    let out = pull_with_authfile(&root, &empty, &name);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("token service refused"), "{err}");
    // base64("bob:hunter2")
    let auth = auth_file(&tmp, "auth.json", &registry.addr, Some("Ym9iOmh1bnRlcjI="));
    let out = pull_with_authfile(&root, &auth, &name);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stored_manifest(&root, &name).0,
        must(
            Command::new("skopeo")
                .args([
                    "inspect",
                    "--tls-verify=false",
                    "--creds",
                    "bob:hunter2",
                    "--format",
                    "{{.Digest}}"
                ])
                .arg(format!("docker://{name}"))
        )
        .trim()
    );
}
