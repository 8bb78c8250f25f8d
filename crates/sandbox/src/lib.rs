//! A pod's sandbox, as a container runtime's pause container and shim make it, with the host's
//! file system as the root (no images here). Three entry points of the kubeward binary,
//! each a process of its own, each started before any thread:
//!
//! - [`hold`] (`kubeward pod-sandbox hold SPEC`): new mount, UTS and PID namespaces; mounts
//!   made private; the host name set to the pod's name; a tmpfs for the pod's volumes and each
//!   volume bind-mounted at its mount paths (read-only where asked); then PID 1 ([`init`]) is
//!   started and its host PID printed as `ready <pid>`. The holder then waits for its standard
//!   input to close (the node agent holds the other end: when the server exits, even by
//!   `kill -9`, the pipe closes) and kills PID 1, which takes every process of the pod with it.
//! - [`init`] (`kubeward pod-sandbox init`): PID 1 of the pod: mounts the pod's own `/proc`,
//!   dies with the holder (parent-death signal), and reaps orphans.
//! - [`enter`] (`kubeward pod-sandbox enter --target PID ... -- ARGV`): joins PID 1's
//!   namespaces, takes the terminal when asked, sets `no_new_privs` when asked, and runs the
//!   command as its child (so it is inside the PID namespace) as the given user (in a process
//!   group of its own unless it has a terminal), exiting with its exit code (128 + signal when
//!   killed).
//!
//! Only [`ns`] holds unsafe code.

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

mod ns;

use rustix::mount::{MountFlags, MountPropagationFlags};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The first argument of the binary that selects the sandbox's entry points.
pub const SUBCOMMAND: &str = "pod-sandbox";

/// One volume mounted into the pod.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mount {
    /// The volume's directory, relative to the volumes tmpfs (`<volume>[/<subPath>]`).
    pub source: String,
    /// Where it appears (an absolute path on the host's file system).
    pub path: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// What the holder builds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Spec {
    /// The pod's host name (its name).
    pub hostname: String,
    /// Where the tmpfs holding the volumes is mounted (inside the pod's mount namespace only).
    pub volumes_dir: PathBuf,
    /// The volumes' directories, created on the tmpfs.
    pub volumes: Vec<String>,
    /// The mounts.
    pub mounts: Vec<Mount>,
}

fn fail(what: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("kubeward pod-sandbox: {what}: {e}");
    ExitCode::from(125)
}

/// Runs the entry point `args` names (the arguments after [`SUBCOMMAND`]).
pub fn main(args: &[String]) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("hold") => match args.get(1) {
            Some(spec) => hold(Path::new(spec)),
            None => fail("hold", "no spec file"),
        },
        Some("init") => init(),
        Some("pause") => pause(),
        Some("ctty") => ctty(&args[1..]),
        Some("enter") => match Enter::parse(&args[1..]) {
            Ok(e) => enter(&e),
            Err(e) => fail("enter", e),
        },
        other => fail("usage", format!("unknown entry point {other:?}")),
    }
}

fn io(e: rustix::io::Errno) -> std::io::Error {
    std::io::Error::from(e)
}

/// Builds the sandbox and holds it until standard input closes.
fn hold(spec_path: &Path) -> ExitCode {
    let spec: Spec = match std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => return fail("reading the spec", e),
    };
    if let Err(e) = ns::unshare_pod_namespaces() {
        return fail("creating the pod's namespaces (needs root)", e);
    }
    if let Err(e) = prepare(&spec) {
        return fail("preparing the pod's mounts", e);
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return fail("finding the kubeward binary", e),
    };
    let mut init = match Command::new(exe)
        .args([SUBCOMMAND, "init"])
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return fail("starting the pod's PID 1", e),
    };
    let mut out = std::io::stdout();
    if writeln!(out, "ready {}", init.id())
        .and_then(|()| out.flush())
        .is_err()
    {
        let _ = init.kill();
        return ExitCode::from(125);
    }
    // Until the agent lets go (or dies): then the pod goes.
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    let _ = init.kill();
    let _ = init.wait();
    ExitCode::SUCCESS
}

/// The holder's mounts: private propagation, the host name, the volumes' tmpfs and bind
/// mounts.
fn prepare(spec: &Spec) -> std::io::Result<()> {
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(io)?;
    rustix::system::sethostname(spec.hostname.as_bytes()).map_err(io)?;
    std::fs::create_dir_all(&spec.volumes_dir)?;
    rustix::mount::mount(
        "tmpfs",
        &spec.volumes_dir,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(c"mode=0755"),
    )
    .map_err(io)?;
    for v in &spec.volumes {
        std::fs::create_dir_all(spec.volumes_dir.join(v))?;
    }
    for m in &spec.mounts {
        let source = spec.volumes_dir.join(&m.source);
        std::fs::create_dir_all(&source)?;
        // A mount point the host lacks is made (as a runtime makes it in an image's root).
        std::fs::create_dir_all(&m.path)?;
        rustix::mount::mount_bind(&source, &m.path).map_err(io)?;
        if m.read_only {
            rustix::mount::mount_remount(&m.path, MountFlags::BIND | MountFlags::RDONLY, c"")
                .map_err(io)?;
        }
    }
    Ok(())
}

