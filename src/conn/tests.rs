//! The connection's layers driven by hand over a socketpair: no listener, no event loop,
//! no server process. The test plays the client on one end and the event loop on the other
//! (`drive`, `on_event`, `on_timeout`), so each step of a session can be looked at.

use super::transport::Transport;
use super::{Conn, Next, Phase};
use crate::config::{Command, parse_args};
use crate::log::WorkerLog;
use crate::sys::poll::Poller;
use crate::sys::{OwnedFd, net};
use crate::worker::{ConnId, Shared, Worker};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A served folder of its own per test, removed at the end.
struct Root(std::path::PathBuf);

impl Root {
    fn new() -> Root {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "barehttpd-conn-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hello.txt"), b"Hello, world\n").unwrap();
        Root(dir)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn worker(root: &Root, flags: &[&str]) -> Worker {
    let mut args = vec!["barehttpd".into(), root.0.clone().into_os_string()];
    args.extend(flags.iter().map(|f| f.into()));
    let Ok(Command::Run(config)) = parse_args(args) else {
        panic!("flags {flags:?}");
    };
    let served = crate::worker::Served::new(*config, Vec::new(), None).expect("served");
    let shared = Arc::new(Shared::new(served));
    let poller = Poller::new(16).expect("poller");
    let mailbox = Arc::new(crate::worker::Mailbox::new(None));
    Worker::new(0, shared, mailbox, poller, WorkerLog::new(None), None)
}

/// A connection on one end of a socketpair, the client on the other.
fn connect(w: &Worker) -> (Conn, OwnedFd) {
    let (server, client) = net::socketpair_stream().expect("socketpair");
    let id = ConnId {
        slot: 0,
        generation: 1,
    };
    let mut c = Conn::new(id, Transport::new(server), None, w.now, w.header_ms);
    c.expect_request();
    (c, client)
}

/// Client side: send bytes, then let the connection see a readable edge.
fn say(c: &mut Conn, client: &OwnedFd, bytes: &[u8]) {
    assert_eq!(net::send(client, bytes), Ok(bytes.len()));
    c.on_event(true, false, false, false);
}

/// Client side: everything the server has sent so far.
fn heard(client: &OwnedFd) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n @ 1..) = net::recv(client, &mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).expect("text")
}

fn statuses(text: &str) -> Vec<&str> {
    text.match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect()
}

