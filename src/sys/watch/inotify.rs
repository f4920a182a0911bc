//! Linux: inotify watches on the directories that hold cached files.

use super::Change;
use crate::sys::{AsFd, AsRawFd, OwnedFd, Result};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

pub struct Watcher {
    fd: OwnedFd,
}

impl Watcher {
    pub fn new() -> Result<Watcher> {
        let fd = traced!(
            "inotify_init1",
            ("IN_CLOEXEC|IN_NONBLOCK"),
            inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
        )?;
        Ok(Watcher {
            fd: OwnedFd::new(fd),
        })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Watch a directory for any change to the names in it or their contents.
    pub fn watch_dir(&self, path: &std::path::Path) -> Result<i32> {
        let flags = WatchFlags::MODIFY
            | WatchFlags::ATTRIB
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::MOVED_FROM
            | WatchFlags::MOVED_TO
            | WatchFlags::ONLYDIR;
        traced!(
            "inotify_add_watch",
            ("{}, {path:?}, {flags:?}", self.fd.as_fd().as_raw_fd()),
            inotify::add_watch(&self.fd, path, flags)
        )
    }

    /// Read every pending event, calling `f` for each.
    pub fn drain(&self, mut f: impl FnMut(Change)) {
        // Read with the traced `read`, so that `--trace` shows these calls too, and walk the
        // `struct inotify_event` records (wd, mask, cookie, len, then `len` bytes of name).
        const HEAD: usize = 16;
        let mut buf = [0u8; 4096];
        loop {
            let n = match crate::sys::net::read(&self.fd, &mut buf) {
                Ok(n) if n > 0 => n,
                _ => return,
            };
            let mut at = 0;
            while at + HEAD <= n {
                let field = |i: usize| {
                    let b = &buf[at + i..at + i + 4];
                    [b[0], b[1], b[2], b[3]]
                };
                let wd = i32::from_ne_bytes(field(0));
                let mask = u32::from_ne_bytes(field(4));
                let len = u32::from_ne_bytes(field(12)) as usize;
                if mask & ReadFlags::QUEUE_OVERFLOW.bits() != 0 {
                    f(Change::Overflow);
                } else {
                    f(Change::Dir(wd));
                }
                at += HEAD + len;
            }
            // Room was left for another whole event (a name is at most 255 bytes): the
            // queue was empty, no need for the read that would say EAGAIN.
            if n + HEAD + 256 <= buf.len() {
                return;
            }
        }
    }
}
