//! Linux: inotify watches on the directories that hold cached files.

use super::Change;
use crate::sys::{AsFd, AsRawFd, OwnedFd, Result};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use std::mem::MaybeUninit;

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
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        loop {
            match reader.next() {
                Ok(ev) => {
                    if ev.events().contains(ReadFlags::QUEUE_OVERFLOW) {
                        f(Change::Overflow);
                    } else {
                        f(Change::Dir(ev.wd()));
                    }
                }
                Err(_) => return,
            }
        }
    }
}
