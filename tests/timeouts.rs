//! Timeouts and connection limits: what a slow, silent or idle client costs the server, and
//! that it never costs other clients their service (RFC 9110 §15.5.9 408, §15.6.4 503,
//! RFC 9112 §9.5 timeouts, §9.3 persistence).
//!
//! Timing bounds are generous (the server checks its timers every 250 ms and tests run in
//! parallel), but each has a lower bound too, so an immediate close does not pass for a timed
//! one.

mod common;

use common::*;
use std::thread::sleep;
use std::time::{Duration, Instant};

const BIG: usize = 32 * 1024 * 1024;

/// RFC 9110 §15.5.9: "The 408 (Request Timeout) status code indicates that the server did not
/// receive a complete request message within the time that it was prepared to wait"; RFC 9112
/// §9.5: the server then closes. With `--header-timeout 1` a head that stops half-way gets 408
/// after about a second, then the connection closes.
#[test]
fn rfc9110_15_5_9_partial_head_gets_408_then_close() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--header-timeout", "1"]);
    let mut c = s.connect();
    let t0 = Instant::now();
    c.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n");
    let r = c.response();
    let took = t0.elapsed();
    assert_eq!(r.status, 408);
    assert!(
        took >= Duration::from_millis(900) && took <= Duration::from_millis(2500),
        "408 after {took:?}, expected about 1 s"
    );
    c.assert_closed(Duration::from_secs(2), "after the 408");
}

/// RFC 9110 §15.5.9 against a slow-headers client: the header timeout runs from the first
/// byte of the head, so a client dribbling one byte every 100 ms does not keep the
/// connection alive past it.
#[test]
fn rfc9110_15_5_9_dribbled_head_still_gets_408() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--header-timeout", "1"]);
    let mut c = s.connect();
    let head = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(100)
    );
    let t0 = Instant::now();
    let mut sent = 0;
    for b in head.bytes() {
        if !c.try_send(&[b]) {
            break;
        }
        sent += 1;
        sleep(Duration::from_millis(100));
        // Stop once the server has answered (the response waits in the socket).
        let mut probe = [0u8; 1];
        if c.stream.peek(&mut probe).is_ok_and(|n| n > 0) || t0.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let r = c.response();
    let took = t0.elapsed();
    assert_eq!(r.status, 408, "after {sent} dribbled bytes");
    assert!(
        took <= Duration::from_millis(2500),
        "408 only after {took:?}"
    );
    assert!(
        sent < head.len(),
        "the whole head was accepted byte by byte"
    );
}

/// RFC 9112 §9.5: "A server SHOULD sustain persistent connections ... [but] can close a
/// connection that has been idle". A connection that never sends a byte is closed after the
/// header timeout, with no response (there was no request to answer).
#[test]
fn rfc9112_9_5_silent_connection_is_closed_without_response() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--header-timeout", "1"]);
    let mut c = s.connect();
    closed_quietly_after(&mut c, 900, 2500, "a silent connection");
}

/// RFC 9112 §9.5: an idle persistent connection is closed after `--keepalive-timeout`; the
/// header timeout (10 s here) does not apply between requests.
#[test]
fn rfc9112_9_5_idle_keep_alive_connection_is_closed() {
    let root = basic_root();
    let s = Server::start(
        &root.www,
        &["--keepalive-timeout", "1", "--header-timeout", "10"],
    );
    let mut c = s.connect();
    c.send(&get_req("/hello.txt"));
    assert_eq!(c.response().status, 200);
    closed_quietly_after(&mut c, 900, 2000, "an idle keep-alive connection");
}

/// The server closes `c`, sending nothing, between `lo_ms` and `hi_ms` from now.
fn closed_quietly_after(c: &mut Client, lo_ms: u64, hi_ms: u64, what: &str) {
    let t0 = Instant::now();
    let end = c.wait_end(Duration::from_secs(5));
    let took = t0.elapsed();
    assert!(
        matches!(end, Ending::Eof(0) | Ending::Reset(0)),
        "{what} ended as {end:?}"
    );
    assert!(
        took >= Duration::from_millis(lo_ms) && took <= Duration::from_millis(hi_ms),
        "{what} was closed after {took:?}, expected about 1 s"
    );
}

