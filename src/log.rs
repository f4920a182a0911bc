//! The access log, in Combined Log Format, written by a thread of its own.
//!
//! Each worker appends lines to a buffer it owns and, once per pass of its event loop, hands a
//! full buffer to the log thread through a bounded channel and takes back an empty one. So a
//! request costs a few appends and no syscall, and a slow log destination (a full pipe, a slow
//! disk) never blocks an event loop: when the channel is full the worker keeps filling its
//! buffer up to a cap, then drops lines and counts them.

use std::io::Write;
use std::sync::mpsc;

/// Most bytes a worker holds while the log thread is behind; past this, lines are dropped.
const MAX_PENDING: usize = 1 << 20;
/// Buffers in flight between the workers and the log thread.
const CHANNEL_DEPTH: usize = 64;

/// The workers' side of the log.
#[derive(Clone)]
pub struct LogSink {
    full: mpsc::SyncSender<Vec<u8>>,
    /// Emptied buffers coming back, so that steady logging allocates nothing.
    empty: std::sync::Arc<std::sync::Mutex<mpsc::Receiver<Vec<u8>>>>,
}

/// Start the log thread writing to `out`. Dropping every `LogSink` ends it, after it has
/// written everything sent.
pub fn start(mut out: Box<dyn Write + Send>) -> (LogSink, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(CHANNEL_DEPTH);
    let (back_tx, back_rx) = mpsc::sync_channel::<Vec<u8>>(CHANNEL_DEPTH);
    let handle = std::thread::Builder::new()
        .name("access-log".into())
        .spawn(move || {
            let mut failed = false;
            for mut buf in rx {
                if let Err(e) = out.write_all(&buf).and_then(|()| out.flush()) {
                    if !failed {
                        eprintln!("barehttpd: access log: write failed: {e}; lines are lost");
                    }
                    failed = true;
                }
                buf.clear();
                let _ = back_tx.try_send(buf);
            }
        })
        .expect("spawn the access-log thread");
    let empty = std::sync::Arc::new(std::sync::Mutex::new(back_rx));
    (LogSink { full: tx, empty }, handle)
}

/// One worker's buffer of log lines.
pub struct WorkerLog {
    sink: Option<LogSink>,
    buf: Vec<u8>,
    dropped: u64,
}

impl WorkerLog {
    pub fn new(sink: Option<LogSink>) -> WorkerLog {
        WorkerLog {
            sink,
            buf: Vec::with_capacity(16 * 1024),
            dropped: 0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Append one Combined Log Format line.
    #[allow(clippy::too_many_arguments)]
    pub fn line(
        &mut self,
        peer: Option<&std::net::SocketAddr>,
        time: &str,
        request_line: &[u8],
        status: u16,
        bytes: u64,
        referer: Option<&[u8]>,
        agent: Option<&[u8]>,
    ) {
        if self.sink.is_none() {
            return;
        }
        if self.buf.len() > MAX_PENDING {
            self.dropped += 1;
            return;
        }
        let b = &mut self.buf;
        match peer {
            Some(a) => {
                let _ = write!(b, "{}", a.ip());
            }
            None => b.push(b'-'),
        }
        b.extend_from_slice(b" - - [");
        b.extend_from_slice(time.as_bytes());
        b.extend_from_slice(b"] \"");
        escape(b, request_line);
        b.extend_from_slice(b"\" ");
        crate::http::response::push_u64(b, u64::from(status));
        b.push(b' ');
        crate::http::response::push_u64(b, bytes);
        for v in [referer, agent] {
            b.extend_from_slice(b" \"");
            match v {
                Some(v) => escape(b, v),
                None => b.push(b'-'),
            }
            b.push(b'"');
        }
        b.push(b'\n');
    }

    /// Hand what is buffered to the log thread, without blocking.
    pub fn flush(&mut self) {
        let Some(sink) = &self.sink else { return };
        if self.buf.is_empty() && self.dropped == 0 {
            return;
        }
        if self.dropped > 0 && self.buf.len() <= MAX_PENDING {
            let note = format!("# barehttpd: {} access-log lines dropped\n", self.dropped);
            self.buf.extend_from_slice(note.as_bytes());
            self.dropped = 0;
        }
        let recycled = sink.empty.try_lock().ok().and_then(|rx| rx.try_recv().ok());
        let next = recycled.unwrap_or_else(|| Vec::with_capacity(16 * 1024));
        let full = std::mem::replace(&mut self.buf, next);
        if let Err(mpsc::TrySendError::Full(full) | mpsc::TrySendError::Disconnected(full)) =
            sink.full.try_send(full)
        {
            self.buf = full;
        }
    }
}

impl Drop for WorkerLog {
    fn drop(&mut self) {
        if let Some(sink) = &self.sink
            && !self.buf.is_empty()
        {
            let _ = sink.full.send(std::mem::take(&mut self.buf));
        }
    }
}

/// Copy `v` into a quoted log field: `"` and `\` escaped, control and non-ASCII bytes as \xNN,
/// so a client cannot forge log lines.
fn escape(out: &mut Vec<u8>, v: &[u8]) {
    for &c in v {
        match c {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            0x20..=0x7e => out.push(c),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'x',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 15)],
                ]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_hostile_bytes() {
        let mut v = Vec::new();
        escape(&mut v, b"a\"b\\c\nd\xff");
        assert_eq!(v, b"a\\\"b\\\\c\\x0ad\\xff");
    }
}
