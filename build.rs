//! Fixes the version line that `pause -v` prints at build time: the package
//! version plus the git revision of the source, so a binary found on a node
//! can be traced to its commit. `PAUSE_REVISION` overrides git (for builds
//! from a source tarball); without either the revision is "unknown".
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PAUSE_REVISION");
    // The revision changes when HEAD moves or the branch it names does.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-changed=.git/packed-refs");

    // Unwind tables and compiler notes are dead weight in pause (see the
    // script); the path is absolute only at link time, never in the output.
    let script = format!("{}/src/sys/pause.ld", env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src/sys/pause.ld");
    println!("cargo:rustc-link-arg-bins=-T{script}");

    let revision = std::env::var("PAUSE_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    println!("cargo:rustc-env=PAUSE_VERSION_LINE=pause {version} (revision {revision})");
}

fn git_revision() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!rev.is_empty()).then_some(rev)
}
