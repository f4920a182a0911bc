//! The known attacks on HTTP/2 servers, each against an `--h2c` listener with a raw-frame
//! client (`common/h2.rs`): rapid reset (CVE-2023-44487), CONTINUATION floods, the HPACK
//! bomb, SETTINGS and PING floods from a client that never reads, zero-window stalls, too
//! many concurrent streams, and a header block that never ends.
//!
//! Each test checks three things: the server stays available (a second, well-behaved
//! connection gets `/hello.txt` during and after the attack), the attacking connection is
//! refused or closed as RFC 9113 allows (GOAWAY with ENHANCE_YOUR_CALM or PROTOCOL_ERROR, a
//! stream error, or the close), and the server's memory stays bounded (VmRSS sampled while
//! the attack runs, within `RSS_MARGIN` of what it was before). Where the outcome depends on
//! a limit, the limit is read from the session's constants (`barehttpd::conn::http2`); the
//! timeouts are the server's flags, set short here.
#![cfg(feature = "h2")]

mod common;
#[path = "common/h2.rs"]
mod h2;

use barehttpd::conn::http2 as session;
use common::*;
use h2::*;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The large file: 8 MiB, so that a server which buffered it for a few streams would show.
const BIG: usize = 8 << 20;
/// `--send-timeout` and `--header-timeout` of these servers, in seconds.
const SEND_TIMEOUT: u64 = 2;
const HEADER_TIMEOUT: u64 = 2;
/// Growth of the server's VmRSS allowed during an attack. A connection holds a 32 KiB read
/// buffer, a write queue of about 64 KiB and its HPACK tables; 32 MiB is far above that and
/// far below what any of these attacks would cost a server that gave in (the decoded bomb
/// is over 60 MiB, ten stalled streams of the big file 80 MiB).
const RSS_MARGIN: u64 = 32 << 20;
/// The most an endless sender sends before the test gives up waiting for the server to
/// stop reading.
const ENDLESS: u64 = 256 << 20;

struct Site {
    _root: TempRoot,
    server: Server,
    addr: String,
}

/// An `--h2c` server, one worker (so the attack and the well-behaved client share it),
/// serving `/hello.txt` and `/big.bin`; checked to serve before the attack.
fn start() -> Site {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    root.file("big.bin", &pattern(BIG, 18));
    let send = SEND_TIMEOUT.to_string();
    let header = HEADER_TIMEOUT.to_string();
    let server = Server::start(
        &root.www,
        &[
            "--h2c",
            "--workers",
            "1",
            "--send-timeout",
            &send,
            "--header-timeout",
            &header,
        ],
    );
    let addr = server.addr();
    probe(&addr, "before the attack");
    Site {
        _root: root,
        server,
        addr,
    }
}

/// A well-behaved client on its own connection gets `/hello.txt`.
fn probe(addr: &str, when: &str) {
    match get(addr, "/hello.txt", scaled(Duration::from_secs(10))) {
        Ok((status, body)) => {
            assert_eq!(status, 200, "{when}: status of a well-behaved GET");
            assert_eq!(body, HELLO, "{when}: body of a well-behaved GET");
        }
        Err(e) => panic!("{when}: a well-behaved GET failed: {e}"),
    }
}

/// Samples the server's VmRSS every few milliseconds from before the attack to its end.
struct Rss {
    pid: u32,
    before: u64,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Rss {
    fn watch(pid: u32) -> Rss {
        let before = vm_rss(pid);
        assert!(before > 0, "could not read the server's VmRSS");
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(before));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(vm_rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Rss {
            pid,
            before,
            stop,
            peak,
            thread,
        }
    }

    /// The peak during the attack and the level after it are within `RSS_MARGIN` of before.
    fn assert_bounded(self, what: &str) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("rss sampler");
        let after = vm_rss(self.pid);
        let peak = self.peak.load(Ordering::Relaxed).max(after);
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        eprintln!(
            "{what}: VmRSS before {:.1} MiB, peak {:.1} MiB, after {:.1} MiB",
            mib(self.before),
            mib(peak),
            mib(after)
        );
        assert!(
            peak < self.before + RSS_MARGIN,
            "{what}: VmRSS went from {:.1} MiB to {:.1} MiB (margin {} MiB)",
            mib(self.before),
            mib(peak),
            RSS_MARGIN >> 20
        );
    }
}

