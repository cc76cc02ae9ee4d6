//! `pause`: the pod infra process, and a minimal init.
//!
//! Pause mode (`pause`, `pause -P`): hold the namespaces we were started in
//! by sleeping in the kernel, reap every child that exits (as PID 1 of a
//! shared PID namespace, or as a child subreaper otherwise), exit 0 on
//! SIGINT/SIGTERM and ignore every other signal.
//!
//! Init mode (`pause [-g] -- CMD [ARG...]`): run CMD as our child, forward
//! every signal to it (or its process group), reap every zombie, and exit
//! with CMD's status once it exits.
//!
//! No libc, no heap, no signal handlers: all signals are blocked and taken
//! one at a time with `rt_sigtimedwait`, so every action runs in ordinary
//! program context. See `sys` for the few system calls this needs.

#![no_std]
#![no_main]

mod sys;

use sys::{Args, Fork, SigSet};

const VERSION: &str = concat!(env!("PAUSE_VERSION_LINE"), "\n");

const USAGE: &str = "\
usage: pause [-P]                 hold the namespaces, reap zombies, exit 0 on SIGINT/SIGTERM
       pause [-g] -- CMD [ARG...] run CMD, forward signals (-g: to its group), reap, exit as CMD
       pause -v|--version|-h|--help
";

/// Where `execvp` looks when PATH is not set (the same list container
/// runtimes put in a container's default environment).
const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Exit codes, as shells use them.
const EXIT_USAGE: i32 = 2;
const EXIT_CANNOT_EXECUTE: i32 = 126;
const EXIT_NOT_FOUND: i32 = 127;

enum Mode {
    Pause,
    /// Run `args[first..]`; `group`: signal the child's process group.
    Init {
        first: usize,
        group: bool,
    },
    Version,
    Help,
}

fn main(args: Args) -> ! {
    match parse(&args) {
        Ok(Mode::Pause) => pause(),
        Ok(Mode::Init { first, group }) => init(&args, first, group),
        Ok(Mode::Version) => {
            sys::write(1, &[VERSION.as_bytes()]);
            sys::exit(0)
        }
        Ok(Mode::Help) => {
            sys::write(1, &[USAGE.as_bytes()]);
            sys::exit(0)
        }
        Err((what, arg)) => {
            sys::write(2, &[b"pause: ", what, arg, b"\n", USAGE.as_bytes()]);
            sys::exit(EXIT_USAGE)
        }
    }
}

/// Reads the options; an error is a message and the argument it is about.
fn parse(args: &Args) -> Result<Mode, (&'static [u8], &'static [u8])> {
    let mut group = false;
    let mut pause_flag = false;
    let mut i = 1;
    while let Some(arg) = args.get(i) {
        match arg {
            b"-P" => pause_flag = true,
            b"-g" => group = true,
            b"-v" | b"--version" => return Ok(Mode::Version),
            b"-h" | b"--help" => return Ok(Mode::Help),
            b"--" => {
                if args.get(i + 1).is_none() {
                    return Err((b"missing command after ", b"--"));
                }
                if pause_flag {
                    return Err((b"a command cannot be combined with ", b"-P"));
                }
                return Ok(Mode::Init {
                    first: i + 1,
                    group,
                });
            }
            _ if arg.first() == Some(&b'-') => return Err((b"unknown option: ", arg)),
            _ => return Err((b"unexpected argument (put a command after --): ", arg)),
        }
        i += 1;
    }
    if group {
        return Err((b"-g needs a command: ", b"pause -g -- CMD"));
    }
    Ok(Mode::Pause)
}

/// Takes over signal delivery: every blockable signal is blocked, to be
/// taken synchronously by `sys::wait_signal`. Returns the mask we started
/// with, which a child gets back before `execve`.
fn take_signals() -> SigSet {
    sys::set_default_action(sys::SIGCHLD);
    sys::set_signal_mask(&SigSet::all())
}

/// PID 1 of a PID namespace inherits every orphan in it. Anywhere else we
/// ask for the orphans of our own descendants (a child subreaper), so they
/// are still reaped.
fn become_reaper(warn: bool) {
    if sys::getpid() != 1 {
        if warn {
            sys::write(2, &[b"pause: warning: pause should be the first process (PID 1); reaping orphans as a child subreaper instead\n"]);
        }
        // Failure (a kernel older than 3.4) only means orphans go to the
        // namespace's PID 1, as they would without us.
        let _ = sys::set_child_subreaper();
    }
}

fn pause() -> ! {
    // Subreaper first: once the signal mask shows in /proc as all-blocked,
    // everything is in place (tests and supervisors wait for that).
    become_reaper(true);
    take_signals();
    // Children may have exited before we blocked SIGCHLD (if we were exec'd
    // by a process that had children): reap them now.
    reap_all(0);
    let all = SigSet::all();
    loop {
        match sys::wait_signal(&all) {
            sys::SIGCHLD => {
                reap_all(0);
            }
            sig @ (sys::SIGINT | sys::SIGTERM) => {
                let name: &[u8] = if sig == sys::SIGINT {
                    b"Interrupt"
                } else {
                    b"Terminated"
                };
                sys::write(2, &[b"Shutting down, got signal: ", name, b"\n"]);
                sys::exit(0)
            }
            // Everything else (SIGHUP, SIGUSR1, SIGPIPE, ...) is ignored.
            _ => {}
        }
    }
}