/// Open an idle keep-alive connection (one request answered).
fn idle_conn(s: &Server) -> Client {
    let mut c = s.connect();
    c.send(&get_req("/hello.txt"));
    assert_eq!(c.response().status, 200);
    c
}

/// A docroot whose `/many/` listing keeps a worker busy for tens of milliseconds the first
/// time it is asked for (20 000 names; later answers come from the worker's cache), so that
/// a test can make things happen while that worker cannot look.
fn root_with_busy_listing() -> TempRoot {
    let root = basic_root();
    let many = root.dir("many");
    let first = root.file("many/f00000", b"x");
    // Hard links: far cheaper to make than 20 000 files.
    for i in 1..20_000 {
        std::fs::hard_link(&first, many.join(format!("f{i:05}"))).unwrap();
    }
    root
}

/// RFC 9112 §9.5: a server may close idle connections when it needs the resources. With
/// `--max-connections 2` and two idle keep-alive connections open, a third client is served
/// and one of the idle ones is closed to make room.
#[test]
fn rfc9112_9_5_full_server_closes_an_idle_connection_for_a_new_client() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--max-connections", "2"]);
    // Pauses let the workers return to waiting, so all three land on the same worker (the
    // next test covers the other case).
    let mut idle = [(), ()].map(|()| {
        sleep(Duration::from_millis(100));
        idle_conn(&s)
    });
    sleep(Duration::from_millis(100));
    let mut third = s.connect();
    third.send(&get_req("/hello.txt"));
    let r = third.response();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, HELLO),
        "the third client was not served"
    );
    let closed = idle
        .iter_mut()
        .map(|c| c.wait_end(Duration::from_millis(500)))
        .filter(|e| matches!(e, Ending::Eof(0) | Ending::Reset(0)))
        .count();
    assert_eq!(
        closed, 1,
        "exactly one idle connection should have been closed to make room"
    );
}

/// The same rule when the idle connection belongs to a worker that is busy at that moment:
/// `--max-connections 2`, one idle keep-alive connection, and one connection whose request
/// keeps the same worker busy (a first listing of 20 000 names, ~50 ms). A third client
/// arriving meanwhile is taken by the other worker; the server is full, but an idle
/// connection exists, so it must be closed and the newcomer served, not refused with 503
/// (`--help`: "when full, idle ones are closed first, then new ones get 503").
#[test]
fn rfc9112_9_5_idle_connection_is_closed_for_a_new_client_on_another_worker() {
    let root = root_with_busy_listing();
    let s = Server::start(
        &root.www,
        &["--max-connections", "2", "--listing", "--workers", "2"],
    );
    // Epoll wakes the first waiting worker for a new connection: with both workers waiting
    // (after start-up, and again after each exchange), the idle and the busy connection
    // land on the same worker, and the third on the other one.
    sleep(Duration::from_millis(100));
    let mut idle = idle_conn(&s);
    sleep(Duration::from_millis(100));
    let mut busy = s.connect();
    busy.send(&get_req("/many/"));
    sleep(Duration::from_millis(5));
    let mut third = s.connect();
    third.send(&get_req("/hello.txt"));
    let r = third
        .try_response(false)
        .unwrap_or_else(|e| panic!("third client: {e}"));
    assert_eq!(
        r.status, 200,
        "the third client was refused although an idle keep-alive connection was open"
    );
    assert_eq!(r.body, HELLO);
    // The idle connection's worker closes it once the listing is done (longer under qemu).
    assert!(matches!(
        idle.wait_end(scaled(Duration::from_millis(500))),
        Ending::Eof(0) | Ending::Reset(0)
    ));
    assert_eq!(
        busy.response().status,
        200,
        "the listing in progress was dropped"
    );
}

