//! Hardening: what a hostile or broken client can make the server spend. Each test sends
//! something without end (or far past a limit) and checks that the server answers as its
//! limits say, ends the connection, keeps serving others, and keeps its memory bounded.
//!
//! Memory is read from `/proc/PID/status` (VmRSS) by a sampler thread while the attack runs;
//! the bound (64 MiB) is generous next to what a connection may hold (a 32 KiB read buffer,
//! a 20 KiB write buffer), so it catches a server that buffers what it is sent, not noise.
//! No test asserts how long anything took: every wait is a deadline after which the test
//! fails. The one CPU check allows 0.5 s of CPU in 2 idle seconds, where a worker spinning
//! on a listener would use about 2 s.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Memory the server may use while under any one of these attacks.
const RSS_LIMIT: u64 = 64 << 20;
/// The most an endless sender sends before the test calls the server's bluff.
const ENDLESS: u64 = 100 << 20;

/// Samples the server's VmRSS every few milliseconds until `peak()` is called.
struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: JoinHandle<()>,
    pid: u32,
}

impl RssPeak {
    fn watch(pid: u32) -> RssPeak {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(vm_rss(pid)));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(vm_rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        RssPeak {
            stop,
            peak,
            thread,
            pid,
        }
    }

    /// Stop sampling; the highest VmRSS seen, checked against `RSS_LIMIT`.
    fn assert_bounded(self, what: &str) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("rss sampler");
        let peak = self.peak.load(Ordering::Relaxed).max(vm_rss(self.pid));
        assert!(peak > 0, "could not read the server's VmRSS");
        assert!(
            peak < RSS_LIMIT,
            "{what}: server VmRSS reached {} MiB (limit {} MiB)",
            peak >> 20,
            RSS_LIMIT >> 20
        );
        peak
    }
}

/// Write `first`, then `piece` again and again on a clone of `stream` until `ENDLESS` bytes
/// have gone or the server stops taking them. Returns the bytes written.
fn send_endless(stream: &TcpStream, first: &[u8], piece: Vec<u8>) -> JoinHandle<u64> {
    let mut w = stream.try_clone().expect("clone stream");
    let first = first.to_vec();
    std::thread::spawn(move || {
        if w.write_all(&first).is_err() {
            return 0;
        }
        let mut sent = first.len() as u64;
        while sent < ENDLESS {
            match w.write(&piece) {
                Ok(n) => sent += n as u64,
                // Closed, reset, or not read for the write timeout: the server stopped.
                Err(_) => break,
            }
        }
        sent
    })
}

/// The connection ended (EOF or reset) within `limit`; bytes still arriving are allowed.
fn assert_ends(c: &mut Client, limit: Duration, what: &str) {
    match c.wait_end(limit) {
        Ending::Eof(_) | Ending::Reset(_) => {}
        Ending::Open(n) => panic!("{what}: still open after {limit:?} ({n} more bytes)"),
    }
}

/// The response is 431 with `Connection: close`, and the connection then ends.
fn assert_431_then_end(c: &mut Client, what: &str) {
    let r = c.response();
    assert_eq!(r.status, 431, "{what}");
    assert!(
        r.connection_has("close"),
        "{what}: 431 must close: {:?}",
        r.headers
    );
    assert_ends(
        c,
        Duration::from_secs(10),
        &format!("{what}: after the 431"),
    );
}

/// RFC 6585 §5 (431) against a client that never ends its header section: after 16 KiB the
/// server answers 431 and closes, having held no more than its read buffer of the stream.
#[test]
fn rfc6585_5_endless_header_stream_gets_431_and_close() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    let rss = RssPeak::watch(s.pid());
    let mut c = s.connect();
    let writer = send_endless(
        &c.stream,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-Endless: ",
        vec![b'a'; 64 * 1024],
    );
    assert_431_then_end(&mut c, "an endless header field");
    let sent = writer.join().expect("writer");
    assert!(
        sent < ENDLESS,
        "the server took all {sent} bytes of an endless head"
    );
    rss.assert_bounded("an endless header stream");
    assert_eq!(s.get("/hello.txt").status, 200, "the server still serves");
}

/// RFC 6585 §5: a request with 10,000 header fields is refused with 431 and the connection
/// closes (the limit is 100 fields and 16 KiB; this request breaks both).
#[test]
fn rfc6585_5_ten_thousand_header_fields_get_431() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    let rss = RssPeak::watch(s.pid());
    let mut head = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..10_000 {
        head.extend_from_slice(format!("X-F{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut c = s.connect();
    // Sent from another thread: the server may stop reading before the head is over.
    let mut w = c.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&head);
    });
    assert_431_then_end(&mut c, "10,000 header fields");
    writer.join().unwrap();
    rss.assert_bounded("10,000 header fields");
}

