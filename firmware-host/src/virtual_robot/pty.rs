//! A pseudo-terminal pair from openpty(3): the robot keeps the master, the host opens the
//! slave's path like any serial device. An optional symlink gives it a stable name.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::link_error::LinkError;

pub(crate) struct Pty {
    master: File,
    /// Held open so the slave's settings persist and reads on the master do not fail with
    /// EIO between two host sessions.
    _slave: OwnedFd,
    pub(crate) slave_path: PathBuf,
    link: Option<PathBuf>,
}

fn os_err(what: &str) -> LinkError {
    LinkError::Pty(format!("{what}: {}", std::io::Error::last_os_error()))
}

impl Pty {
    /// Opens a raw pair; `link`, if given, is (re)pointed at the slave.
    pub(crate) fn open(link: Option<&Path>) -> Result<Pty, LinkError> {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two descriptors; name, termios and winsize may be null.
        let rc = unsafe {
            libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
        };
        if rc != 0 {
            return Err(os_err("openpty"));
        }
        // SAFETY: both descriptors were just returned by openpty and are owned by nobody else.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        make_raw(slave.as_raw_fd())?;
        set_nonblocking(master.as_raw_fd())?;
        let slave_path = tty_name(slave.as_raw_fd())?;
        if let Some(link) = link {
            let _ = std::fs::remove_file(link);
            std::os::unix::fs::symlink(&slave_path, link).map_err(|e| {
                LinkError::Pty(format!("symlink {} -> {}: {e}", link.display(), slave_path.display()))
            })?;
        }
        Ok(Pty { master, _slave: slave, slave_path, link: link.map(Path::to_path_buf) })
    }

    /// Waits up to `timeout` for bytes from the host.
    pub(crate) fn readable(&self, timeout: Duration) -> bool {
        let mut fd = libc::pollfd { fd: self.master.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut fd, 1, ms) };
        n > 0 && fd.revents & libc::POLLIN != 0
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        use std::io::Read;
        self.master.read(buf).unwrap_or(0)
    }

    /// Writes what the line takes now; like a UART, never waits for a slow reader. Returns
    /// the number of bytes written (the rest is lost, as on a real line with no buffer).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> usize {
        use std::io::Write;
        let mut done = 0;
        while done < bytes.len() {
            match self.master.write(&bytes[done..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        done
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }
}

fn make_raw(fd: i32) -> Result<(), LinkError> {
    // SAFETY: termios is plain data; tcgetattr fills it before cfmakeraw and tcsetattr read it.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(os_err("tcgetattr"));
        }
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
            return Err(os_err("tcsetattr"));
        }
    }
    Ok(())
}

fn set_nonblocking(fd: i32) -> Result<(), LinkError> {
    // SAFETY: fcntl on a descriptor we own.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
    };
    if ok { Ok(()) } else { Err(os_err("fcntl O_NONBLOCK")) }
}

fn tty_name(fd: i32) -> Result<PathBuf, LinkError> {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: ttyname_r writes a NUL-terminated name of at most buf.len() bytes.
    let rc = unsafe { libc::ttyname_r(fd, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return Err(LinkError::Pty(format!("ttyname_r: error {rc}")));
    }
    // SAFETY: ttyname_r succeeded, so buf holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Ok(PathBuf::from(name.to_string_lossy().into_owned()))
}
