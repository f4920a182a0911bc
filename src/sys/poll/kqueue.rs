//! macOS: one kqueue per worker, and a second tiny kqueue with an EVFILT_USER event to wake a
//! worker from another thread.
//!
//! What differs from epoll, and why it is harmless to the server above:
//! - A connection is two knotes, EVFILT_READ and EVFILT_WRITE, both EV_CLEAR (edge-triggered,
//!   as EPOLLET), registered once for the connection's life and carrying its token in udata.
//!   They are reported as separate events; `wait` merges a read and a write event of the same
//!   token when they come one after the other. When they do not, the token is reported twice
//!   in one batch, which the server tolerates: a `Ready` only sets flags on its connection,
//!   and a token carries a generation, so it never reaches a connection it was not meant for.
//! - EV_EOF on the read filter is the peer's FIN (as EPOLLRDHUP): `hangup`. EV_EOF on the write
//!   filter means nothing more can be sent (the peer reset or is gone, as EPOLLHUP/EPOLLERR):
//!   `hangup` and `closed`.
//! - kqueue has no EPOLLEXCLUSIVE. A listener is a plain level-triggered EVFILT_READ in every
//!   worker's kqueue, so each incoming connection wakes all workers; one accepts it and the
//!   others get EAGAIN, which `net::accept` reports as "nothing waiting".
//! - A CGI pipe end is registered as a `Stream` too. Some kernels refuse the filter of the
//!   direction a pipe end does not have, so each change is applied with EV_RECEIPT and a
//!   registration succeeds when at least one filter was accepted.
//! - Closing a descriptor removes its knotes, as it removes it from an epoll set.
//! - A kqueue descriptor is never inherited by a child process, so neither kqueue needs
//!   close-on-exec.

use super::{Interest, Ready};
use crate::sys::{AsFd, AsRawFd, Errno, OwnedFd, Result};
use rustix::buffer::spare_capacity;
use rustix::event::kqueue::{
    self, Event, EventFilter, EventFlags, UserDefinedFlags, UserFlags, kevent_timespec,
};
use rustix::time::Timespec;
use std::mem::MaybeUninit;

pub struct Poller {
    kq: OwnedFd,
    events: Vec<Event>,
    /// The events of the last `wait`, as readiness reports (read and write merged).
    ready: Vec<Ready>,
}

/// A timeout of zero: apply changes or take what is pending, never block.
const NO_WAIT: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

impl Poller {
    pub fn new(capacity: usize) -> Result<Poller> {
        let kq = traced!("kqueue", (""), kqueue::kqueue())?;
        Ok(Poller {
            kq: OwnedFd::new(kq),
            events: Vec::with_capacity(capacity),
            ready: Vec::with_capacity(capacity),
        })
    }

    pub fn add(&self, fd: impl AsFd, token: u64, interest: Interest) -> Result<()> {
        let raw = fd.as_fd().as_raw_fd();
        // The token travels in udata as an address-sized integer, never dereferenced.
        let udata = core::ptr::without_provenance_mut(token as usize);
        let kq = self.kq.as_fd().as_raw_fd();
        match interest {
            Interest::Stream => {
                let flags = EventFlags::ADD | EventFlags::CLEAR | EventFlags::RECEIPT;
                let changes = read_and_write(raw, flags, udata);
                traced!(
                    "kevent",
                    ("{kq}, [{{{raw}, EVFILT_READ}}, {{{raw}, EVFILT_WRITE}}], EV_ADD|EV_CLEAR|EV_RECEIPT"),
                    self.apply(&changes)
                        .and_then(|(done, refused)| match refused {
                            Some(e) if done == 0 => Err(e),
                            _ => Ok(()),
                        })
                )
            }
            Interest::Listener | Interest::Readable => {
                let flags = EventFlags::ADD | EventFlags::RECEIPT;
                let changes = [Event::new(EventFilter::Read(raw), flags, udata)];
                traced!(
                    "kevent",
                    ("{kq}, [{{{raw}, EVFILT_READ}}], EV_ADD|EV_RECEIPT"),
                    self.apply(&changes).and_then(|(_, refused)| match refused {
                        Some(e) => Err(e),
                        None => Ok(()),
                    })
                )
            }
        }
    }

    pub fn delete(&self, fd: impl AsFd) -> Result<()> {
        let raw = fd.as_fd().as_raw_fd();
        let kq = self.kq.as_fd().as_raw_fd();
        let flags = EventFlags::DELETE | EventFlags::RECEIPT;
        // Which filters `fd` has is not known here (a listener has no write filter): delete
        // both, and let ENOENT for one of them pass.
        let changes = read_and_write(raw, flags, core::ptr::null_mut());
        traced!(
            "kevent",
            ("{kq}, [{{{raw}, EVFILT_READ}}, {{{raw}, EVFILT_WRITE}}], EV_DELETE|EV_RECEIPT"),
            self.apply(&changes)
                .and_then(|(done, refused)| match refused {
                    Some(e) if done == 0 || e != Errno::NOENT => Err(e),
                    _ => Ok(()),
                })
        )
    }