/// RFC 9112 §6.1 / §9.3: a GET with a chunked body that never ends. The server answers the
/// GET, drops body bytes up to its limit (64 KiB), then stops reading and closes, rather
/// than reading forever to keep the connection.
#[test]
fn rfc9112_6_1_endless_chunked_body_on_get_is_cut_off() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    let rss = RssPeak::watch(s.pid());
    let mut c = s.connect();
    let mut chunk = b"4000\r\n".to_vec();
    chunk.extend_from_slice(&[b'z'; 0x4000]);
    chunk.extend_from_slice(b"\r\n");
    let writer = send_endless(
        &c.stream,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunk,
    );
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, HELLO);
    assert_ends(&mut c, Duration::from_secs(10), "an endless chunked body");
    let sent = writer.join().expect("writer");
    assert!(
        sent < ENDLESS,
        "the server read all {sent} bytes of an endless body"
    );
    rss.assert_bounded("an endless chunked body on GET");
    assert_eq!(s.get("/hello.txt").status, 200, "the server still serves");
}

/// RFC 9112 §9.3.2 (pipelining): 10,000 requests sent without reading a response. The
/// answers (4 KiB files, 43 MB in all) are far more than the socket buffers hold, so the
/// server must wait for the client rather than queue them in its memory; when the client
/// reads, every request is answered in order, or the connection ends cleanly after an
/// in-order prefix.
#[test]
fn rfc9112_9_3_2_pipeline_of_10000_unread_requests() {
    const N: usize = 10_000;
    let root = TempRoot::new();
    let files: Vec<Vec<u8>> = (0..10).map(|k| pattern(4096, k)).collect();
    for (k, data) in files.iter().enumerate() {
        root.file(&format!("f{k}.bin"), data);
    }
    let s = Server::start(&root.www, &[]);
    let rss = RssPeak::watch(s.pid());
    let mut all = Vec::new();
    for i in 0..N {
        all.extend_from_slice(&get_req(&format!("/f{}.bin", i % 10)));
    }
    let mut c = s.connect();
    let mut w = c.stream.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let writer = std::thread::spawn(move || w.write_all(&all).is_ok());
    // Let the requests pile up unread (the writer may block: the server stopped reading).
    let until = Instant::now() + Duration::from_secs(2);
    while !writer.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut answered = 0;
    let ended = loop {
        if answered == N {
            break None;
        }
        match c.try_response(false) {
            Ok(r) => {
                assert_eq!(r.status, 200, "response {answered}");
                assert!(
                    r.body == files[answered % 10],
                    "response {answered} out of order"
                );
                answered += 1;
            }
            Err(e) => break Some(e),
        }
    };
    if let Some(e) = ended {
        assert!(
            e.starts_with("connection closed"),
            "after {answered} of {N} responses the connection did not end cleanly: {e}"
        );
    }
    let all_sent = writer.join().unwrap();
    assert!(
        all_sent || answered < N,
        "all answered, yet the writer failed"
    );
    let peak = rss.assert_bounded("a pipeline of 10,000 unread requests");
    eprintln!(
        "pipeline: {answered} of {N} answered, peak VmRSS {} KiB",
        peak >> 10
    );
}

/// barehttpd serving `root` under `ulimit -n LIMIT` (soft and hard, so the server's raise to
/// the hard limit at start-up cannot undo it), 2 workers, no access log.
fn start_under_ulimit(root: &std::path::Path, limit: u32) -> Server {
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .args(server_argv())
        .arg(root)
        .args(DEFAULT_FLAGS);
    let s = Server::start_command(cmd);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.pid())).unwrap();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3));
    assert_eq!(
        soft,
        Some(limit.to_string().as_str()),
        "the server does not run under ulimit -n {limit}: {limits}"
    );
    s
}

/// User plus system CPU time of process `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of proc(5); `rest` starts at field 3. They count
    // clock ticks of 1/100 s (USER_HZ).
    (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) as f64 / 100.0
}

