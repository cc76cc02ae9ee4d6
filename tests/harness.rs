//! Harness for the black-box tests: builds the real binaries once, starts
//! them in fresh PID namespaces, and reads process state from `/proc`.
//!
//! Tests need root (namespaces, setpriv) and fail loudly without it: they
//! never skip.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The OCI architecture names scripts/build-pause knows, in its order.
pub const ARCHES: [&str; 6] = ["amd64", "arm64", "arm", "ppc64le", "s390x", "riscv64"];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Builds every architecture's pause once per test run (from the current
/// source, with the project's own script) and returns arch -> path.
pub fn pause_bins() -> &'static BTreeMap<String, PathBuf> {
    static BINS: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    BINS.get_or_init(|| {
        let out = Command::new(workspace_root().join("scripts/build-pause"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/build-pause");
        assert!(
            out.status.success(),
            "scripts/build-pause failed: {:?}",
            out.status
        );
        let paths: Vec<PathBuf> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(PathBuf::from)
            .collect();
        assert_eq!(
            paths.len(),
            ARCHES.len(),
            "build-pause prints one path per architecture"
        );
        ARCHES.iter().map(|a| a.to_string()).zip(paths).collect()
    })
}

/// The host's (amd64) pause binary.
pub fn pause() -> &'static Path {
    require_root();
    &pause_bins()["amd64"]
}

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests need root (namespaces, setpriv); run them as root, as CI does"
    );
}

/// A fresh temporary directory, removed on drop, readable by every user
/// (tests run helpers as uid 65535 too).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("blackbox-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes. The
/// timeouts are generous bounds for correctness, not speed measurements.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the tests read from `/proc/PID/status`.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: char,
    pub ppid: i32,
    pub uid: u32,
    pub gid: u32,
    pub cap_eff: u64,
    pub cap_bnd: u64,
}

pub fn status(pid: i32) -> Option<Status> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim())
    };
    let first_num =
        |name: &str| -> Option<u32> { field(name)?.split_whitespace().next()?.parse().ok() };
    let hex = |name: &str| -> Option<u64> { u64::from_str_radix(field(name)?, 16).ok() };
    Some(Status {
        state: field("State:")?.chars().next()?,
        ppid: field("PPid:")?.parse().ok()?,
        uid: first_num("Uid:")?,
        gid: first_num("Gid:")?,
        cap_eff: hex("CapEff:")?,
        cap_bnd: hex("CapBnd:")?,
    })
}

/// Every process (as host PIDs) whose parent is `ppid`, with its state.
pub fn children_of(ppid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(st) = status(pid) {
            if st.ppid == ppid {
                out.push((pid, st.state));
            }
        }
    }
    out
}

pub fn zombies_of(ppid: i32) -> usize {
    children_of(ppid).iter().filter(|(_, s)| *s == 'Z').count()
}

pub fn exe_of(pid: i32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// True once `pid` runs `exe` and sleeps in `rt_sigtimedwait`: pause is
/// then fully set up and takes every signal sent to it. (SigBlk in
/// /proc/PID/status cannot tell: while the wait lasts, the kernel unblocks
/// the signals being waited for.)
pub fn is_ready(pid: i32, exe: &Path) -> bool {
    let exe = exe.canonicalize().unwrap();
    exe_of(pid).as_deref() == Some(exe.as_path()) && waits_for_signals(pid)
}

/// `pid` is inside `rt_sigtimedwait` (x86-64 syscall 128). Under
/// qemu-user the guest's wait is the host's syscall too.
pub fn waits_for_signals(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|s| s.starts_with("128 "))
}

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes integers only.
    let r = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        r,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

