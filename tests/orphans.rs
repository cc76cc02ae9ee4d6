//! Test helper: makes orphans on demand.
//!
//! `orphans COUNT [RELEASE_FILE]` forks COUNT children; each forks one
//! grandchild and exits at once, so every grandchild is re-parented to the
//! nearest reaper (PID 1 of the namespace, or a child subreaper). We reap
//! our own children, so the grandchildren are the only orphans. Without a
//! RELEASE_FILE the grandchildren exit at once (zombies for the reaper to
//! collect); with one, each waits until it has been re-parented and the
//! file exists, so a test can first watch them under their new parent.

use std::path::Path;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: orphans COUNT [RELEASE_FILE]");
    let release = args.get(2).map(Path::new);
    // With ORPHANS_AFTER_PARENT=EXE, wait until our parent runs EXE and
    // sleeps in rt_sigtimedwait (x86-64 syscall 128): pause is then a
    // subreaper, so no orphan can slip past it to the host's init.
    if let Ok(exe) = std::env::var("ORPHANS_AFTER_PARENT") {
        let parent = blackbox::getppid();
        let ready = blackbox::wait_until(Duration::from_secs(10), || {
            std::fs::read_link(format!("/proc/{parent}/exe")).is_ok_and(|e| e == Path::new(&exe))
                && blackbox::waits_for_signals(parent)
        });
        assert!(ready, "parent {parent} never became {exe}");
    }
    for _ in 0..count {
        // SAFETY: this helper is single-threaded.
        if unsafe { blackbox::fork() } == 0 {
            // The child: make a grandchild and leave it behind. (The
            // grandchild compares against our PID, taken before the fork:
            // by the time it could ask, we may be gone already.)
            let parent = std::process::id() as i32;
            // SAFETY: still single-threaded.
            if unsafe { blackbox::fork() } == 0 {
                if let Some(release) = release {
                    // Bounded, so a failed test leaves nothing running.
                    let end = std::time::Instant::now() + Duration::from_secs(30);
                    while (blackbox::getppid() == parent || !release.exists())
                        && std::time::Instant::now() < end
                    {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                blackbox::exit_now(0);
            }
            blackbox::exit_now(0);
        }
    }
    // Reap our own children so only the grandchildren are orphans.
    for _ in 0..count {
        blackbox::wait_any();
    }
}