/// Running out of descriptors (RFC 9110 §15.6.4, 503): under `ulimit -n 64`, 200 clients at
/// once. Some are served, the rest are refused or closed, none hangs; once they are gone the
/// server serves again and does not spin on a listener it cannot accept from.
#[test]
fn descriptor_limit_64_with_200_clients() {
    let root = basic_root();
    let s = start_under_ulimit(&root.www, 64);
    let mut clients: Vec<Client> = (0..200).map(|_| s.connect()).collect();
    for c in &mut clients {
        let _ = c.try_send(&get_req("/hello.txt"));
    }
    // Every client gets an answer (200 or 503) or is closed; none is left hanging.
    let (mut ok, mut refused, mut closed) = (0, 0, 0);
    for c in &mut clients {
        match c.try_response(false) {
            Ok(r) if r.status == 200 => ok += 1,
            // 503: refused at accept, or no descriptor left to open the file with
            // (RFC 9110 §15.6.4: a temporary overload).
            Ok(r) if r.status == 503 => refused += 1,
            Ok(r) => panic!("unexpected status {} under descriptor pressure", r.status),
            Err(e) if e.starts_with("connection closed") || e.contains("reset") => closed += 1,
            Err(e) => panic!("a client was left without answer or close: {e}"),
        }
    }
    eprintln!("ulimit -n 64, 200 clients: {ok} served, {refused} refused, {closed} closed");
    // No floor on `ok`: while every descriptor holds a connection, a worker may have none
    // left to open the file with, and refusing everyone is allowed. Serving after is not.
    drop(clients);
    // The server learns of the 200 closes asynchronously; until it has, it may still be out
    // of descriptors and answer 503. It must be serving again within a couple of seconds.
    let t0 = std::time::Instant::now();
    while s.get("/hello.txt").status != 200 {
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "not serving 3 s after the load"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..5 {
        assert_eq!(s.get("/hello.txt").status, 200, "after the load");
    }
    // Idle now: a worker spinning on a listener it cannot accept from would burn a CPU.
    let before = cpu_seconds(s.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(s.pid()) - before;
    assert!(used < 0.5, "{used:.2} s of CPU in 2 idle seconds");
}

/// When slow heads hold every descriptor, a new client is answered: the oldest slow head
/// (older than 1 s) makes room, or the new client gets 503 (README: "closes an idle
/// connection, or takes the waiting one with a reserved descriptor and answers 503").
///
/// Fails today: the accept that takes the last free descriptor is followed, in the same
/// batch, by an accept that fails with EMFILE; `out_of_descriptors` then calls `evict_one`,
/// whose first choice is an idle connection, and the connection just accepted counts as
/// idle (nothing read yet). So every new client is accepted and closed at once, unanswered
/// (a reset when its request was already sent), and the slow heads are never evicted.
/// With that mended (tried in a scratch copy: `evict_one` passing over connections that
/// became idle in this pass of the loop), a second fault shows: a worker whose file cache
/// does not hold the file fails to open it (EMFILE) and answers 500; `status_of_errno` in
/// `handler/static_file.rs` maps EMFILE and ENFILE to 500, where 503 (RFC 9110 §15.6.4,
/// "temporary overload") is meant.
#[test]
fn descriptor_limit_new_client_answered_while_slow_heads_hold_every_descriptor() {
    let root = basic_root();
    let s = start_under_ulimit(&root.www, 64);
    let mut slow: Vec<Client> = (0..80).map(|_| s.connect()).collect();
    for c in &mut slow {
        let _ = c.try_send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n");
    }
    // Past SLOW_HEAD_EVICT_MS (1 s), every slow head may be evicted to make room.
    std::thread::sleep(Duration::from_millis(1500));
    for i in 0..3 {
        let mut c = s.connect();
        c.send(&get_close("/hello.txt"));
        let r = c
            .try_response(false)
            .unwrap_or_else(|e| panic!("new client {i} got no answer: {e}"));
        assert!(
            r.status == 200 || r.status == 503,
            "new client {i}: status {}",
            r.status
        );
    }
    drop(slow);
}

/// The same at `--max-connections` (RFC 9110 §15.6.4): with 50 slow heads older than 1 s
/// filling the server, a burst of 20 new clients is served (each evicts a slow head) or
/// refused with 503, not closed unanswered.
///
/// Fails today for the same reason: `admit` calls `evict_one`, which prefers an "idle"
/// connection, and a connection accepted earlier in the same accept batch is idle until its
/// first read, so each new client evicts the one before it (measured: 19 of 20 reset).
#[test]
fn max_connections_burst_is_answered_while_slow_heads_fill_the_server() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--workers", "1", "--max-connections", "50"]);
    let mut slow: Vec<Client> = (0..50).map(|_| s.connect()).collect();
    for c in &mut slow {
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n");
    }
    std::thread::sleep(Duration::from_millis(1500));
    let mut burst: Vec<Client> = (0..20).map(|_| s.connect()).collect();
    for c in &mut burst {
        c.send(&get_close("/hello.txt"));
    }
    for (i, c) in burst.iter_mut().enumerate() {
        let r = c
            .try_response(false)
            .unwrap_or_else(|e| panic!("new client {i} got no answer: {e}"));
        assert!(
            r.status == 200 || r.status == 503,
            "new client {i}: status {}",
            r.status
        );
    }
    drop(slow);
}
