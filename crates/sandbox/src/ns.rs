//! The one `unsafe` call of the workspace: `unshare(2)` of the mount, UTS and PID
//! namespaces, which rustix marks unsafe because `CLONE_FILES` could split a file table
//! between threads. It runs at the start of a single-threaded process (the sandbox holder,
//! before it starts any thread) and never with `CLONE_FILES`.
#![allow(unsafe_code)]

use rustix::thread::UnshareFlags;

/// Moves the calling process into new mount and UTS namespaces, and its future children
/// into a new PID namespace (the first becomes its PID 1).
///
/// Must be called while the process has one thread.
pub(crate) fn unshare_pod_namespaces() -> std::io::Result<()> {
    let flags = UnshareFlags::NEWNS | UnshareFlags::NEWUTS | UnshareFlags::NEWPID;
    // SAFETY: `unshare_unsafe` is unsafe only for `UnshareFlags::FILES`, which splits the fd
    // table so that threads could observe descriptors of another table. These flags do not
    // include it, and the caller (`hold`, first thing in its process, before any thread is
    // spawned) has no other thread that could observe anything.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(std::io::Error::from)
}
