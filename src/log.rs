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
/// A worker hands its lines over once it holds this many bytes, or lines this old.
const FLUSH_BYTES: usize = 8 * 1024;
const FLUSH_MS: u64 = 100;
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

/// Line buffers kept for reuse per worker (one per connection sending a response at once).
const MAX_SPARE: usize = 256;

/// A line rendered before its response was sent: all but the byte count, which goes at
/// `split`. The buffer is kept from one request to the next.
#[derive(Default)]
pub struct Pending {
    text: Vec<u8>,
    split: usize,
    open: bool,
}

impl Pending {
    /// A line waits for its byte count.
    pub fn is_open(&self) -> bool {
        self.open
    }
}

/// One worker's buffer of log lines.
pub struct WorkerLog {
    sink: Option<LogSink>,
    buf: Vec<u8>,
    dropped: u64,
    /// Buffers of finished `Pending` lines, lent to the next ones (no allocation per request).
    spare: Vec<Vec<u8>>,
    /// When the oldest line in `buf` was seen by `flush` (monotonic ms).
    first_at: Option<u64>,
}

impl WorkerLog {
    pub fn new(sink: Option<LogSink>) -> WorkerLog {
        WorkerLog {
            sink,
            buf: Vec::with_capacity(16 * 1024),
            dropped: 0,
            spare: Vec::new(),
            first_at: None,
        }
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Nothing waits to be handed to the log thread.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.dropped == 0
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
        line_start(b, peer, time, request_line, status);
        crate::http::response::push_u64(b, bytes);
        line_end(b, referer, agent);
    }

    /// Render a line whose byte count is not known yet (the response is still to be sent)
    /// into `p`, to be completed by `finish`. Nothing when there is no access log.
    #[allow(clippy::too_many_arguments)]
    pub fn begin(
        &mut self,
        p: &mut Pending,
        peer: Option<&std::net::SocketAddr>,
        time: &str,
        request_line: &[u8],
        status: u16,
        referer: Option<&[u8]>,
        agent: Option<&[u8]>,
    ) {
        p.open = self.sink.is_some();
        if !p.open {
            return;
        }
        if p.text.capacity() == 0 {
            p.text = self.spare.pop().unwrap_or_default();
        }
        p.text.clear();
        line_start(&mut p.text, peer, time, request_line, status);
        p.split = p.text.len();
        line_end(&mut p.text, referer, agent);
    }

    /// Complete the line `begin` rendered with the body bytes sent, and buffer it.
    pub fn finish(&mut self, p: &mut Pending, bytes: u64) {
        if !std::mem::take(&mut p.open) {
            return;
        }
        if self.buf.len() > MAX_PENDING {
            self.dropped += 1;
        } else {
            self.buf.extend_from_slice(&p.text[..p.split]);
            crate::http::response::push_u64(&mut self.buf, bytes);
            self.buf.extend_from_slice(&p.text[p.split..]);
        }
        if self.spare.len() < MAX_SPARE {
            self.spare.push(std::mem::take(&mut p.text));
        }
    }

    /// Hand what is buffered to the log thread, without blocking, once it is worth a buffer:
    /// `FLUSH_BYTES` of lines, or lines `FLUSH_MS` old (`now`, monotonic ms), or always when
    /// `now` is None (the worker is about to sleep with no timer). Handing over a few lines
    /// per pass would cycle buffers faster than the log thread returns them, and each miss
    /// costs an allocation.
    pub fn flush(&mut self, now: Option<u64>) {
        let Some(sink) = &self.sink else { return };
        if self.buf.is_empty() && self.dropped == 0 {
            return;
        }
        if let Some(now) = now {
            let since = *self.first_at.get_or_insert(now);
            if self.buf.len() < FLUSH_BYTES && now.saturating_sub(since) < FLUSH_MS {
                return;
            }
        }
        self.first_at = None;
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

/// A Combined Log Format line up to the byte count: client, time, request line, status.
fn line_start(
    b: &mut Vec<u8>,
    peer: Option<&std::net::SocketAddr>,
    time: &str,
    request_line: &[u8],
    status: u16,
) {
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
}

/// The rest of the line after the byte count: referer and user agent, quoted.
fn line_end(b: &mut Vec<u8>, referer: Option<&[u8]>, agent: Option<&[u8]>) {
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