    /// Apply one or two changes with EV_RECEIPT, so that each is answered on its own instead
    /// of the first refusal stopping the rest: how many the kernel made, and the first errno
    /// it refused one with.
    fn apply(&self, changes: &[Event]) -> Result<(usize, Option<Errno>)> {
        let mut receipts = [MaybeUninit::<Event>::uninit(); 2];
        let n = changes.len().min(receipts.len());
        // SAFETY: every change names a descriptor the caller borrows for this call, and the
        // kernel drops a knote when its descriptor is closed, so no event can outlive the
        // descriptor it refers to (rustix's condition for kevent).
        let (got, _) = unsafe {
            kevent_timespec(&self.kq, &changes[..n], &mut receipts[..n], Some(&NO_WAIT))
        }?;
        let mut done = 0;
        let mut refused = None;
        for r in got.iter() {
            // A receipt has EV_ERROR set and carries the change's errno in `data`, 0 if made.
            match r.data() {
                0 => done += 1,
                e => refused = refused.or(Some(Errno::from_raw_os_error(e as i32))),
            }
        }
        Ok((done, refused))
    }

    /// Wait up to `timeout_ms` (0: do not block; None: until an event comes) and return the
    /// events that arrived.
    pub fn wait(&mut self, timeout_ms: Option<u64>) -> Result<impl Iterator<Item = Ready> + '_> {
        // As the kernel shows it: -1 for no limit.
        let shown = timeout_ms.map_or(-1, |ms| ms as i64);
        let ts = timeout_ms.map(|ms| Timespec {
            tv_sec: (ms / 1000) as i64,
            tv_nsec: ((ms % 1000) * 1_000_000) as i64,
        });
        self.events.clear();
        self.ready.clear();
        let cap = self.events.capacity();
        let kq = &self.kq;
        let events = &mut self.events;
        let r = traced!(
            wait "kevent",
            ("{}, NULL, 0, {cap}, {shown}", kq.as_fd().as_raw_fd()),
            // SAFETY: no changes are passed; see `apply` for why pending events cannot refer
            // to closed descriptors.
            unsafe { kevent_timespec(kq, &[], spare_capacity(events), ts.as_ref()) }
        );
        match r {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
        for e in &self.events {
            let token = e.udata().addr() as u64;
            let f = e.flags();
            let eof = f.contains(EventFlags::EOF);
            let err = f.contains(EventFlags::ERROR);
            let write = matches!(e.filter(), EventFilter::Write(_));
            let r = Ready {
                token,
                readable: !write,
                writable: write,
                hangup: eof || err,
                closed: err || (write && eof),
            };
            match self.ready.last_mut() {
                Some(last) if last.token == token => {
                    last.readable |= r.readable;
                    last.writable |= r.writable;
                    last.hangup |= r.hangup;
                    last.closed |= r.closed;
                }
                _ => self.ready.push(r),
            }
        }
        Ok(self.ready.iter().copied())
    }
}

/// The same change to both filters of a descriptor.
fn read_and_write(raw: i32, flags: EventFlags, udata: *mut core::ffi::c_void) -> [Event; 2] {
    [
        Event::new(EventFilter::Read(raw), flags, udata),
        Event::new(EventFilter::Write(raw), flags, udata),
    ]
}

// SAFETY: the event buffer holds only tokens the server put in udata as integers (never
// pointers to anything), so moving it to the worker thread that owns the poller is sound;
// rustix's Event is !Send only because udata is typed as a pointer.
unsafe impl Send for Poller {}

/// Wakes a worker's poller from another thread (shutdown). The waker is a kqueue of its own
/// holding one EVFILT_USER event: the worker's poller watches that kqueue for reading, which
/// it is while the user event is triggered and not yet taken by `reset`.
pub struct Waker {
    kq: OwnedFd,
}

/// The waker's one user event.
const WAKE_IDENT: isize = 0;

impl Waker {
    pub fn new() -> Result<Waker> {
        let kq = OwnedFd::new(traced!("kqueue", (""), kqueue::kqueue())?);
        let ev = Event::new(
            EventFilter::User {
                ident: WAKE_IDENT,
                flags: UserFlags::empty(),
                user_flags: UserDefinedFlags::new(0),
            },
            EventFlags::ADD | EventFlags::CLEAR,
            core::ptr::null_mut(),
        );
        let raw = kq.as_fd().as_raw_fd();
        traced!(
            "kevent",
            ("{raw}, [{{{WAKE_IDENT}, EVFILT_USER}}], EV_ADD|EV_CLEAR"),
            // SAFETY: a user event names no descriptor.
            unsafe { kevent_timespec(&kq, &[ev], &mut [] as &mut [MaybeUninit<Event>], None) }
                .map(|_| ())
        )?;
        Ok(Waker { kq })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.kq
    }

    pub fn wake(&self) {
        let ev = Event::new(
            EventFilter::User {
                ident: WAKE_IDENT,
                flags: UserFlags::TRIGGER,
                user_flags: UserDefinedFlags::new(0),
            },
            EventFlags::empty(),
            core::ptr::null_mut(),
        );
        let raw = self.kq.as_fd().as_raw_fd();
        let _ = traced!(
            "kevent",
            ("{raw}, [{{{WAKE_IDENT}, EVFILT_USER}}], NOTE_TRIGGER"),
            // SAFETY: a user event names no descriptor.
            unsafe { kevent_timespec(&self.kq, &[ev], &mut [] as &mut [MaybeUninit<Event>], None) }
                .map(|_| ())
        );
    }

    pub fn reset(&self) {
        let mut taken = [MaybeUninit::<Event>::uninit(); 1];
        let raw = self.kq.as_fd().as_raw_fd();
        let _ = traced!(
            "kevent",
            ("{raw}, NULL, 0, 1, 0"),
            // SAFETY: no changes are passed; taking the triggered event clears it (EV_CLEAR).
            unsafe { kevent_timespec(&self.kq, &[], &mut taken[..], Some(&NO_WAIT)) }
                .map(|(got, _)| got.len())
        );
    }
}
