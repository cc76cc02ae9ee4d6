//! The pause image in real container runtimes: containerd 1.6 pulls it by
//! digest from a local registry and runs it as the CRI pod sandbox; podman
//! 4.3 runs it as a pod's infra container.
//!
//! Both runtimes leave helpers behind that outlive the command which
//! started them (containerd's runc shims, podman's conmon): they detach and
//! are re-parented to the nearest child subreaper, else to PID 1, which on
//! these machines never reaps them (FACTS.md). So each runtime runs under
//! our own pause in init mode (`pause -- CMD`), which is a subreaper: all a
//! runtime starts stays below one child of this test, is reaped, and can be
//! found and killed on teardown (`Supervised`).

use blackbox::*;
use serde_json::Value;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::Duration;

const SECS: Duration = Duration::from_secs(10);
/// Bound on one podman command (pod start is well under a second here).
const PODMAN_TIMEOUT: Duration = Duration::from_secs(60);
const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

// ---- containerd ------------------------------------------------------------

/// containerd pulls the image from a registry by the digest
/// scripts/build-image printed, and its CRI RunPodSandbox runs our /pause
/// as uid 65535 (the image's User) and PID 1 of the pod's PID namespace.
#[test]
fn containerd_runs_our_pause_as_the_sandbox() {
    require_root();
    let img = image();
    let cri = cri_sandbox();
    let tmp = TempDir::new("containerd");
    let registry = Registry::start();
    let repo = format!("{}/k8s/pause", registry.addr);
    must(
        Command::new(tool("skopeo"))
            .args(["copy", "--quiet", "--all", "--preserve-digests"])
            .arg("--dest-tls-verify=false")
            .arg(format!("oci-archive:{}:{}", img.archive.display(), img.tag))
            .arg(format!("docker://{repo}:{}", img.tag)),
    );
    let pinned = format!("{repo}@{}", img.digest);
    let mut ctd = Containerd::start(&tmp.join("containerd"), &registry.addr, &pinned, cri);

    let run = ctd.run_sandbox("pause-test");
    let id = run["id"].as_str().expect("run prints the sandbox id");
    let pid = run["pid"].as_i64().expect("run prints the sandbox pid") as i32;
    assert_eq!(run["state"], "SANDBOX_READY", "{run}");
    let shim_socket = ctd.sandboxes[0].1.clone();
    assert!(shim_socket.exists(), "the shim listens on {shim_socket:?}");
    assert_is_our_pause(pid);
    let st = status(pid).unwrap();
    assert_eq!((st.uid, st.gid), (65535, 65535), "the image's User");
    assert_eq!(
        ns_pids(pid).last(),
        Some(&1),
        "pause is PID 1 of the pod's PID namespace"
    );

    // Pulled by the pinned digest: the reference containerd stored is the
    // one sandbox_image names, and its target is our index.
    let images = ctd.ctr(&["images", "ls"]);
    assert!(
        images.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&pinned.as_str()) && cols.get(2) == Some(&img.digest.as_str())
        }),
        "containerd has {pinned} with target {}:\n{images}",
        img.digest
    );

    ctd.cri(&["stop", id]);
    assert!(
        wait_until(SECS, || status(pid).is_none()),
        "StopPodSandbox: pause {pid} is gone"
    );
    let st: Value = serde_json::from_str(&ctd.cri(&["status", id])).unwrap();
    assert_eq!(st["state"], "SANDBOX_NOTREADY", "{st}");
    ctd.cri(&["remove", id]);
    let err = ctd.cri_fails(&["status", id]);
    assert!(err.contains("not found"), "{err}");
    assert!(
        wait_until(SECS, || !shim_socket.exists()),
        "the shim removed {shim_socket:?}"
    );
    ctd.shutdown();
}

/// containerd under a temp dir: config, root, state, socket, runc state and
/// the registry's hosts.toml (plain HTTP) all there. The runc shim's socket
/// still goes to /run/containerd/s (FACTS.md).
struct Containerd {
    sup: Supervised,
    socket: PathBuf,
    cri: &'static Path,
    /// Sandboxes (id, shim socket) to clean up if the test fails.
    sandboxes: Vec<(String, PathBuf)>,
    clean: bool,
}