pub fn alive(pid: i32) -> bool {
    status(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// fork(2) for the orphan-making helper.
///
/// # Safety
/// Call only from a single-threaded process (the helper binary is one).
pub unsafe fn fork() -> i32 {
    // SAFETY: per the contract, no other thread can hold a lock the child
    // would need.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    pid
}

/// `_exit(2)`: leave without running the parent's atexit or flushing its
/// buffers from a forked child.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Waits for any child; returns its PID.
pub fn wait_any() -> i32 {
    let mut status = 0;
    // SAFETY: `status` is a valid int for the kernel to fill.
    let pid = unsafe { libc::wait(&mut status) };
    assert!(pid > 0, "wait: {}", std::io::Error::last_os_error());
    pid
}

pub fn getppid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { libc::getppid() }
}

/// A program started as PID 1 of a new PID namespace with
/// `unshare --pid --fork --kill-child`; dropped, it is SIGKILLed, which
/// takes down everything in the namespace.
pub struct Pid1 {
    pub unshare: Child,
    /// The host PID of the namespace's PID 1.
    pub pid: i32,
}

impl Pid1 {
    /// Starts `prog args` (after `prefix`, e.g. a setpriv command line) as
    /// PID 1 and waits until `ready_exe` runs and has blocked its signals
    /// (`None`: only until it exists).
    pub fn start(prefix: &[&str], prog: &Path, args: &[&str], ready_exe: Option<&Path>) -> Pid1 {
        require_root();
        let unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child"])
            .args(prefix)
            .arg(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start unshare");
        let upid = unshare.id() as i32;
        let mut pid = 0;
        assert!(
            wait_until(Duration::from_secs(10), || {
                pid = children_of(upid).first().map(|c| c.0).unwrap_or(0);
                pid != 0 && ready_exe.is_none_or(|exe| is_ready(pid, exe))
            }),
            "PID 1 ({}) did not come up in its namespace",
            prog.display()
        );
        Pid1 { unshare, pid }
    }

    /// Runs `cmd` inside the namespace (nsenter), waits for it. Its output
    /// is not captured: processes it leaves behind would hold the pipes.
    pub fn enter(&self, cmd: &[&str]) {
        let status = Command::new("nsenter")
            .args(["--target", &self.pid.to_string(), "--pid", "--"])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .expect("run nsenter");
        assert!(
            status.success(),
            "{cmd:?} in the namespace failed: {status:?}"
        );
    }

    /// Waits for PID 1 to exit (bounded) and returns unshare's output
    /// (unshare passes its child's exit status on).
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = wait_child(&mut self.unshare, Duration::from_secs(10));
        let mut err = String::new();
        self.unshare
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, err)
    }
}

impl Drop for Pid1 {
    fn drop(&mut self) {
        if self.unshare.try_wait().ok().flatten().is_none() {
            // SIGKILL to a namespace's PID 1 takes the whole namespace down.
            // (unshare's --kill-child alone does not survive setpriv: a
            // change of uid clears the parent-death signal.)
            // SAFETY: kill(2) takes integers only.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            // unshare reaps it and exits; killing unshare first would leave
            // the dead PID 1 to the host's init, which may never reap it.
            let unshare = &mut self.unshare;
            if !wait_until(Duration::from_secs(5), || {
                unshare.try_wait().ok().flatten().is_some()
            }) {
                let _ = self.unshare.kill();
                let _ = self.unshare.wait();
            }
        }
    }
}

/// Runs `prog args` as PID 1 of a new PID namespace to its end; returns its
/// exit status and stderr.
pub fn run_as_pid1(prog: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    require_root();
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child"])
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A child process that is SIGKILLed if the test fails before it ends.
pub struct Guard(pub Child);

impl Guard {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl std::ops::Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits for `child` at most `timeout`; kills it and panics past that.
pub fn wait_child(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {timeout:?}", child.id());
        }
    }
}

/// Reads one line from a child's piped stdout.
pub fn read_line(child: &mut Child) -> String {
    let out = child.stdout.as_mut().expect("stdout is piped");
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while out.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

/// A free TCP port on 127.0.0.1 (bound, then released for the service).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `docker-registry` (CNCF distribution) serving plain HTTP on
/// 127.0.0.1, storing under a temp dir; stopped on drop.
pub struct Registry {
    child: Guard,
    pub addr: String,
    pub dir: TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with_auth(None)
    }

    /// With `Some((user, password))` the registry requires basic auth
    /// (an htpasswd file made with apache2-utils' htpasswd).
    pub fn start_with_auth(user: Option<(&str, &str)>) -> Registry {
        let dir = TempDir::new("registry");
        let mut auth = String::new();
        if let Some((u, p)) = user {
            let line = must(Command::new("htpasswd").args(["-Bbn", u, p]));
            fs::write(dir.join("htpasswd"), line).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                dir.join("htpasswd").display()
            );
        }
        Registry::start_in(dir, &auth)
    }

    /// A registry in `dir` whose config ends with `extra` (YAML).
    pub fn start_in(dir: TempDir, extra: &str) -> Registry {
        require_root();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        let auth = extra;
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {addr}\n{auth}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/docker-registry (apt-get install docker-registry)");
        let mut child = Guard(child);
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
        if !up {
            let _ = child.kill();
            panic!("docker-registry did not listen on {addr}");
        }
        Registry { child, addr, dir }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command, panics with its output unless it succeeds; returns
/// stdout.
pub fn must(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The pause package's version (root Cargo.toml), which `pause -v` prints
/// and the image is tagged with.
pub fn pause_version() -> String {
    let manifest = fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let package = manifest
        .split("[package]")
        .nth(1)
        .expect("root Cargo.toml has [package]");
    package
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("[package] has a version")
        .to_string()
}

/// Environment that gives buildah/podman a private vfs storage under `dir`,
/// so the host's images are untouched.
pub fn containers_storage_env(dir: &Path) -> Vec<(String, String)> {
    let conf = dir.join("storage.conf");
    fs::write(
        &conf,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            dir.join("graph").display(),
            dir.join("run").display()
        ),
    )
    .unwrap();
    vec![("CONTAINERS_STORAGE_CONF".into(), conf.display().to_string())]
}