/// RFC 9110 §15.6.4: "The 503 (Service Unavailable) status code indicates that the server is
/// currently unable to handle the request due to a temporary overload". With
/// `--max-connections 2` taken by two clients still sending their heads (and not for long), a
/// third gets 503 and is closed, and the two in progress are then served normally.
#[test]
fn rfc9110_15_6_4_full_server_with_busy_connections_answers_503() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--max-connections", "2"]);
    let mut busy = [s.connect(), s.connect()];
    for c in &mut busy {
        c.send(b"GET /hello.txt HTTP/1.1\r\n");
    }
    sleep(Duration::from_millis(200));
    // It speaks first, as HTTP clients do: the kernel hands the server a connection when its
    // first bytes come (TCP_DEFER_ACCEPT).
    let mut third = s.connect();
    third.send(&get_req("/hello.txt"));
    let r = third
        .try_response(false)
        .unwrap_or_else(|e| panic!("third client: {e}"));
    assert_eq!(r.status, 503);
    // An orderly close: a reset could have destroyed the 503 before it was read.
    match third.wait_end(Duration::from_secs(2)) {
        Ending::Eof(0) => {}
        other => panic!("after the 503: expected a FIN, got {other:?}"),
    }
    for c in &mut busy {
        c.send(b"Host: t\r\n\r\n");
        let r = c.response();
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, HELLO),
            "a request in progress was dropped"
        );
    }
}

/// RFC 9110 §15.6.4: 503 is for a *temporary* overload. Connections that ended (served and
/// closed, refused as malformed, left by the client after a response or before a byte) free
/// their place: after twenty of them, `--max-connections 2` still admits two clients at once.
#[test]
fn rfc9110_15_6_4_ended_connections_free_their_places() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--max-connections", "2"]);
    for i in 0..20 {
        let mut c = s.connect();
        match i % 4 {
            0 => c.send(&get_close("/hello.txt")),
            1 => c.send(b"GET /x HTTP/1.1\r\nHost: a b\r\n\r\n"),
            2 => c.send(&get_req("/hello.txt")),
            _ => continue,
        }
        c.response();
    }
    sleep(Duration::from_millis(300));
    assert_two_admitted(&s, "after 20 ended connections");
}

/// Two clients at once are both served (neither refused nor reset).
fn assert_two_admitted(s: &Server, when: &str) {
    let mut two = [(), ()].map(|()| {
        let mut c = s.connect();
        c.send(&get_req("/hello.txt"));
        c
    });
    for c in &mut two {
        let r = c
            .try_response(false)
            .unwrap_or_else(|e| panic!("{when}: {e}"));
        assert_eq!(r.status, 200, "{when}: a place was not given back");
    }
}

/// The same for a client that leaves in the middle of its head: its end of stream arrives
/// together with its last bytes (here made certain by sending both while the only worker is
/// busy rendering a listing). The server must notice the end of stream and close at once,
/// not hold the dead connection (and its place under `--max-connections`) until the header
/// timeout.
#[test]
fn rfc9110_15_6_4_client_gone_mid_head_frees_its_place() {
    let root = root_with_busy_listing();
    let s = Server::start(
        &root.www,
        &["--max-connections", "2", "--listing", "--workers", "1"],
    );
    let mut leaving = s.connect();
    sleep(Duration::from_millis(100));
    let mut busy = s.connect();
    busy.send(&get_close("/many/"));
    sleep(Duration::from_millis(5));
    leaving.send(b"GET /hello.txt HTTP/1.1\r\nHo");
    leaving.shutdown_write();
    assert_eq!(busy.response().status, 200);
    drop(busy);
    // Closing, with or without a 400 first, is right; waiting for more bytes is not.
    match leaving.wait_end(Duration::from_secs(2)) {
        Ending::Eof(_) | Ending::Reset(_) => {}
        other => panic!(
            "a client that closed its side mid-head was not disconnected within 2 s \
             (the header timeout is 10 s): {other:?}"
        ),
    }
    assert_two_admitted(&s, "after a client left mid-head");
}

