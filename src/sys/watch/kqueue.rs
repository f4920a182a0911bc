//! macOS: an EVFILT_VNODE knote on each watched directory, all in one kqueue that the worker's
//! poller watches for reading. Each directory is held open with O_EVTONLY, a descriptor meant
//! for event notification only (it does not keep its volume from being unmounted).
//!
//! What differs from inotify:
//! - A directory's vnode events say that a name in it was created, removed or renamed
//!   (NOTE_WRITE, NOTE_EXTEND, NOTE_LINK), that its attributes changed (NOTE_ATTRIB), or that
//!   the directory itself was deleted or renamed (NOTE_DELETE, NOTE_RENAME, NOTE_REVOKE). They
//!   do not report a write into a file already in the directory, which inotify's IN_MODIFY
//!   does: a file edited in place stays cached until the cache's TTL runs out. A file replaced
//!   by rename (how editors, deploy tools and this server's uploads write) is seen at once.
//! - Each watch holds a descriptor, so a watcher holds at most `MAX_WATCHES`; past that,
//!   `watch_dir` fails with ENOSPC (what inotify says at its limit) and the cache does not
//!   cache files of that directory.
//! - Watching a directory already watched gives its existing `wd`, as inotify_add_watch does;
//!   the directory is recognised by device and inode.
//! - A directory deleted or renamed loses its watch once that event is drained (inotify keeps
//!   it across a rename); the cache watches the directory at that path again when it next
//!   caches a file there.
//! - kqueue merges repeated events of one knote instead of queueing them, so it never
//!   overflows and `Change::Overflow` is never reported.

use super::Change;
use crate::sys::{AsFd, AsRawFd, Errno, OwnedFd, Result};
use rustix::event::kqueue::{self, Event, EventFilter, EventFlags, VnodeEvents, kevent_timespec};
use rustix::fs::{Mode, OFlags};
use rustix::time::Timespec;
use std::cell::{Cell, RefCell};
use std::mem::MaybeUninit;

/// Most directories one watcher watches: each costs a descriptor for as long as it is
/// watched, taken from the budget that connections also draw on.
const MAX_WATCHES: usize = 256;

/// Events taken per kevent call while draining.
const DRAIN_BATCH: usize = 64;

pub struct Watcher {
    kq: OwnedFd,
    watches: RefCell<Vec<Watch>>,
    next_wd: Cell<i32>,
}

struct Watch {
    wd: i32,
    dev: u64,
    ino: u64,
    /// Held open for the knote; closing it removes the knote.
    _dir: OwnedFd,
}

/// Every change to the names in a directory, and to the directory itself.
const VNODE_EVENTS: VnodeEvents = VnodeEvents::WRITE
    .union(VnodeEvents::EXTEND)
    .union(VnodeEvents::ATTRIBUTES)
    .union(VnodeEvents::LINK)
    .union(VnodeEvents::DELETE)
    .union(VnodeEvents::RENAME)
    .union(VnodeEvents::REVOKE);

/// The events after which the watched descriptor no longer stands for the path it was
/// opened by.
const GONE: VnodeEvents = VnodeEvents::DELETE
    .union(VnodeEvents::RENAME)
    .union(VnodeEvents::REVOKE);

impl Watcher {
    pub fn new() -> Result<Watcher> {
        let kq = traced!("kqueue", (""), kqueue::kqueue())?;
        Ok(Watcher {
            kq: OwnedFd::new(kq),
            watches: RefCell::new(Vec::new()),
            next_wd: Cell::new(1),
        })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.kq
    }

    /// Watch a directory for any change to the names in it (see the module doc for what a
    /// directory's events do not cover).
    pub fn watch_dir(&self, path: &std::path::Path) -> Result<i32> {
        let evtonly = OFlags::from_bits_retain(libc::O_EVTONLY as u32);
        let dir = traced!(
            "open",
            ("{path:?}, O_EVTONLY|O_DIRECTORY|O_CLOEXEC"),
            rustix::fs::open(
                path,
                evtonly | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty()
            )
        )
        .map(OwnedFd::new)?;
        let st = crate::sys::fs::fstat(&dir)?;
        let mut watches = self.watches.borrow_mut();
        if let Some(w) = watches
            .iter()
            .find(|w| w.dev == st.st_dev && w.ino == st.st_ino)
        {
            return Ok(w.wd);
        }
        if watches.len() >= MAX_WATCHES {
            return Err(Errno::NOSPC);
        }
        let wd = self.next_wd.get();
        let raw = dir.as_fd().as_raw_fd();
        let ev = Event::new(
            EventFilter::Vnode {
                vnode: raw,
                flags: VNODE_EVENTS,
            },
            EventFlags::ADD | EventFlags::CLEAR,
            // The wd travels in udata as an integer, never dereferenced.
            core::ptr::without_provenance_mut(wd as usize),
        );
        traced!(
            "kevent",
            (
                "{}, [{{{raw}, EVFILT_VNODE, {VNODE_EVENTS:?}}}], EV_ADD|EV_CLEAR",
                self.kq.as_fd().as_raw_fd()
            ),
            // SAFETY: the knote's descriptor is held in `watches` for as long as the watch
            // exists, and closing it removes the knote, so no event outlives it.
            unsafe { kevent_timespec(&self.kq, &[ev], &mut [] as &mut [MaybeUninit<Event>], None) }
                .map(|_| ())
        )?;
        self.next_wd.set(wd.checked_add(1).unwrap_or(1));
        watches.push(Watch {
            wd,
            dev: st.st_dev,
            ino: st.st_ino,
            _dir: dir,
        });
        Ok(wd)
    }

    /// Take every pending event, calling `f` for each.
    pub fn drain(&self, mut f: impl FnMut(Change)) {
        let mut buf = [MaybeUninit::<Event>::uninit(); DRAIN_BATCH];
        let none = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let raw = self.kq.as_fd().as_raw_fd();
        loop {
            let mut taken = None;
            let got = traced!(
                "kevent",
                ("{raw}, NULL, 0, {DRAIN_BATCH}, 0"),
                // SAFETY: no changes are passed; see `watch_dir` for why no event can refer
                // to a closed descriptor.
                unsafe { kevent_timespec(&self.kq, &[], &mut buf[..], Some(&none)) }.map(
                    |(events, _)| {
                        let n = events.len();
                        taken = Some(events);
                        n
                    }
                )
            );
            let (Ok(n), Some(events)) = (got, taken) else {
                return;
            };
            for e in events.iter() {
                let wd = e.udata().addr() as i32;
                if let EventFilter::Vnode { flags, .. } = e.filter()
                    && flags.intersects(GONE)
                {
                    self.watches.borrow_mut().retain(|w| w.wd != wd);
                }
                f(Change::Dir(wd));
            }
            if n < DRAIN_BATCH {
                return;
            }
        }
    }
}