/// Write `bytes` on a clone of `sock` from another thread (the attack goes on while the test
/// reads); stops at the first error. Returns what was written.
fn blast(sock: &TcpStream, bytes: Vec<u8>) -> JoinHandle<u64> {
    let mut w = sock.try_clone().expect("clone socket");
    w.set_write_timeout(Some(scaled(Duration::from_secs(30))))
        .unwrap();
    std::thread::spawn(move || {
        let mut sent = 0u64;
        for piece in bytes.chunks(64 * 1024) {
            if w.write_all(piece).is_err() {
                break;
            }
            sent += piece.len() as u64;
        }
        sent
    })
}

/// An endless sender: `piece` again and again until `ENDLESS` bytes, an error (the server
/// closed), or a write blocked for 30 s (the server neither reads nor closes). Counts what
/// was written in `sent`; returns whether an error ended it.
fn endless(sock: &TcpStream, piece: Vec<u8>, sent: Arc<AtomicU64>) -> JoinHandle<bool> {
    let mut w = sock.try_clone().expect("clone socket");
    w.set_write_timeout(Some(scaled(Duration::from_secs(30))))
        .unwrap();
    let piece: Vec<u8> = piece.repeat((16 * 1024 / piece.len()).max(1));
    std::thread::spawn(move || {
        while sent.load(Ordering::Relaxed) < ENDLESS {
            match w.write(&piece) {
                Ok(n) => {
                    sent.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    return !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    );
                }
            }
        }
        false
    })
}