/// PID 1: the pod's `/proc`, then reap whatever is orphaned to it.
fn init() -> ExitCode {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if let Err(e) = rustix::mount::mount(
        "proc",
        "/proc",
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    ) {
        return fail("mounting the pod's /proc", e);
    }
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(_) => {}
            // No children yet: the holder's enter helpers add them.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

/// Leads a new session with standard input as its controlling terminal, then becomes the
/// command (`ctty -- ARGV`).
fn ctty(args: &[String]) -> ExitCode {
    use std::os::fd::AsFd;
    // `[--uid N] [--gid N] -- ARGV`: the user is taken at the exec, after the terminal (the
    // binary need not be the user's to run).
    let (mut uid, mut gid, mut rest) = (None, None, args);
    while let [flag, value, tail @ ..] = rest {
        match flag.as_str() {
            "--uid" => uid = value.parse::<u32>().ok(),
            "--gid" => gid = value.parse::<u32>().ok(),
            _ => break,
        }
        rest = tail;
    }
    let argv = match rest.first().map(String::as_str) {
        Some("--") => &rest[1..],
        _ => rest,
    };
    let Some(program) = argv.first() else {
        return fail("ctty", "no command");
    };
    let stdin = std::io::stdin();
    if let Err(err) = rustix::process::setsid()
        .map(|_| ())
        .and_then(|()| rustix::process::ioctl_tiocsctty(stdin.as_fd()))
    {
        return fail("taking the terminal", err);
    }
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..]);
    if let Some(g) = gid {
        cmd.gid(g);
    }
    if let Some(u) = uid {
        cmd.uid(u);
    }
    let err = cmd.exec();
    eprintln!(
        "exec: {program:?}: {}",
        if err.kind() == std::io::ErrorKind::NotFound {
            "executable file not found in $PATH".to_string()
        } else {
            err.to_string()
        }
    );
    ExitCode::from(if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    })
}

/// A container without a command: idles until it is stopped.
fn pause() -> ExitCode {
    loop {
        std::thread::park();
    }
}

/// How [`enter`] runs a command.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Enter {
    /// The host PID of the pod's PID 1.
    pub target: u32,
    /// Run as this user.
    pub uid: Option<u32>,
    /// ...and group.
    pub gid: Option<u32>,
    /// Set `no_new_privs` first.
    pub no_new_privs: bool,
    /// The working directory ("/" when none).
    pub cwd: Option<String>,
    /// Standard input is a terminal the command takes as its controlling terminal.
    pub tty: bool,
    /// The command and its arguments.
    pub argv: Vec<String>,
}