impl Containerd {
    fn start(dir: &Path, registry: &str, sandbox_image: &str, cri: &'static Path) -> Containerd {
        let hosts = dir.join("certs.d").join(registry);
        fs::create_dir_all(&hosts).unwrap();
        fs::create_dir_all(dir.join("cni")).unwrap();
        // containerd 1.6 reads per-registry settings from config_path
        // (the `registry.mirrors` table works too, but is deprecated).
        fs::write(
            hosts.join("hosts.toml"),
            format!(
                "server = \"http://{registry}\"\n\
                 [host.\"http://{registry}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
        )
        .unwrap();
        let d = dir.display();
        let socket = dir.join("containerd.sock");
        // restrict_oom_score_adj: we lack CAP_SYS_RESOURCE (FACTS.md).
        // An empty CNI conf_dir: the host's CNI config must not matter;
        // the sandbox uses the host network.
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{d}/certs.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    Root = "{d}/runc"
"#
        );
        fs::write(dir.join("config.toml"), config).unwrap();
        let log = fs::File::create(dir.join("containerd.log")).unwrap();
        let sup = Supervised::spawn(
            "containerd",
            dir,
            Command::new(pause())
                .arg("--")
                .arg(tool("containerd"))
                .arg("--config")
                .arg(dir.join("config.toml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        );
        let ctd = Containerd {
            sup,
            socket,
            cri,
            sandboxes: Vec::new(),
            clean: false,
        };
        let up = wait_until(SECS, || {
            ctd.socket.exists()
                && ctr_command(&ctd.socket, &["version"])
                    .output()
                    .is_ok_and(|o| o.status.success())
        });
        assert!(
            up,
            "containerd did not come up; its log:\n{}",
            fs::read_to_string(dir.join("containerd.log")).unwrap_or_default()
        );
        ctd
    }

    /// RunPodSandbox (through cri-sandbox); its JSON line.
    fn run_sandbox(&mut self, name: &str) -> Value {
        let out = self.cri(&["run", "--name", name, "--namespace", "blackbox"]);
        let run: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out:?}: {e}"));
        if let Some(id) = run["id"].as_str() {
            self.sandboxes
                .push((id.to_string(), shim_socket(&self.socket, id)));
        }
        run
    }

    fn ctr(&self, args: &[&str]) -> String {
        must(&mut ctr_command(&self.socket, args))
    }

    fn cri(&self, args: &[&str]) -> String {
        must(
            Command::new(self.cri)
                .arg("--socket")
                .arg(&self.socket)
                .args(args),
        )
    }

    /// Runs cri-sandbox expecting failure; returns its stderr.
    fn cri_fails(&self, args: &[&str]) -> String {
        let out = Command::new(self.cri)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "cri-sandbox {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The clean end: no shim or sandbox left once the sandbox is removed,
    /// containerd exits on SIGTERM, and no mount is left under its dirs.
    fn shutdown(mut self) {
        self.clean = true;
        self.sup.expect_no_leftovers();
        let status = self.sup.stop();
        assert!(status.success(), "containerd exited with {status:?}");
        self.sup.expect_no_mounts();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.clean {
            return;
        }
        if let Ok(log) = fs::read_to_string(self.sup.dir.join("containerd.log")) {
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("containerd log (last lines):\n{}", tail.join("\n"));
        }
        // A failed test: stop and remove its sandboxes through CRI, so the
        // shims exit and clean up after themselves...
        for (id, _) in &self.sandboxes {
            for verb in ["stop", "remove"] {
                let _ = Command::new(self.cri)
                    .arg("--socket")
                    .arg(&self.socket)
                    .args([verb, id])
                    .output();
            }
        }
        // ...and if that did not work, kill what is left (a container's
        // PID 1 takes its namespace along) and remove the shim sockets a
        // killed shim leaves in /run/containerd/s.
        self.sup.kill_all();
        for (_, socket) in &self.sandboxes {
            let _ = fs::remove_file(socket);
        }
    }
}

/// Where containerd 1.6's runc shim for sandbox `id` listens:
/// /run/containerd/s/<sha256 of "ADDRESS/NAMESPACE/ID"> (runtime/v2/shim
/// `SocketAddress`), whatever containerd's own state dir is.
fn shim_socket(address: &Path, id: &str) -> PathBuf {
    let mut sum = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    let key = format!("{}/k8s.io/{id}", address.display());
    sum.stdin.take().unwrap().write_all(key.as_bytes()).unwrap();
    let out = sum.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    Path::new("/run/containerd/s").join(hex.split_whitespace().next().unwrap())
}

fn ctr_command(socket: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(tool("ctr"));
    cmd.arg("--address")
        .arg(socket)
        .args(["--namespace", "k8s.io"])
        .args(args);
    cmd
}

/// The cri-sandbox binary (tests/cri-client), built once per test run.
/// Cargo gives integration tests the paths of their own package's binaries
/// only, so we ask cargo to build it and report where it put it
/// (`--message-format=json`): that holds for any CARGO_TARGET_DIR or
/// profile, and a stale binary can never be picked up.
fn cri_sandbox() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let out = must(
            Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "cri-client",
                    "--bin",
                    "cri-sandbox",
                ])
                .arg("--message-format=json-render-diagnostics")
                .current_dir(workspace_root())
                .stderr(Stdio::inherit()),
        );
        out.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "cri-sandbox")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the cri-sandbox executable")
    })
}

