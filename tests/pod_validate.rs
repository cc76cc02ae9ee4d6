//! `podrun validate`: the Pod files of tests/pods/ through the real binary.
//!
//! Each file of tests/pods/bad/ has one problem and says on its first line
//! what it is and the message expected (`# what | expect: FRAGMENT`, a
//! fragment that starts with `:LINE:` when the message names the line).
//! Each must exit 2 with that message, alone, and leave nothing behind;
//! every file of tests/pods/good/ (and examples/counter.yaml) must exit 0.

use crate::store::podrun;
use blackbox::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(workspace_root().join("tests/pods").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The message fragment a bad file's first line expects.
fn expected(file: &Path) -> String {
    let text = fs::read_to_string(file).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let fragment = first
        .strip_prefix('#')
        .and_then(|l| l.split_once("| expect: "))
        .map(|(_, f)| f.trim().to_owned());
    fragment.unwrap_or_else(|| {
        panic!(
            "{}: first line must be `# WHAT | expect: FRAGMENT`",
            file.display()
        )
    })
}

/// Unsupported fields are the ones `--validate=warn` lets through.
fn unsupported(fragment: &str) -> bool {
    fragment.contains(": not supported")
}

/// The fragment as a warning: `:LINE: warning: MESSAGE`.
fn as_warning(fragment: &str) -> String {
    match fragment.strip_prefix(':').and_then(|f| f.split_once(": ")) {
        Some((line, message)) => format!(":{line}: warning: {message}"),
        None => format!("warning: {fragment}"),
    }
}

/// Runs `podrun validate FILE ARGS` in an empty directory, with a store
/// root that does not exist, and checks that both stay so.
fn validate(file: &Path, args: &[&str]) -> Output {
    let dir = TempDir::new("pod-validate");
    let root = dir.join("store");
    let out = Command::new(podrun())
        .arg("--root")
        .arg(&root)
        .arg("validate")
        .arg(file)
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "podrun validate {} left {left:?}",
        file.display()
    );
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn bad_pods_are_refused_with_the_problem_named() {
    let bad = corpus("bad");
    assert!(bad.len() >= 15, "the corpus has {} bad files", bad.len());
    for file in &bad {
        let fragment = expected(file);
        let out = validate(file, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", file.display());
        assert!(
            out.stdout.is_empty(),
            "{}: {}",
            file.display(),
            text(&out.stdout)
        );
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{}: one problem, one line: {stderr}",
            file.display()
        );
        let prefix = format!("podrun: {}", file.display());
        assert!(
            lines[0].starts_with(&prefix) && lines[0].contains(&fragment),
            "{}: want {fragment:?}, got {stderr}",
            file.display()
        );
    }
}

#[test]
fn good_pods_are_valid() {
    let mut good = corpus("good");
    assert!(good.len() >= 3);
    good.push(workspace_root().join("examples/counter.yaml"));
    for file in &good {
        let out = validate(file, &[]);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            text(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}: {}",
            file.display(),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains("is valid"),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn warn_lets_unsupported_fields_through_and_nothing_else() {
    let (mut warned, mut refused) = (0, 0);
    for file in &corpus("bad") {
        let fragment = expected(file);
        let out = validate(file, &["--validate=warn"]);
        let stderr = text(&out.stderr);
        if unsupported(&fragment) {
            warned += 1;
            assert!(out.status.success(), "{}: {stderr}", file.display());
            assert!(
                stderr.contains(&as_warning(&fragment)),
                "{}: {stderr}",
                file.display()
            );
            assert!(text(&out.stdout).contains("is valid"));
        } else {
            refused += 1;
            assert_eq!(out.status.code(), Some(2), "{}: {stderr}", file.display());
            assert!(stderr.contains(&fragment), "{}: {stderr}", file.display());
            assert!(!stderr.contains("warning:"), "{}: {stderr}", file.display());
        }
    }
    // Both kinds are in the corpus.
    assert!(
        warned >= 5 && refused >= 15,
        "{warned} unsupported, {refused} others"
    );
}

#[test]
fn ignore_is_silent_about_unsupported_fields() {
    for file in &corpus("bad") {
        let fragment = expected(file);
        let out = validate(file, &["--validate", "ignore"]);
        if unsupported(&fragment) {
            assert!(
                out.status.success(),
                "{}: {}",
                file.display(),
                text(&out.stderr)
            );
            assert!(
                out.stderr.is_empty(),
                "{}: {}",
                file.display(),
                text(&out.stderr)
            );
        } else {
            assert_eq!(out.status.code(), Some(2), "{}", file.display());
        }
    }
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let dir = TempDir::new("pod-validate-many");
    let file = dir.join("many.yaml");
    fs::write(
        &file,
        "\
apiVersion: v1
kind: Pod
metadata:
  name: Many_Problems
spec:
  nodeSelector: {disk: ssd}
  containers:
  - name: app
    image: busybox
    livenessProbe: {exec: {command: [\"true\"]}}
    volumeMounts:
    - {name: nope, mountPath: relative}
  - name: app
    image: busybox
    tty: true
",
    )
    .unwrap();
    let out = Command::new(podrun())
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let f = file.display();
    let want = [
        format!("podrun: {f}:4: metadata.name: Invalid value \"Many_Problems\""),
        format!("podrun: {f}:6: spec.nodeSelector: not supported"),
        format!("podrun: {f}:10: spec.containers[0].livenessProbe: not supported"),
        format!("podrun: {f}:12: spec.containers[0].volumeMounts[0].name: Not found: \"nope\""),
        format!("podrun: {f}:12: spec.containers[0].volumeMounts[0].mountPath: Invalid value \"relative\""),
        format!("podrun: {f}:13: spec.containers[1].name: Duplicate value \"app\""),
        format!("podrun: {f}:15: spec.containers[1].tty: not supported"),
    ];
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), want.len(), "{stderr}");
    for (line, want) in lines.iter().zip(&want) {
        assert!(
            line.starts_with(want.as_str()),
            "want {want:?}, got {line:?}"
        );
    }
}

#[test]
fn command_line_errors() {
    let out = Command::new(podrun())
        .args(["validate", "/nonexistent/pod.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent/pod.yaml: No such file"),
        "{}",
        text(&out.stderr)
    );
    let counter = workspace_root().join("examples/counter.yaml");
    let out = Command::new(podrun())
        .arg("validate")
        .arg(&counter)
        .arg("--validate=loud")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("want strict, warn or ignore"),
        "{}",
        text(&out.stderr)
    );
}