impl Enter {
    /// The arguments `enter` is started with, as [`Enter::parse`] reads them.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            SUBCOMMAND.to_string(),
            "enter".into(),
            "--target".into(),
            self.target.to_string(),
        ];
        if let Some(u) = self.uid {
            a.extend(["--uid".into(), u.to_string()]);
        }
        if let Some(g) = self.gid {
            a.extend(["--gid".into(), g.to_string()]);
        }
        if self.no_new_privs {
            a.push("--no-new-privs".into());
        }
        if let Some(c) = &self.cwd {
            a.extend(["--cwd".into(), c.clone()]);
        }
        if self.tty {
            a.push("--tty".into());
        }
        a.push("--".into());
        a.extend(self.argv.iter().cloned());
        a
    }

    /// Reads the arguments after `enter`.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut e = Enter::default();
        let mut it = args.iter();
        let num = |v: Option<&String>, what: &str| -> Result<u32, String> {
            v.and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("{what} needs a number"))
        };
        while let Some(a) = it.next() {
            match a.as_str() {
                "--target" => e.target = num(it.next(), "--target")?,
                "--uid" => e.uid = Some(num(it.next(), "--uid")?),
                "--gid" => e.gid = Some(num(it.next(), "--gid")?),
                "--no-new-privs" => e.no_new_privs = true,
                "--tty" => e.tty = true,
                "--cwd" => e.cwd = Some(it.next().cloned().ok_or("--cwd needs a directory")?),
                "--" => {
                    e.argv = it.cloned().collect();
                    break;
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if e.target == 0 || e.argv.is_empty() {
            return Err("needs --target and a command".into());
        }
        Ok(e)
    }
}

/// Joins the pod's namespaces and runs the command as a child inside them.
fn enter(e: &Enter) -> ExitCode {
    use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
    // Found before joining: inside, /proc is the pod's, where this process has no entry.
    let exe = std::env::current_exe().ok();
    // Open all three first: joining the mount namespace changes what /proc shows.
    let open = |kind: &str| std::fs::File::open(format!("/proc/{}/ns/{kind}", e.target));
    let (pid_ns, uts_ns, mnt_ns) = match (open("pid"), open("uts"), open("mnt")) {
        (Ok(p), Ok(u), Ok(m)) => (p, u, m),
        (Err(err), _, _) | (_, Err(err), _) | (_, _, Err(err)) => {
            return fail("opening the pod's namespaces", err)
        }
    };
    use std::os::fd::AsFd;
    let joined = move_into_link_name_space(pid_ns.as_fd(), Some(LinkNameSpaceType::ProcessID))
        .and_then(|()| {
            move_into_link_name_space(
                uts_ns.as_fd(),
                Some(LinkNameSpaceType::HostNameAndNISDomainName),
            )
        })
        .and_then(|()| move_into_link_name_space(mnt_ns.as_fd(), Some(LinkNameSpaceType::Mount)));
    if let Err(err) = joined {
        return fail("joining the pod's namespaces", err);
    }
    if e.no_new_privs {
        if let Err(err) = rustix::thread::set_no_new_privs(true) {
            return fail("setting no_new_privs", err);
        }
    }
    // With a terminal, the command starts as `ctty`, which inside the pod's PID namespace
    // makes a session, takes the terminal and becomes the command: so a shell's job control
    // sees its session and groups (a session led from outside the namespace would not be).
    let mut cmd = if e.tty {
        let Some(exe) = exe else {
            return fail("finding the kubeward binary", "unknown");
        };
        let mut c = Command::new(exe);
        c.args([SUBCOMMAND, "ctty"]);
        for (flag, id) in [("--uid", e.uid), ("--gid", e.gid)] {
            if let Some(id) = id {
                c.args([flag.to_string(), id.to_string()]);
            }
        }
        c.arg("--").args(&e.argv);
        c
    } else {
        let mut c = Command::new(&e.argv[0]);
        c.args(&e.argv[1..]).process_group(0);
        c
    };
    cmd.current_dir(e.cwd.as_deref().unwrap_or("/"));
    // With a terminal, `ctty` takes the user as it becomes the command.
    if !e.tty {
        if let Some(g) = e.gid {
            cmd.gid(g);
        }
        if let Some(u) = e.uid {
            cmd.uid(u);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(err) => {
            // As a runtime words it: the kubelet shows this as the container's message.
            eprintln!(
                "exec: {:?}: {}",
                e.argv[0],
                match err.kind() {
                    std::io::ErrorKind::NotFound =>
                        "executable file not found in $PATH".to_string(),
                    _ => err.to_string(),
                }
            );
            return ExitCode::from(if err.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    match child.wait() {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(c), _) => ExitCode::from(u8::try_from(c).unwrap_or(255)),
            (None, Some(sig)) => ExitCode::from(u8::try_from(128 + sig).unwrap_or(255)),
            _ => ExitCode::from(255),
        },
        Err(err) => fail("waiting for the command", err),
    }
}

/// Reads the holder's `ready <pid>` line.
pub fn read_ready(line: &str) -> Option<u32> {
    line.trim().strip_prefix("ready ")?.parse().ok()
}

/// Reads one line from a reader (the holder's standard output).
pub fn first_line(r: impl Read) -> std::io::Result<String> {
    let mut line = String::new();
    std::io::BufReader::new(r).read_line(&mut line)?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_arguments_round_trip() {
        let e = Enter {
            target: 42,
            uid: Some(1000),
            gid: Some(100),
            no_new_privs: true,
            cwd: Some("/tmp".into()),
            tty: true,
            argv: vec!["sh".into(), "-c".into(), "echo --uid".into()],
        };
        let args = e.to_args();
        assert_eq!(&args[..2], [SUBCOMMAND, "enter"]);
        assert_eq!(Enter::parse(&args[2..]).unwrap(), e);
        assert!(Enter::parse(&["--target".into(), "x".into()]).is_err());
        assert!(Enter::parse(&["--target".into(), "3".into()]).is_err());
        assert_eq!(read_ready("ready 77\n"), Some(77));
        assert_eq!(read_ready("kubeward pod-sandbox: no\n"), None);
    }
}
