//! The pause binary: pause mode, init mode, signals, reaping, build.

use crate::orphans;
use blackbox::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;
const SIGUSR1: i32 = 10;
const SIGPIPE: i32 = 13;
const SIGTERM: i32 = 15;

const SECS: Duration = Duration::from_secs(10);

/// setpriv prefix: uid/gid 65535, no supplementary groups, no capabilities.
const NOBODY: [&str; 7] = [
    "setpriv",
    "--reuid=65535",
    "--regid=65535",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--",
];

fn run(args: &[&str]) -> std::process::Output {
    Command::new(pause())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---- command line -------------------------------------------------------

#[test]
fn version_prints_package_version_and_revision() {
    for flag in ["-v", "--version"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        let line = text(&out.stdout);
        assert!(
            line.starts_with(&format!("pause {} (revision ", pause_version())),
            "{line:?}"
        );
        let rev = git_revision();
        assert!(
            line.contains(&rev),
            "version line {line:?} names the git revision {rev}"
        );
    }
}

fn git_revision() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    text(&out.stdout).trim().to_string()
}

#[test]
fn help_prints_usage_and_exits_0() {
    for flag in ["-h", "--help"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("usage: pause"));
    }
}

#[test]
fn bad_command_lines_print_usage_on_stderr_and_exit_2() {
    for (args, says) in [
        (&["-x"][..], "unknown option: -x"),
        (&["--frobnicate"][..], "unknown option: --frobnicate"),
        (&["--"][..], "missing command after --"),
        (&["-g"][..], "-g needs a command"),
        (&["-P", "--", "true"][..], "cannot be combined with -P"),
        (&["true"][..], "unexpected argument"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(says) && err.contains("usage: pause"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}

// ---- pause mode as PID 1 -------------------------------------------------

#[test]
fn pid1_reaps_orphans_of_a_grandchild() {
    let tmp = TempDir::new("pid1-orphans");
    let release = tmp.join("release");
    let ns = Pid1::start(&[], pause(), &[], Some(pause()));
    ns.enter(&[orphans(), "25", release.to_str().unwrap()]);
    // All 25 grandchildren are now children of pause...
    assert!(
        wait_until(SECS, || children_of(ns.pid).len() == 25),
        "orphans were re-parented to pause: {:?}",
        children_of(ns.pid)
    );
    // ...and once they exit, pause reaps every one.
    fs::write(&release, "").unwrap();
    assert!(
        wait_until(SECS, || children_of(ns.pid).is_empty()),
        "left: {:?}",
        children_of(ns.pid)
    );
    kill(ns.pid, SIGTERM);
    let (status, _) = ns.finish();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn pid1_stress_10000_orphans_leave_no_zombie() {
    let ns = Pid1::start(&[], pause(), &[], Some(pause()));
    ns.enter(&[orphans(), "10000"]);
    assert!(
        wait_until(Duration::from_secs(30), || children_of(ns.pid).is_empty()),
        "zombies left under pause: {}",
        zombies_of(ns.pid)
    );
    assert!(alive(ns.pid));
}

/// Proves the zombie check above can fail: the same scenario under a PID 1
/// that never reaps (`sleep`) leaves every orphan a zombie, and
/// `zombies_of` sees them.
#[test]
fn zombie_check_detects_zombies_under_a_non_reaping_pid1() {
    let sleep = Path::new("/bin/sleep");
    let ns = Pid1::start(&[], sleep, &["600"], None);
    assert!(wait_until(SECS, || exe_of(ns.pid)
        .is_some_and(|e| e.ends_with("sleep"))));
    ns.enter(&[orphans(), "200"]);
    assert!(
        wait_until(SECS, || zombies_of(ns.pid) == 200),
        "expected 200 zombies under a non-reaping PID 1, saw {}",
        zombies_of(ns.pid)
    );
}

#[test]
fn pid1_exits_0_with_message_on_sigterm_and_sigint() {
    for (sig, name) in [(SIGTERM, "Terminated"), (SIGINT, "Interrupt")] {
        let ns = Pid1::start(&[], pause(), &[], Some(pause()));
        kill(ns.pid, sig);
        let (status, err) = ns.finish();
        assert_eq!(status.code(), Some(0), "signal {sig}");
        assert_eq!(err, format!("Shutting down, got signal: {name}\n"));
    }
}

#[test]
fn pid1_ignores_sighup_sigusr1_sigpipe() {
    let ns = Pid1::start(&[], pause(), &[], Some(pause()));
    ignores_then_terminates(ns);
}

fn ignores_then_terminates(ns: Pid1) {
    for sig in [SIGHUP, SIGUSR1, SIGPIPE] {
        kill(ns.pid, sig);
    }
    // Give a wrongly handled signal time to kill it, then check it lives.
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(ns.pid), "pause died from SIGHUP/SIGUSR1/SIGPIPE");
    kill(ns.pid, SIGTERM);
    let (status, err) = ns.finish();
    assert_eq!(status.code(), Some(0));
    assert!(
        err.ends_with("Shutting down, got signal: Terminated\n"),
        "{err}"
    );
}

#[test]
fn pid1_as_uid_65535_without_capabilities_behaves_the_same() {
    let tmp = TempDir::new("pid1-nobody");
    let release = tmp.join("release");
    let ns = Pid1::start(&NOBODY, pause(), &[], Some(pause()));
    let st = status(ns.pid).unwrap();
    assert_eq!(
        (st.uid, st.gid, st.cap_eff, st.cap_bnd),
        (65535, 65535, 0, 0),
        "{st:?}"
    );
    ns.enter(&[orphans(), "10", release.to_str().unwrap()]);
    assert!(wait_until(SECS, || children_of(ns.pid).len() == 10));
    fs::write(&release, "").unwrap();
    assert!(
        wait_until(SECS, || children_of(ns.pid).is_empty()),
        "{:?}",
        children_of(ns.pid)
    );
    ignores_then_terminates(ns);
}

// ---- pause mode, not PID 1 -------------------------------------------------

/// `sh -c 'orphans N RELEASE & exec pause'`: the helper becomes a child of
/// pause, so its grandchildren are pause's descendants and, orphaned, go
/// to pause as a child subreaper.
fn subreaper_case(prefix: &[&str]) {
    let tmp = TempDir::new("subreaper");
    let release = tmp.join("release");
    let pause_exe = pause().canonicalize().unwrap();
    let script = format!(
        "ORPHANS_AFTER_PARENT={} {} 6 {} & exec {}",
        pause_exe.display(),
        orphans(),
        release.display(),
        pause().display()
    );
    let mut child = Guard(
        Command::new(prefix.first().copied().unwrap_or("sh"))
            .args(if prefix.is_empty() {
                &[][..]
            } else {
                &prefix[1..]
            })
            .args(if prefix.is_empty() {
                vec!["-c", &script]
            } else {
                vec!["sh", "-c", &script]
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.pid();
    assert!(wait_until(SECS, || is_ready(pid, pause())));
    // The helper (child of pause) exits once its children are reaped, and
    // the 6 grandchildren end up under pause.
    assert!(
        wait_until(SECS, || children_of(pid).len() == 6 && zombies_of(pid) == 0),
        "{:?}",
        children_of(pid)
    );
    fs::write(&release, "").unwrap();
    assert!(
        wait_until(SECS, || children_of(pid).is_empty()),
        "{:?}",
        children_of(pid)
    );
    for sig in [SIGHUP, SIGUSR1, SIGPIPE] {
        kill(pid, sig);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid));
    kill(pid, SIGTERM);
    let status = wait_child(&mut child, SECS);
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(err.contains("pause should be the first process"), "{err}");
    assert!(
        err.ends_with("Shutting down, got signal: Terminated\n"),
        "{err}"
    );
}

#[test]
fn not_pid1_warns_and_reaps_grandchildren_as_subreaper() {
    require_root();
    subreaper_case(&[]);
}

#[test]
fn not_pid1_as_uid_65535_without_capabilities_reaps_as_subreaper() {
    require_root();
    subreaper_case(&NOBODY[..6]);
}

// ---- init mode -------------------------------------------------------------

#[test]
fn init_mode_passes_exit_codes_on() {
    let tmp = TempDir::new("init-codes");
    let noexec = tmp.join("not-executable");
    fs::write(&noexec, "#!/bin/sh\n").unwrap();
    for (cmd, code, err) in [
        (vec!["true"], 0, ""),
        (vec!["sh", "-c", "exit 3"], 3, ""),
        (vec!["/bin/sh", "-c", "exit 255"], 255, ""),
        (
            vec!["no-such-command-here"],
            127,
            "pause: cannot run no-such-command-here: No such file or directory\n",
        ),
        (
            vec!["/no/such/path"],
            127,
            "pause: cannot run /no/such/path: No such file or directory\n",
        ),
        (vec![noexec.to_str().unwrap()], 126, "Permission denied\n"),
        (vec!["sh", "-c", "kill -9 $$"], 128 + 9, ""),
        (vec!["sh", "-c", "kill -TERM $$"], 128 + 15, ""),
    ] {
        let mut args = vec!["--"];
        args.extend(&cmd);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(code), "{cmd:?}");
        assert!(
            text(&out.stderr).ends_with(err),
            "{cmd:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn init_mode_looks_commands_up_in_path() {
    let tmp = TempDir::new("init-path");
    let script = tmp.join("hello-from-path");
    fs::write(&script, "#!/bin/sh\necho hello \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(pause())
        .args(["--", "hello-from-path", "a b", "c"])
        .env("PATH", format!("/nonexistent::{}", tmp.path().display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), "hello a b c\n");
}

#[test]
fn init_mode_forwards_sigterm_to_a_child_that_traps_it() {
    let mut child = Guard(
        Command::new(pause())
            .args([
                "--",
                "sh",
                "-c",
                "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(read_line(&mut child), "ready");
    kill(child.id() as i32, SIGTERM);
    assert_eq!(wait_child(&mut child, SECS).code(), Some(42));
}

#[test]
fn init_mode_forwards_other_signals_too() {
    let mut child = Guard(
        Command::new(pause())
            .args([
                "--",
                "sh",
                "-c",
                "trap 'echo hup' HUP; trap 'echo usr1' USR1; trap 'exit 7' USR2; echo ready; \
                 while :; do sleep 0.05; done",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.id() as i32;
    assert_eq!(read_line(&mut child), "ready");
    kill(pid, SIGHUP);
    assert_eq!(read_line(&mut child), "hup");
    kill(pid, SIGUSR1);
    assert_eq!(read_line(&mut child), "usr1");
    kill(pid, 12); // SIGUSR2
    assert_eq!(wait_child(&mut child, SECS).code(), Some(7));
}

/// With -g the signal goes to the child's process group, so a grandchild
/// in it gets SIGTERM too; without -g it does not (the control case). The
/// child shell traps SIGTERM and waits for the grandchild, so the
/// grandchild is not torn down with the namespace before it can react.
/// Run as PID 1 so that whatever is left dies with the namespace.
#[test]
fn init_mode_group_flag_reaches_a_grandchild() {
    for group in [true, false] {
        let tmp = TempDir::new("init-group");
        let marker = tmp.join("grandchild-got-term");
        let inner = format!(
            "trap 'touch {}; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
            marker.display()
        );
        let outer = format!("sh -c \"{inner}\" & trap 'wait $!; exit 3' TERM; wait $!");
        let mut args = vec![];
        if group {
            args.push("-g");
        }
        args.extend(["--", "sh", "-c", &outer]);
        let mut ns = Pid1::start(&[], pause(), &args, Some(pause()));
        assert_eq!(read_line(&mut ns.unshare), "ready");
        kill(ns.pid, SIGTERM);
        if group {
            let (status, _) = ns.finish();
            assert_eq!(status.code(), Some(3));
            assert!(marker.exists(), "-g: the grandchild got SIGTERM");
        } else {
            std::thread::sleep(Duration::from_millis(500));
            assert!(!marker.exists(), "without -g only the child gets SIGTERM");
            assert!(alive(ns.pid));
        }
    }
}

#[test]
fn init_mode_reaps_zombies_while_the_child_runs() {
    let tmp = TempDir::new("init-reap");
    let release = tmp.join("release");
    let script = format!(
        "{} 8 {}; echo made; exec sleep 600",
        orphans(),
        release.display()
    );
    let mut child = Guard(
        Command::new(pause())
            .args(["--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.id() as i32;
    assert_eq!(read_line(&mut child), "made");
    // pause (a subreaper here) got the 8 orphans, plus its child sh.
    assert!(
        wait_until(SECS, || children_of(pid).len() == 9),
        "{:?}",
        children_of(pid)
    );
    fs::write(&release, "").unwrap();
    assert!(
        wait_until(SECS, || children_of(pid).len() == 1),
        "{:?}",
        children_of(pid)
    );
    assert_eq!(zombies_of(pid), 0);
    kill(pid, SIGTERM);
    // sh is waiting for its foreground sleep and dies of SIGTERM.
    assert_eq!(wait_child(&mut child, SECS).code(), Some(128 + 15));
}

#[test]
fn init_mode_as_pid1_passes_exit_code_and_sigkill() {
    let (status, _) = run_as_pid1(pause(), &["--", "sh", "-c", "exit 3"]);
    assert_eq!(status.code(), Some(3));
    let (status, err) = run_as_pid1(pause(), &["--", "no-such-command-here"]);
    assert_eq!(status.code(), Some(127), "{err}");
    let mut ns = Pid1::start(
        &[],
        pause(),
        &["--", "sh", "-c", "echo ready; sleep 600"],
        Some(pause()),
    );
    assert_eq!(read_line(&mut ns.unshare), "ready");
    let sh = children_of(ns.pid).first().unwrap().0;
    kill(sh, SIGKILL);
    assert_eq!(ns.finish().0.code(), Some(128 + 9));
}

// ---- other architectures under qemu-user-static ---------------------------

#[test]
fn foreign_binaries_run_under_qemu_user() {
    for (arch, qemu) in [
        ("arm64", "qemu-aarch64-static"),
        ("arm", "qemu-arm-static"),
        ("ppc64le", "qemu-ppc64le-static"),
        ("s390x", "qemu-s390x-static"),
        ("riscv64", "qemu-riscv64-static"),
    ] {
        let bin = &pause_bins()[arch];
        let out = Command::new(qemu).arg(bin).arg("-v").output().unwrap_or_else(|e| {
            panic!("{qemu} is needed to test the {arch} binary (apt-get install qemu-user-static): {e}")
        });
        assert_eq!(out.status.code(), Some(0), "{arch}: {out:?}");
        assert!(
            text(&out.stdout).starts_with(&format!("pause {} (revision ", pause_version())),
            "{arch}"
        );
        // Init mode: fork, execve (the host's sh), wait4, exit status.
        let out = Command::new(qemu)
            .arg(bin)
            .args(["--", "sh", "-c", "exit 3"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{arch}: {out:?}");
        // Pause mode: SIGTERM gives exit 0 and the message.
        let mut child = Guard(
            Command::new(qemu)
                .arg(bin)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let pid = child.id() as i32;
        // qemu runs the guest in this same process.
        assert!(
            wait_until(SECS, || waits_for_signals(pid)),
            "{arch}: pause did not start"
        );
        kill(pid, SIGTERM);
        assert_eq!(wait_child(&mut child, SECS).code(), Some(0), "{arch}");
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(
            err.ends_with("Shutting down, got signal: Terminated\n"),
            "{arch}: {err}"
        );
    }
}

// ---- the build ---------------------------------------------------------------

/// Size budget: every architecture's binary fits in 8 KiB.
#[test]
fn every_binary_is_static_and_within_8_kib() {
    for (arch, bin) in pause_bins() {
        let bytes = fs::read(bin).unwrap();
        assert!(bytes.len() <= 8192, "{arch}: {} bytes > 8 KiB", bytes.len());
        let kinds = program_header_types(&bytes);
        assert!(
            !kinds.contains(&3),
            "{arch}: has PT_INTERP (dynamically linked)"
        );
        assert!(!kinds.contains(&2), "{arch}: has PT_DYNAMIC");
        assert_eq!(
            kinds.iter().filter(|&&k| k == 1).count(),
            1,
            "{arch}: one PT_LOAD"
        );
        // PT_GNU_STACK keeps the stack non-executable.
        assert!(kinds.contains(&0x6474e551), "{arch}: has PT_GNU_STACK");
    }
}

/// The `p_type` of every program header of an ELF file (either class,
/// either byte order).
fn program_header_types(elf: &[u8]) -> Vec<u32> {
    assert_eq!(&elf[..4], b"\x7fELF");
    let is64 = elf[4] == 2;
    let le = elf[5] == 1;
    let u16_at = |o: usize| {
        let b = [elf[o], elf[o + 1]];
        if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let u32_at = |o: usize| {
        let b = [elf[o], elf[o + 1], elf[o + 2], elf[o + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let u64_at = |o: usize| {
        let b: [u8; 8] = elf[o..o + 8].try_into().unwrap();
        if le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        }
    };
    let (phoff, phentsize, phnum) = if is64 {
        (
            u64_at(0x20) as usize,
            u16_at(0x36) as usize,
            u16_at(0x38) as usize,
        )
    } else {
        (
            u32_at(0x1c) as usize,
            u16_at(0x2a) as usize,
            u16_at(0x2c) as usize,
        )
    };
    (0..phnum).map(|i| u32_at(phoff + i * phentsize)).collect()
}
