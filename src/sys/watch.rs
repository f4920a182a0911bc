//! Change notification for cached files: inotify watches on the directories that hold them.

use super::{OwnedFd, Result};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use std::mem::MaybeUninit;

pub struct Watcher {
    fd: OwnedFd,
}

/// What a drained event says.
pub enum Change {
    /// Something changed in the directory watched as `wd`.
    Dir(i32),
    /// Events were lost: everything must be considered changed.
    Overflow,
}

impl Watcher {
    pub fn new() -> Result<Watcher> {
        Ok(Watcher {
            fd: inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?,
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
        inotify::add_watch(&self.fd, path, flags)
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