#[test]
fn rfc9112_9_3_pipelined_requests_are_answered_in_order_on_one_connection() {
    let root = Root::new();
    let mut w = worker(&root, &[]);
    let (mut c, client) = connect(&w);
    say(
        &mut c,
        &client,
        b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\nHEAD /nothing HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(c.drive(&mut w), Next::Wait);
    let text = heard(&client);
    assert_eq!(statuses(&text), ["200", "404"]);
    assert!(text.contains("\r\n\r\nHello, world\n"));
    assert!(c.is_idle(), "both answered, nothing buffered");
}

#[test]
fn rfc9112_2_2_a_head_in_pieces_is_answered_once_whole() {
    let root = Root::new();
    let mut w = worker(&root, &[]);
    let (mut c, client) = connect(&w);
    say(&mut c, &client, b"GET /hello.txt HT");
    assert_eq!(c.drive(&mut w), Next::Wait);
    assert_eq!(heard(&client), "");
    assert!(!c.is_idle(), "a request has begun");
    say(&mut c, &client, b"TP/1.1\r\nHost: a\r\n");
    assert_eq!(c.drive(&mut w), Next::Wait);
    assert_eq!(heard(&client), "");
    say(&mut c, &client, b"\r\n");
    assert_eq!(c.drive(&mut w), Next::Wait);
    assert_eq!(statuses(&heard(&client)), ["200"]);
}

#[test]
fn rfc9112_9_6_connection_close_ends_the_session_after_the_response() {
    let root = Root::new();
    let mut w = worker(&root, &[]);
    let (mut c, client) = connect(&w);
    say(
        &mut c,
        &client,
        b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    // The client said it was its last request and nothing more is buffered: the socket
    // closes as soon as the response is out, with no read to wait for.
    assert_eq!(c.drive(&mut w), Next::Close);
    let text = heard(&client);
    assert_eq!(statuses(&text), ["200"]);
    assert!(text.contains("Connection: close\r\n"));
}

#[test]
fn rfc9112_6_3_a_body_nobody_reads_is_dropped_and_the_next_request_stays_in_sync() {
    let root = Root::new();
    let mut w = worker(&root, &[]);
    let (mut c, client) = connect(&w);
    // The body looks like a request; it must never be run as one.
    let hidden = b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut req = format!(
        "POST /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        hidden.len()
    )
    .into_bytes();
    req.extend_from_slice(hidden);
    req.extend_from_slice(b"HEAD /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    say(&mut c, &client, &req);
    assert_eq!(c.drive(&mut w), Next::Wait);
    assert_eq!(statuses(&heard(&client)), ["405", "200"]);
}

#[test]
fn rfc9112_3_a_bad_request_line_gets_400_and_the_connection_lingers_then_closes() {
    let root = Root::new();
    let mut w = worker(&root, &[]);
    let (mut c, client) = connect(&w);
    say(
        &mut c,
        &client,
        b"GET /hello.txt HTTP/1.1 extra\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    );
    assert_eq!(c.drive(&mut w), Next::Wait);
    assert_eq!(c.session.phase(), Phase::Lingering);
    assert_eq!(
        statuses(&heard(&client)),
        ["400"],
        "nothing after a bad head is run"
    );
    drop(client);
    c.on_event(true, false, true, true);
    assert_eq!(c.drive(&mut w), Next::Close);
}

#[test]
fn rfc9110_15_5_9_a_head_that_stops_coming_gets_408_when_its_deadline_passes() {
    let root = Root::new();
    let mut w = worker(&root, &["--header-timeout", "1"]);
    let (mut c, client) = connect(&w);
    say(&mut c, &client, b"GET /hel");
    assert_eq!(c.drive(&mut w), Next::Wait);
    w.now = c.deadline();
    assert_eq!(c.on_timeout(&mut w), Next::Wait);
    assert_eq!(statuses(&heard(&client)), ["408"]);
}

#[test]
fn a_client_that_stops_reading_is_let_go_only_once_its_queue_stops_moving() {
    let root = Root::new();
    std::fs::write(root.0.join("big.bin"), vec![b'x'; 8 << 20]).unwrap();
    let mut w = worker(&root, &["--send-timeout", "1"]);
    let (mut c, client) = connect(&w);
    say(&mut c, &client, b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.drive(&mut w), Next::Wait, "the socket filled");
    assert_eq!(c.session.phase(), Phase::Writing);
    // First timeout: nothing to compare the queue with yet, so one more period.
    w.now = c.deadline().max(w.now + 1000);
    assert_eq!(c.on_timeout(&mut w), Next::Wait);
    // The client read a little: still reading, slowly. Then it stops.
    let mut buf = [0u8; 4096];
    net::recv(&client, &mut buf).unwrap();
    w.now = c.deadline().max(w.now + 1000);
    assert_eq!(c.on_timeout(&mut w), Next::Wait);
    w.now = c.deadline().max(w.now + 1000);
    assert_eq!(c.on_timeout(&mut w), Next::Close);
}

#[test]
fn rfc9110_10_1_1_a_100_continue_that_cannot_be_written_closes_the_connection() {
    // The interim answer cannot go out whole (the client stopped reading), so nothing sent
    // after it could be in step with the client's requests: the connection closes, and the
    // upload it would have started leaves nothing behind.
    let root = Root::new();
    std::fs::create_dir(root.0.join("dav")).unwrap();
    let mut w = worker(&root, &["--write", "/dav/"]);
    let (mut c, client) = connect(&w);
    net::shutdown_read(&client);
    say(
        &mut c,
        &client,
        b"PUT /dav/a.txt HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    assert_eq!(c.drive(&mut w), Next::Close);
    drop(c);
    let left: Vec<_> = std::fs::read_dir(root.0.join("dav")).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