// ---- podman ----------------------------------------------------------------

/// podman runs our image as a pod's infra container (`infra_image` in
/// containers.conf) and removes it without leaving a process behind.
#[test]
fn podman_pod_uses_our_pause_as_infra() {
    require_root();
    let img = image();
    let tmp = TempDir::new("podman");
    let infra_image = format!("localhost/k8s/pause:{}", img.tag);
    let mut pm = Podman::start(&tmp.join("podman"), &infra_image);

    // `podman load` names the image after the layout's ref.name (a bare
    // tag, so "localhost/0.1.0:latest"); give it the infra_image name.
    let loaded = pm.must(&["load", "-i", img.archive.to_str().unwrap()]);
    let name = loaded
        .lines()
        .find_map(|l| {
            l.split_once(": ")
                .filter(|(k, _)| k.starts_with("Loaded image"))
        })
        .and_then(|(_, names)| names.split(',').next())
        .unwrap_or_else(|| panic!("podman load names the image:\n{loaded}"))
        .trim()
        .to_string();
    pm.must(&["tag", &name, &infra_image]);

    pm.must(&["pod", "create", "--name", "pause-test", "--network", "none"]);
    pm.must(&["pod", "start", "pause-test"]);
    let infra = pm.must(&[
        "pod",
        "inspect",
        "pause-test",
        "--format",
        "{{.InfraContainerID}}",
    ]);
    let infra = infra.trim();
    let inspect: Value = serde_json::from_str(&pm.must(&["inspect", infra])).unwrap();
    let ctr = &inspect[0];
    assert_eq!(ctr["ImageName"], infra_image.as_str(), "infra image");
    assert_eq!(ctr["State"]["Running"], true, "{}", ctr["State"]);
    let pid = ctr["State"]["Pid"].as_i64().unwrap() as i32;
    let conmon = ctr["State"]["ConmonPid"].as_i64().unwrap() as i32;
    assert_is_our_pause(pid);
    // No uid check here: podman clears the User of infra containers on
    // purpose (pkg/specgen/generate/pod_create.go: "infraSpec user will
    // get incorrectly assigned ..., overwrite here"), so the infra runs as
    // root whatever the image says. containerd honours it (test above).
    assert_eq!(
        ns_pids(pid).last(),
        Some(&1),
        "pause is PID 1 of the infra container's PID namespace"
    );
    assert!(alive(conmon), "conmon {conmon} runs the infra container");

    pm.must(&["pod", "rm", "-f", "pause-test"]);
    assert!(
        wait_until(SECS, || status(pid).is_none() && status(conmon).is_none()),
        "pod rm: pause {pid} and conmon {conmon} are gone"
    );
    assert_eq!(pm.must(&["ps", "-a", "-q"]).trim(), "", "no container left");
    assert_eq!(pm.must(&["pod", "ps", "-q"]).trim(), "", "no pod left");
    pm.shutdown();
}

/// podman with its own containers.conf, storage, runc state, locks and
/// event log under a temp dir. Its commands run one at a time in a shell
/// under pause (see the module doc): conmon, which detaches from podman,
/// stays below that pause.
struct Podman {
    sup: Supervised,
    dir: PathBuf,
    sh: Option<ChildStdin>,
    lines: Receiver<String>,
    base: Vec<String>,
    n: usize,
    clean: bool,
}