/// Wait until `sent` reaches `at_least` (the attack is under way), at most 10 s.
fn wait_sent(sent: &AtomicU64, at_least: u64) {
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    while sent.load(Ordering::Relaxed) < at_least && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn assert_code(o: &Outcome, allowed: &[u32], what: &str) {
    let code = o.goaway_code();
    assert!(
        code.is_some_and(|c| allowed.contains(&c)),
        "{what}: GOAWAY code {code:?}, expected one of {allowed:?} ({o:?})"
    );
}

/// CVE-2023-44487 (rapid reset): streams opened and reset at once, thousands of times. The
/// server counts resets of unfinished streams (`MAX_RESETS` per `RESET_PERIOD_MS`) and
/// answers past it with GOAWAY ENHANCE_YOUR_CALM (RFC 9113 §5.4.1, §7), having taken no
/// more streams than about that many.
#[test]
fn rapid_reset_is_stopped_with_enhance_your_calm() {
    let site = start();
    let rss = Rss::watch(site.server.pid());
    let mut c = Conn::open(&site.addr, &[]);
    c.handshake(scaled(Duration::from_secs(10)));
    let streams = 10 * session::MAX_RESETS + 100;
    let block = get_block("/big.bin");
    let mut bytes = Vec::new();
    for i in 0..streams {
        let id = 2 * i + 1;
        bytes.extend(headers(id, &block, true, true));
        bytes.extend(rst(id, CANCEL));
    }
    let writer = blast(&c.sock, bytes);
    probe(&site.addr, "during rapid reset");
    let o = watch(&mut c, scaled(Duration::from_secs(20)), false, |o| o.closed);
    let written = writer.join().unwrap();
    eprintln!(
        "rapid reset: {written} bytes written; GOAWAY {:?}, {} resets, {} responses, {} DATA bytes, closed {:?}",
        o.goaway,
        o.resets.len(),
        o.statuses.len(),
        o.data_bytes,
        o.closed_after
    );
    assert_code(&o, &[ENHANCE_YOUR_CALM], "rapid reset");
    let (_, last) = o.goaway.unwrap();
    assert!(
        last <= 2 * (2 * session::MAX_RESETS) + 1,
        "rapid reset: the server took streams up to {last} before its GOAWAY (MAX_RESETS {})",
        session::MAX_RESETS
    );
    assert!(
        o.closed,
        "rapid reset: the connection stays open after the GOAWAY"
    );
    probe(&site.addr, "after rapid reset");
    rss.assert_bounded("rapid reset");
}

/// Run an endless CONTINUATION flood of `fragment`-sized frames on stream 1 and check the
/// server ends it with a connection error (RFC 9113 §6.10: a header block is a single unit;
/// the server may refuse one of any size) and keeps serving.
fn continuation_flood(fragment: usize, what: &str) {
    let site = start();
    let rss = Rss::watch(site.server.pid());
    let mut c = Conn::open(&site.addr, &[]);
    // SETTINGS first: once the block is open only its CONTINUATIONs may come (§6.10).
    c.handshake(scaled(Duration::from_secs(10)));
    // The start of a real request, then literals that never end.
    c.send(&headers(1, &get_block("/hello.txt"), true, false))
        .unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let writer = endless(
        &c.sock,
        continuation(1, &vec![0x40; fragment], false),
        sent.clone(),
    );
    wait_sent(&sent, 64 * 1024);
    probe(&site.addr, &format!("during {what}"));
    let o = watch(&mut c, scaled(Duration::from_secs(20)), false, |o| o.closed);
    let cut_off = writer.join().unwrap();
    eprintln!("{what}: {o:?}");
    assert_code(&o, &[ENHANCE_YOUR_CALM, PROTOCOL_ERROR], what);
    assert!(
        o.closed,
        "{what}: the connection stays open after the GOAWAY"
    );
    assert!(
        cut_off,
        "{what}: the server read {} bytes without closing",
        sent.load(Ordering::Relaxed)
    );
    probe(&site.addr, &format!("after {what}"));
    rss.assert_bounded(what);
}

/// The 2024 CONTINUATION flood: one byte per frame, without end (past `MAX_CONTINUATIONS`).
#[test]
fn continuation_flood_of_tiny_frames_is_a_connection_error() {
    // The flood is endless; the limits it must pass are finite and small.
    const { assert!(session::MAX_CONTINUATIONS < 10_000) };
    continuation_flood(1, "CONTINUATION flood, 1-byte frames");
}

/// The same with frames as large as allowed: a header block past `MAX_HEADER_BLOCK`.
#[test]
fn continuation_flood_of_huge_block_is_a_connection_error() {
    const { assert!(session::MAX_HEADER_BLOCK < 1 << 20) };
    continuation_flood(
        session::MAX_FRAME as usize,
        "CONTINUATION flood, full frames",
    );
}

/// The HPACK bomb: a block that enters one 4,000-byte field in the dynamic table and then
/// names it thousands of times (a decoded list of over 60 MiB in under `MAX_HEADER_BLOCK`
/// compressed bytes). The server must not decode it whole: the request is refused (431,
/// or a stream or connection error), and if the connection goes on its HPACK state is
/// in step: a request naming the entry once is served.
#[test]
fn hpack_bomb_is_refused_without_decoding_it() {
    let site = start();
    let rss = Rss::watch(site.server.pid());
    let mut c = Conn::open(&site.addr, &[]);
    c.handshake(scaled(Duration::from_secs(10)));
    // The entry must fit in the server's table; the whole block within its block limit.
    let value = vec![b'a'; session::HEADER_TABLE as usize - 100];
    let mut bomb = get_block("/hello.txt");
    bomb.push(0x40);
    hpack_str(&mut bomb, b"x-bomb");
    hpack_str(&mut bomb, &value);
    let refs = session::MAX_HEADER_BLOCK - bomb.len() - 16;
    bomb.extend(std::iter::repeat_n(0xbe, refs));
    let decoded = refs as u64 * (value.len() as u64 + 6 + 32);
    assert!(decoded > 60 << 20 && decoded > 100 * session::MAX_HEADER_LIST as u64);
    // Sent as HEADERS and CONTINUATIONs within the frame size, on 20 streams.
    let max = session::MAX_FRAME as usize;
    let rounds = 20u32;
    let mut bytes = Vec::new();
    for r in 0..rounds {
        let id = 2 * r + 1;
        let pieces: Vec<&[u8]> = bomb.chunks(max).collect();
        for (k, p) in pieces.iter().enumerate() {
            let last = k + 1 == pieces.len();
            bytes.extend(if k == 0 {
                headers(id, p, true, last)
            } else {
                continuation(id, p, last)
            });
        }
        // Later bombs name the entry the first one entered (index 62), not a new one.
        if r == 0 {
            let at = bomb.len() - refs;
            bomb.splice(..at, get_block("/hello.txt").into_iter().chain([0xbe]));
        }
    }
    let writer = blast(&c.sock, bytes);
    probe(&site.addr, "during the HPACK bomb");
    let o = watch(&mut c, scaled(Duration::from_secs(20)), false, |o| {
        o.closed || o.goaway.is_some() || (o.statuses.len() + o.resets.len()) as u32 >= rounds
    });
    writer.join().unwrap();
    eprintln!("HPACK bomb: {o:?}");
    for (id, status) in &o.statuses {
        assert_eq!(*status, 431, "HPACK bomb: stream {id} answered {status}");
    }
    if let Some(code) = o.goaway_code() {
        assert!(
            [ENHANCE_YOUR_CALM, PROTOCOL_ERROR, COMPRESSION_ERROR].contains(&code),
            "HPACK bomb: GOAWAY {code}"
        );
    } else {
        assert_eq!(
            (o.statuses.len() + o.resets.len()) as u32,
            rounds,
            "HPACK bomb: each bomb is refused ({o:?})"
        );
        // The connection goes on, and the entry the first bomb entered is there.
        let id = 2 * rounds + 1;
        let mut block = get_block("/hello.txt");
        block.push(0xbe);
        c.send(&headers(id, &block, true, true)).unwrap();
        let o = watch(&mut c, scaled(Duration::from_secs(10)), false, |o| {
            o.ended.contains(&id)
        });
        assert_eq!(
            o.statuses,
            [(id, 200)],
            "HPACK bomb: a request after it ({o:?})"
        );
    }
    probe(&site.addr, "after the HPACK bomb");
    rss.assert_bounded("HPACK bomb");
}

/// A flood of `frame` from a client that never reads what the server answers (each is
/// acknowledged, §6.5.3 and §6.7). The server must stop reading once its answers back up
/// (`MAX_CTRL_QUEUED`), and close the connection when the client has not read them for the
/// send timeout, instead of queueing answers without end.
fn flood_without_reading(frame: Vec<u8>, what: &str) {
    let site = start();
    let rss = Rss::watch(site.server.pid());
    let c = Conn::open(&site.addr, &[]);
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let writer = endless(&c.sock, frame, sent.clone());
    wait_sent(&sent, 1 << 20);
    probe(&site.addr, &format!("during {what}"));
    let cut_off = writer.join().unwrap();
    let took = started.elapsed();
    let total = sent.load(Ordering::Relaxed);
    eprintln!("{what}: {total} bytes sent in {took:?} before the server closed");
    assert!(
        cut_off,
        "{what}: the server took {total} bytes and neither stopped reading nor closed"
    );
    assert!(total < ENDLESS, "{what}: the server read {total} bytes");
    probe(&site.addr, &format!("after {what}"));
    rss.assert_bounded(what);
}

#[test]
fn settings_flood_from_a_client_that_never_reads_is_cut_off() {
    // What the server may queue is far below what the flood sends (`ENDLESS`).
    const { assert!(session::MAX_CTRL_QUEUED <= 1 << 20) };
    flood_without_reading(settings(&[(INITIAL_WINDOW_SIZE, 65_535)]), "SETTINGS flood");
}

#[test]
fn ping_flood_from_a_client_that_never_reads_is_cut_off() {
    flood_without_reading(ping(*b"barehttp"), "PING flood");
}

/// Zero-window stalls: a client that announces an initial window of 0 and never opens it,
/// holding streams of the big file. No DATA may be sent (§6.9.2); the server must not read
/// the file ahead into memory, and must time the streams out (the send timeout) with a
/// stream error or close the connection.
#[test]
fn zero_window_streams_are_timed_out_without_buffering_the_file() {
    let site = start();
    let rss = Rss::watch(site.server.pid());
    let mut c = Conn::open(&site.addr, &[(INITIAL_WINDOW_SIZE, 0)]);
    c.handshake(scaled(Duration::from_secs(10)));
    let streams = 10u32;
    let block = get_block("/big.bin");
    for i in 0..streams {
        c.send(&headers(2 * i + 1, &block, true, true)).unwrap();
    }
    let started = Instant::now();
    let limit = Duration::from_secs(SEND_TIMEOUT) + scaled(Duration::from_secs(15));
    let o = watch(&mut c, limit, false, |o| {
        o.closed || o.goaway.is_some() || o.resets.len() as u32 >= streams
    });
    let took = started.elapsed();
    probe(&site.addr, "after zero-window stalls");
    assert_eq!(o.data_bytes, 0, "zero window: DATA sent without window");
    assert_eq!(
        o.statuses.len() as u32,
        streams,
        "zero window: each stream's HEADERS ({o:?})"
    );
    assert!(
        o.closed || o.goaway.is_some() || o.resets.len() as u32 == streams,
        "zero window: streams still held after {took:?} ({o:?})"
    );
    assert!(
        took >= Duration::from_millis(SEND_TIMEOUT * 1000 / 2),
        "zero window: ended after {took:?}, before the send timeout ({SEND_TIMEOUT} s)"
    );
    rss.assert_bounded("zero-window stalls");
}

/// The same stall on the connection's window: the streams' windows are the default, but
/// the client never gives back the connection's 65,535 bytes (§6.9.1), so every stream
/// waits on it. They must be timed out all the same.
#[test]
fn connection_window_stall_is_timed_out() {
    let site = start();
    let rss = Rss::watch(site.server.pid());
    let mut c = Conn::open(&site.addr, &[]);
    c.handshake(scaled(Duration::from_secs(10)));
    let streams = 4u32;
    let block = get_block("/big.bin");
    for i in 0..streams {
        c.send(&headers(2 * i + 1, &block, true, true)).unwrap();
    }
    let started = Instant::now();
    let limit = Duration::from_secs(SEND_TIMEOUT) + scaled(Duration::from_secs(15));
    let o = watch(&mut c, limit, false, |o| {
        o.closed || o.goaway.is_some() || o.resets.len() as u32 >= streams
    });
    let took = started.elapsed();
    probe(&site.addr, "after a connection-window stall");
    assert_eq!(
        o.data_bytes, 65_535,
        "connection window: DATA past the window ({o:?})"
    );
    assert!(
        o.closed || o.goaway.is_some() || o.resets.len() as u32 == streams,
        "connection window: streams still held after {took:?} ({o:?})"
    );
    rss.assert_bounded("connection-window stall");
}

/// RFC 9113 §5.1.2: HEADERS past SETTINGS_MAX_CONCURRENT_STREAMS is a stream error
/// PROTOCOL_ERROR or REFUSED_STREAM. The streams within the limit are held open (the big
/// file, with the default windows), those past it must be refused, and only those.
#[test]
fn streams_past_max_concurrent_streams_are_refused() {
    let site = start();
    let rss = Rss::watch(site.server.pid());
    let mut c = Conn::open(&site.addr, &[]);
    c.handshake(scaled(Duration::from_secs(10)));
    let max = session::MAX_CONCURRENT_STREAMS;
    let extra = 10;
    let block = get_block("/big.bin");
    let mut bytes = Vec::new();
    for i in 0..max + extra {
        bytes.extend(headers(2 * i + 1, &block, true, true));
    }
    let writer = blast(&c.sock, bytes);
    let o = watch(&mut c, scaled(Duration::from_secs(10)), false, |o| {
        o.closed
            || o.goaway.is_some()
            || o.resets.iter().filter(|(_, code)| *code != CANCEL).count() as u32 >= extra
    });
    writer.join().unwrap();
    probe(&site.addr, "with too many streams open");
    if let Some((code, _)) = o.goaway {
        assert_eq!(code, PROTOCOL_ERROR, "too many streams: GOAWAY ({o:?})");
    } else {
        let refused: Vec<u32> = o
            .resets
            .iter()
            .filter(|(_, code)| [REFUSED_STREAM, PROTOCOL_ERROR].contains(code))
            .map(|(id, _)| *id)
            .collect();
        let past: Vec<u32> = (max..max + extra).map(|i| 2 * i + 1).collect();
        assert_eq!(refused, past, "too many streams: refused ({o:?})");
        let served: Vec<u32> = o.statuses.iter().map(|(id, _)| *id).collect();
        assert_eq!(served.len() as u32, max, "too many streams: answered");
        assert!(served.iter().all(|id| !past.contains(id)));
    }
    drop(c);
    probe(&site.addr, "after too many streams");
    rss.assert_bounded("too many streams");
}

/// A header block that never ends (HEADERS without END_HEADERS, then silence): the header
/// timeout closes the connection (with a GOAWAY, §5.4.1), and not much earlier.
#[test]
fn slow_header_block_is_closed_at_the_header_timeout() {
    let site = start();
    let mut c = Conn::open(&site.addr, &[]);
    // SETTINGS first: once the block is open only its CONTINUATIONs may come (§6.10).
    c.handshake(scaled(Duration::from_secs(10)));
    let block = get_block("/hello.txt");
    c.send(&headers(1, &block[..block.len() / 2], true, false))
        .unwrap();
    let sent = Instant::now();
    let limit = Duration::from_secs(HEADER_TIMEOUT) + scaled(Duration::from_secs(10));
    probe(&site.addr, "during a slow header");
    let o = watch(&mut c, limit, false, |o| o.closed);
    assert!(o.closed, "slow header: still open after {limit:?} ({o:?})");
    let after = sent.elapsed();
    assert!(
        after >= Duration::from_millis(HEADER_TIMEOUT * 1000 / 2),
        "slow header: closed after {after:?}, before the header timeout ({HEADER_TIMEOUT} s): {o:?}"
    );
    if let Some(code) = o.goaway_code() {
        assert!(
            [PROTOCOL_ERROR, ENHANCE_YOUR_CALM, NO_ERROR].contains(&code),
            "slow header: GOAWAY {code}"
        );
    }
    probe(&site.addr, "after a slow header");
}

/// The same for a client that sends the preface and its SETTINGS and then nothing.
#[test]
fn silent_client_is_closed_at_the_header_timeout() {
    let site = start();
    let mut c = Conn::open(&site.addr, &[]);
    c.handshake(scaled(Duration::from_secs(10)));
    let limit = Duration::from_secs(HEADER_TIMEOUT) + scaled(Duration::from_secs(10));
    let o = watch(&mut c, limit, false, |o| o.closed);
    assert!(
        o.closed,
        "silent client: still open after {limit:?} ({o:?})"
    );
    assert!(o.closed_after.unwrap() >= Duration::from_millis(HEADER_TIMEOUT * 1000 / 2));
}

/// A CGI request without content-length whose body trickles: the body is spooled for the
/// program and must come whole within `--cgi-timeout` of the head, as over HTTP/1.1 (a
/// trickle cannot hold a `--cgi-max` slot and the disk for ever). Past it: 408 on the
/// stream, and the slot is free for the next request on the same connection.
#[test]
fn a_trickled_cgi_body_to_spool_gets_408_at_the_cgi_timeout_and_frees_its_slot() {
    use std::os::unix::fs::PermissionsExt;
    let root = TempRoot::new();
    let count = root.file(
        "cgi-bin/count.sh",
        b"#!/bin/sh\nn=$(wc -c)\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s %s' \"$CONTENT_LENGTH\" \"$n\"\n",
    );
    std::fs::set_permissions(&count, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start(
        &root.www,
        &[
            "--h2c",
            "--cgi",
            "/cgi-bin/",
            "--cgi-max",
            "1",
            "--cgi-timeout",
            "1",
            "--header-timeout",
            "20",
        ],
    );
    let mut post = vec![0x83, 0x86];
    hpack_int(&mut post, 0, 4, 4);
    hpack_str(&mut post, b"/cgi-bin/count.sh");
    hpack_int(&mut post, 0, 4, 1);
    hpack_str(&mut post, b"localhost");
    let mut c = Conn::open(&server.addr(), &[]);
    c.handshake(scaled(Duration::from_secs(10)));
    c.send(&headers(1, &post, false, true)).unwrap();
    let sent = Instant::now();
    // A byte every 200 ms, so the connection itself is never idle.
    let limit = sent + scaled(Duration::from_secs(15));
    let mut o = Outcome::default();
    while o.statuses.is_empty() && Instant::now() < limit {
        c.send(&data(1, b"x", false)).unwrap();
        o = watch(&mut c, Duration::from_millis(200), true, |o| {
            !o.statuses.is_empty()
        });
        assert!(!o.closed, "the connection closed: {o:?}");
    }
    assert_eq!(o.statuses, [(1, 408)], "{o:?}");
    assert!(
        sent.elapsed() >= Duration::from_millis(900),
        "408 before --cgi-timeout: {:?}",
        sent.elapsed()
    );
    if !o.ended.contains(&1) {
        // The 408's body, to its END_STREAM.
        watch(&mut c, scaled(Duration::from_secs(10)), true, |o| {
            o.ended.contains(&1)
        });
    }
    // The same connection, the slot free again (--cgi-max 1): a body spooled and run.
    c.send(&headers(3, &post, false, true)).unwrap();
    c.send(&data(3, b"abcde", true)).unwrap();
    let o = watch(&mut c, scaled(Duration::from_secs(10)), true, |o| {
        o.ended.contains(&3)
    });
    assert_eq!(o.statuses, [(3, 200)], "{o:?}");
    assert_eq!(o.data_bytes, 3, "the program's '5 5': {o:?}");
}
