//! Linux: one edge-triggered epoll instance per worker, and an eventfd to wake a worker from
//! another thread.

use super::{Interest, Ready};
use crate::sys::{AsFd, AsRawFd, OwnedFd, Result};
use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};

pub struct Poller {
    ep: OwnedFd,
    events: Vec<Event>,
}

impl Poller {
    pub fn new(capacity: usize) -> Result<Poller> {
        let ep = traced!(
            "epoll_create1",
            ("EPOLL_CLOEXEC"),
            epoll::create(CreateFlags::CLOEXEC)
        )?;
        Ok(Poller {
            ep: OwnedFd::new(ep),
            events: Vec::with_capacity(capacity),
        })
    }

    pub fn add(&self, fd: impl AsFd, token: u64, interest: Interest) -> Result<()> {
        let flags = match interest {
            Interest::Stream => {
                EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET
            }
            Interest::Listener => EventFlags::IN | EventFlags::EXCLUSIVE,
            Interest::Readable => EventFlags::IN,
        };
        let fd = fd.as_fd();
        traced!(
            "epoll_ctl",
            (
                "{}, EPOLL_CTL_ADD, {}, {:?}",
                self.ep.as_fd().as_raw_fd(),
                fd.as_raw_fd(),
                flags
            ),
            epoll::add(&self.ep, fd, EventData::new_u64(token), flags)
        )
    }

    pub fn delete(&self, fd: impl AsFd) -> Result<()> {
        let fd = fd.as_fd();
        traced!(
            "epoll_ctl",
            (
                "{}, EPOLL_CTL_DEL, {}",
                self.ep.as_fd().as_raw_fd(),
                fd.as_raw_fd()
            ),
            epoll::delete(&self.ep, fd)
        )
    }

    /// Wait up to `timeout_ms` (0: do not block; None: until an event comes) and return the
    /// events that arrived.
    pub fn wait(&mut self, timeout_ms: Option<u64>) -> Result<impl Iterator<Item = Ready> + '_> {
        // As the kernel shows it: -1 for no limit.
        let shown = timeout_ms.map_or(-1, |ms| ms as i64);
        let ts = timeout_ms.map(|ms| rustix::time::Timespec {
            tv_sec: (ms / 1000) as i64,
            tv_nsec: ((ms % 1000) * 1_000_000) as i64,
        });
        self.events.clear();
        let cap = self.events.capacity();
        let r = traced!(
            wait "epoll_pwait",
            ("{}, {cap}, {shown}", self.ep.as_fd().as_raw_fd()),
            epoll::wait(
                &self.ep,
                rustix::buffer::spare_capacity(&mut self.events),
                ts.as_ref()
            )
        );
        match r {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
        Ok(self.events.iter().map(|e| {
            let f = e.flags;
            Ready {
                token: e.data.u64(),
                readable: f.intersects(EventFlags::IN | EventFlags::PRI),
                writable: f.contains(EventFlags::OUT),
                hangup: f.intersects(EventFlags::ERR | EventFlags::HUP | EventFlags::RDHUP),
                closed: f.intersects(EventFlags::ERR | EventFlags::HUP),
            }
        }))
    }
}

// SAFETY: the event buffer holds only plain u64 tokens the server put in (never pointers), so
// moving it to the worker thread that owns the poller is sound; rustix marks it !Send only
// because the union can also carry a pointer.
unsafe impl Send for Poller {}

/// Wakes a worker's poller from another thread (shutdown).
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> Result<Waker> {
        let fd = traced!(
            "eventfd2",
            ("0, EFD_CLOEXEC|EFD_NONBLOCK"),
            eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
        )?;
        Ok(Waker {
            fd: OwnedFd::new(fd),
        })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    // Through the traced `write` and `read`, so that `--trace` shows these calls too.
    pub fn wake(&self) {
        let _ = crate::sys::fs::write(&self.fd, &1u64.to_ne_bytes());
    }

    pub fn reset(&self) {
        let mut b = [0u8; 8];
        let _ = crate::sys::net::read(&self.fd, &mut b);
    }
}