impl Podman {
    fn start(dir: &Path, infra_image: &str) -> Podman {
        fs::create_dir_all(dir).unwrap();
        let d = dir.display();
        // The machine's settings (FACTS.md) plus everything podman would
        // otherwise keep in /run/libpod, /dev/shm (lock_type "file") and
        // /etc/containers/networks.
        fs::write(
            dir.join("containers.conf"),
            format!(
                r#"[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
infra_image = "{infra_image}"
tmp_dir = "{d}/tmp"
lock_type = "file"
[network]
network_config_dir = "{d}/networks"
"#
            ),
        )
        .unwrap();
        // Only so the host's storage.conf (extra stores, options) does not
        // apply; the paths are also on every command line below.
        fs::write(
            dir.join("storage.conf"),
            format!("[storage]\ndriver = \"overlay\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n"),
        )
        .unwrap();
        let base = [
            tool("podman").display().to_string(),
            format!("--root={d}/root"),
            format!("--runroot={d}/runroot"),
            "--storage-driver=overlay".into(),
            // runc keeps its container state here instead of /run/runc.
            format!("--runtime-flag=root={d}/runc"),
        ]
        .to_vec();
        let mut sup = Supervised::spawn(
            "podman shell",
            dir,
            Command::new(pause())
                .args(["--", "sh"])
                .env("CONTAINERS_CONF", dir.join("containers.conf"))
                .env("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        let sh = sup.pause.stdin.take();
        let out = BufReader::new(sup.pause.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Podman {
            sup,
            dir: dir.to_path_buf(),
            sh,
            lines,
            base,
            n: 0,
            clean: false,
        }
    }

    /// Runs `podman ARGS` in the shell; its stdout, or its exit code and
    /// stderr.
    fn run(&mut self, args: &[&str]) -> Result<String, String> {
        self.n += 1;
        let (out, err) = (
            self.dir.join(format!("out.{}", self.n)),
            self.dir.join(format!("err.{}", self.n)),
        );
        let words: Vec<String> = self
            .base
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .map(quote)
            .collect();
        let line = format!(
            "{} >{} 2>{} </dev/null; echo \"rc=$?\"\n",
            words.join(" "),
            quote(out.to_str().unwrap()),
            quote(err.to_str().unwrap())
        );
        let sh = self.sh.as_mut().expect("the podman shell is open");
        sh.write_all(line.as_bytes())
            .and_then(|_| sh.flush())
            .map_err(|e| format!("writing to the podman shell: {e}"))?;
        let rc = self
            .lines
            .recv_timeout(PODMAN_TIMEOUT)
            .map_err(|_| format!("podman {args:?} did not finish in {PODMAN_TIMEOUT:?}"))?;
        let stdout = fs::read_to_string(&out).unwrap_or_default();
        if rc == "rc=0" {
            Ok(stdout)
        } else {
            let stderr = fs::read_to_string(&err).unwrap_or_default();
            Err(format!("podman {args:?}: {rc}\n{stdout}{stderr}"))
        }
    }

    fn must(&mut self, args: &[&str]) -> String {
        self.run(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The clean end: nothing left below the shell, the shell exits on
    /// end of input, no mount is left under the temp dir.
    fn shutdown(mut self) {
        self.clean = true;
        self.sup.expect_no_leftovers();
        self.sh = None;
        let status = self.sup.wait(SECS);
        assert!(status.success(), "the podman shell exited with {status:?}");
        self.sup.expect_no_mounts();
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if !self.clean && self.sh.is_some() {
            // A failed test: let podman remove what it can before the
            // Supervised guard kills what is left.
            let _ = self.run(&["pod", "rm", "-f", "-a"]);
            let _ = self.run(&["rm", "-f", "-a"]);
        }
        // The shell stays open: were it to exit now, pause would exit too
        // and whatever is still running would go to PID 1. The Supervised
        // guard (dropped next) kills what is left, then the shell.
    }
}

/// One word for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

// ---- shared ----------------------------------------------------------------

/// The image from scripts/build-image, built once per test run.
struct Image {
    archive: PathBuf,
    /// The image index digest build-image printed.
    digest: String,
    /// The layout's `org.opencontainers.image.ref.name`.
    tag: String,
}

fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        // The build tests/image.rs makes (once per run, shared).
        let layout = crate::image::image_layout();
        let index: Value =
            serde_json::from_str(&fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
        let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .expect("index.json names the tag")
            .to_string();
        Image {
            archive: crate::image::image_archive().to_path_buf(),
            digest: crate::image::image_digest().to_string(),
            tag,
        }
    })
}

/// The sandbox/infra process runs our pause: its executable (a path inside
/// the container's root) is /pause, its bytes are our amd64 build, and it
/// sits in pause mode's signal wait.
///
/// The runtimes return once `runc start` has released the container's init,
/// which may not have reached execve yet: until then /proc/PID/exe is runc's
/// own (read-only, detached) copy of itself and reads as "/". So we wait.
fn assert_is_our_pause(pid: i32) {
    let mut exe = None;
    let execed = wait_until(SECS, || {
        exe = exe_of(pid);
        exe.as_ref().is_some_and(|e| e.ends_with("/pause"))
    });
    assert!(execed, "{pid} runs /pause, not {exe:?}");
    let bytes = fs::read(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        bytes == fs::read(pause()).unwrap(),
        "{pid}'s /pause is not our amd64 build"
    );
    assert!(
        wait_until(SECS, || waits_for_signals(pid)),
        "{pid} waits for signals as pause does"
    );
}

/// NSpid: the process's PID in each PID namespace, outermost first.
fn ns_pids(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| {
            v.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The absolute path of a tool the test needs; panics (never skips) if it
/// is not installed.
fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is needed for this test; scripts/setup installs it"))
}

/// `pause -- CMD`: CMD and everything it leaves behind are descendants of
/// one child of this test (pause is a subreaper). On drop, whatever is left
/// below CMD is SIGKILLed (a container's PID 1 takes its namespace with
/// it), then CMD, pause is waited for, and mounts under `dir` are detached.
struct Supervised {
    what: &'static str,
    pause: Child,
    /// CMD's pid.
    main: i32,
    dir: PathBuf,
}

impl Supervised {
    fn spawn(what: &'static str, dir: &Path, cmd: &mut Command) -> Supervised {
        let mut pause = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {what} under pause: {e}"));
        // pause forks CMD first thing; anything else below it comes later.
        let mut main = 0;
        wait_until(SECS, || {
            main = children_of(pause.id() as i32).first().map_or(0, |c| c.0);
            main != 0 || pause.try_wait().unwrap().is_some()
        });
        if main == 0 {
            let _ = pause.kill();
            let status = pause.wait();
            panic!("{what} did not start under pause: {status:?}");
        }
        Supervised {
            what,
            pause,
            main,
            dir: dir.to_path_buf(),
        }
    }

    /// Every live process below pause other than CMD, with its name.
    fn leftovers(&self) -> Vec<(i32, String)> {
        let mut out = Vec::new();
        let mut todo = vec![self.pause.id() as i32];
        while let Some(p) = todo.pop() {
            for (c, state) in children_of(p) {
                todo.push(c);
                if c != self.main && state != 'Z' {
                    let comm = fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
                    out.push((c, comm.trim().to_string()));
                }
            }
        }
        out
    }

    fn expect_no_leftovers(&self) {
        let mut left = Vec::new();
        let gone = wait_until(SECS, || {
            left = self.leftovers();
            left.is_empty()
        });
        assert!(gone, "{} left processes behind: {left:?}", self.what);
    }

    fn expect_no_mounts(&self) {
        let m = mounts_under(&self.dir);
        assert!(m.is_empty(), "{} left mounts behind: {m:?}", self.what);
    }

    /// SIGTERM to pause (it forwards it to CMD); waits for both.
    fn stop(&mut self) -> ExitStatus {
        // SAFETY: kill(2) takes integers only.
        unsafe { libc::kill(self.pause.id() as i32, SIGTERM) };
        self.wait(SECS)
    }

    /// Waits for pause to exit; past `timeout`, SIGKILLs CMD (pause then
    /// exits with 128+9) and panics.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let pause = &mut self.pause;
        let mut status = None;
        if wait_until(timeout, || {
            status = pause.try_wait().unwrap();
            status.is_some()
        }) {
            return status.unwrap();
        }
        self.kill_all();
        panic!("{} did not exit within {timeout:?}", self.what);
    }

    /// Kills everything below pause, CMD last, and waits for pause. Killing
    /// pause itself would orphan them to PID 1.
    fn kill_all(&mut self) {
        wait_until(SECS, || {
            let left = self.leftovers();
            for (p, _) in &left {
                // SAFETY: kill(2) takes integers only.
                unsafe { libc::kill(*p, SIGKILL) };
            }
            left.is_empty()
        });
        if alive(self.main) {
            // SAFETY: kill(2) takes integers only.
            unsafe { libc::kill(self.main, SIGKILL) };
        }
        let pause = &mut self.pause;
        if !wait_until(SECS, || pause.try_wait().ok().flatten().is_some()) {
            let _ = pause.kill();
            let _ = pause.wait();
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if self.pause.try_wait().ok().flatten().is_none() {
            self.kill_all();
        }
        for m in mounts_under(&self.dir).iter().rev() {
            let c = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid C string; MNT_DETACH cannot block.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Mount points under `dir`, in mount order (outermost first).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_octal(m)))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as \ooo.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (b[i], oct) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
