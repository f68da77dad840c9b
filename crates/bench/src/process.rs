//! Child processes measured from outside: `wait4` reads a child's own peak resident set, so
//! one measurement never includes another process's memory (nor the bench's).

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// `wait4` on one child: its exit status and its own peak resident set (KiB on Linux).
pub fn wait_with_rusage(pid: u32) -> std::io::Result<(ExitStatus, i64)> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid for writes for the duration of the call, and
        // `pid` is our own child, which nothing else waits for.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if waited == pid {
            return Ok((ExitStatus::from_raw(status), usage.ru_maxrss));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Whether the child `pid` has exited, without reaping it (`waitid` with `WNOWAIT`), so a
/// later [`wait_with_rusage`] still gets its resource usage. A bench polls this to stop
/// waiting for a function that died at start-up instead of sitting out its timeout.
pub fn has_exited(pid: u32) -> bool {
    let pid: libc::id_t = pid;
    // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid for writes for the duration of the call; WNOWAIT leaves the
    // child waitable, so its owner still reaps it.
    let result = unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: after a successful waitid, si_pid is set (0 when no child changed state).
    result == 0 && unsafe { info.si_pid() } != 0
}