/// Reaps every exited child. Returns the wait status of `main_child` if it
/// was among them (pid 0: none to look for).
fn reap_all(main_child: i32) -> Option<u32> {
    let mut main_status = None;
    while let Some((pid, status)) = sys::reap_one() {
        if pid == main_child {
            main_status = Some(status);
        }
    }
    main_status
}

fn init(args: &Args, first: usize, group: bool) -> ! {
    become_reaper(false);
    let original_mask = take_signals();

    let child = match sys::fork() {
        Ok(Fork::Child) => {
            // Our signal handling is ours alone: CMD starts with the mask
            // we were given, as if it had been exec'd directly.
            sys::set_signal_mask(&original_mask);
            if group {
                let _ = sys::setpgid(0, 0);
            }
            let (code, err) = exec_command(args, first);
            let cmd = args.get(first).unwrap_or(b"");
            sys::write(
                2,
                &[b"pause: cannot run ", cmd, b": ", strerror(err), b"\n"],
            );
            sys::exit(code)
        }
        Ok(Fork::Parent(pid)) => pid,
        Err(err) => {
            sys::write(2, &[b"pause: cannot fork: ", strerror(err), b"\n"]);
            sys::exit(EXIT_CANNOT_EXECUTE)
        }
    };
    // Both sides set the group, so it exists before we forward anything.
    let target = if group {
        let _ = sys::setpgid(child, child);
        -child
    } else {
        child
    };

    let all = SigSet::all();
    loop {
        let sig = sys::wait_signal(&all);
        if sig == sys::SIGCHLD {
            if let Some(status) = reap_all(child) {
                sys::exit(exit_code(status))
            }
        } else {
            // The child may be gone already (a zombie about to be reaped);
            // nothing to do about a failed forward then.
            let _ = sys::kill(target, sig);
        }
    }
}

/// A wait status as a shell reports it: the exit code, or 128 + the signal
/// that killed the process.
fn exit_code(status: u32) -> i32 {
    let sig = status & 0x7f;
    if sig == 0 {
        ((status >> 8) & 0xff) as i32
    } else {
        128 + sig as i32
    }
}

/// Runs `args[first..]` like `execvp`: a name without `/` is looked up in
/// PATH. Returns only on failure: the exit code to use and the errno.
fn exec_command(args: &Args, first: usize) -> (i32, sys::Errno) {
    let Some(name) = args.get(first) else {
        return (EXIT_NOT_FOUND, sys::ENOENT);
    };
    if name.is_empty() {
        return (EXIT_NOT_FOUND, sys::ENOENT);
    }
    // Not `contains`: that brings in core's word-at-a-time memchr, a
    // quarter of this binary's size, to scan a few bytes once.
    #[allow(clippy::manual_contains)]
    let has_slash = name.iter().any(|&b| b == b'/');
    let err = if has_slash {
        sys::execve(args.get_c(first).unwrap_or(b"\0"), args, first)
    } else {
        search_path(name, args, first)
    };
    let code = if err == sys::ENOENT || err == sys::ENOTDIR {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXECUTE
    };
    (code, err)
}

fn search_path(name: &[u8], args: &Args, first: usize) -> sys::Errno {
    let path = args.env(b"PATH=").unwrap_or(DEFAULT_PATH);
    let mut buf = [0u8; 4096];
    let mut denied = false;
    for dir in path.split(|&b| b == b':') {
        // An empty PATH entry means the current directory.
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let Some(full) = join(&mut buf, dir, name) else {
            continue;
        };
        match sys::execve(full, args, first) {
            // As execvp: remember a permission problem but keep looking;
            // a missing file or directory just means "not here".
            sys::EACCES => denied = true,
            sys::ENOENT
            | sys::ENOTDIR
            | sys::ESTALE
            | sys::ENODEV
            | sys::ETIMEDOUT
            | sys::ELOOP
            | sys::ENAMETOOLONG => {}
            err => return err,
        }
    }
    if denied {
        sys::EACCES
    } else {
        sys::ENOENT
    }
}

/// `dir/name\0` in `buf`, or None if it does not fit.
fn join<'a>(buf: &'a mut [u8], dir: &[u8], name: &[u8]) -> Option<&'a [u8]> {
    let slash = dir.len();
    let nul = slash + 1 + name.len();
    let out = buf.get_mut(..nul + 1)?;
    out[..slash].copy_from_slice(dir);
    out[slash] = b'/';
    out[slash + 1..nul].copy_from_slice(name);
    out[nul] = 0;
    Some(out)
}

fn strerror(err: sys::Errno) -> &'static [u8] {
    match err {
        sys::ENOENT => b"No such file or directory",
        sys::EACCES => b"Permission denied",
        sys::ENOEXEC => b"Exec format error",
        sys::ENOTDIR => b"Not a directory",
        sys::ELOOP => b"Too many levels of symbolic links",
        sys::ENAMETOOLONG => b"File name too long",
        _ => b"system error",
    }
}