/// RFC 9112 §9.5 / a send timeout: a client that asks for a large file and stops reading is
/// disconnected a few seconds after the server can no longer make progress
/// (`--send-timeout 1`), while other clients keep being served the whole time.
#[test]
fn rfc9112_9_5_client_that_stops_reading_is_disconnected() {
    let root = basic_root();
    root.file("big.bin", &pattern(BIG, 7));
    let s = Server::start(&root.www, &["--send-timeout", "1", "--workers", "1"]);
    let mut stalled = s.connect();
    stalled.send(&get_req("/big.bin"));
    let mut other = s.connect();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(3500) {
        let t = Instant::now();
        other.send(&get_req("/hello.txt"));
        let r = other.response();
        assert_eq!((r.status, r.body.as_slice()), (200, HELLO));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "another client waited {:?}",
            t.elapsed()
        );
        sleep(Duration::from_millis(200));
    }
    // Drain what the socket buffers held: the stream must end well short of the file.
    match stalled.wait_end(Duration::from_secs(5)) {
        Ending::Eof(n) | Ending::Reset(n) => {
            assert!(n < BIG, "received {n} bytes: the whole file came after all");
        }
        Ending::Open(n) => {
            panic!("a client that stopped reading was not disconnected ({n} bytes received)")
        }
    }
}

/// No RFC sentence, but the premise of RFC 9112 §9.5's connection management: one client
/// that requests a large file and reads nothing never delays another. With a single worker,
/// requests on other connections are answered promptly, and the large response still
/// arrives intact once its client reads.
#[test]
fn rfc9112_9_5_slow_reader_does_not_block_other_clients() {
    let root = basic_root();
    let data = pattern(BIG, 8);
    root.file("big.bin", &data);
    let s = Server::start(&root.www, &["--workers", "1"]);
    let mut slow = s.connect();
    slow.send(&get_req("/big.bin"));
    sleep(Duration::from_millis(200));
    for _ in 0..5 {
        let t = Instant::now();
        let r = s.get("/hello.txt");
        assert_eq!((r.status, r.body.as_slice()), (200, HELLO));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "a request waited {:?} behind a slow reader",
            t.elapsed()
        );
    }
    let r = slow.response();
    assert_eq!(r.status, 200);
    assert!(r.body == data, "the large response was corrupted");
}

/// Each worker thread's voluntary context switches so far: one per wake-up from a wait.
fn worker_wakeups(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    let mut total = 0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("worker-") {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).expect("task status");
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .expect("voluntary_ctxt_switches");
    }
    total
}

/// A server with no connection has nothing to time, so its workers sleep until a client
/// comes: no timer tick (a laptop's idle server costs no wake-ups), and it still answers at
/// once. With connections open, the timers run (a keep-alive connection is still closed on
/// time: the other tests here).
#[test]
fn an_idle_server_does_not_wake_up() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--workers", "2"]);
    assert_eq!(s.get("/hello.txt").status, 200);
    // `get` closed its connection; let the server see the close.
    sleep(Duration::from_millis(300));
    let before = worker_wakeups(s.pid());
    sleep(Duration::from_millis(1500));
    let woke = worker_wakeups(s.pid()) - before;
    // A 250 ms tick would make 12 in 1.5 s on two workers.
    assert!(woke <= 1, "the idle workers woke {woke} times in 1.5 s");
    let t0 = Instant::now();
    assert_eq!(s.get("/hello.txt").status, 200);
    assert!(t0.elapsed() < scaled(Duration::from_millis(500)));
}

/// RFC 9112 §9.5: a request answered before its body came (a GET with a small body the
/// server drops) whose body then stops coming is not answered a second time: no 408 after
/// the 200, which a pipelining client would pair with its next request. The connection just
/// closes when the header timeout passes.
#[test]
fn rfc9112_9_5_an_answered_request_whose_body_stalls_gets_no_second_answer() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--header-timeout", "1"]);
    let mut c = s.connect();
    c.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345");
    let r = c.response();
    assert_eq!((r.status, r.body.as_slice()), (200, HELLO));
    match c.wait_end(scaled(Duration::from_secs(4))) {
        Ending::Eof(0) | Ending::Reset(0) => {}
        Ending::Eof(n) | Ending::Reset(n) => panic!("{n} more bytes after the answer"),
        Ending::Open(n) => panic!("still open ({n} more bytes)"),
    }
}
