//! Graceful shutdown on SIGTERM and SIGINT (RFC 9112 §9.6 "Tear-down": close only after
//! the responses already begun are complete).

mod common;

use common::*;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const BIG: usize = 16 * 1024 * 1024;

/// Start a large download and read only its first part, so the response is in flight.
fn in_flight(s: &Server) -> Client {
    let mut c = s.connect();
    c.send(&get_req("/big.bin"));
    let first = c.prefetch(256 * 1024);
    assert!(
        first.starts_with(b"HTTP/1.1 200 "),
        "{:?}",
        String::from_utf8_lossy(&first[..40])
    );
    c
}

fn big_root() -> (TempRoot, Vec<u8>) {
    let root = basic_root();
    let data = pattern(BIG, 11);
    root.file("big.bin", &data);
    (root, data)
}

/// RFC 9112 §9.6: a server closing gracefully finishes the response it is sending. On
/// SIGTERM the in-flight response arrives complete, then the process exits with status 0.
#[test]
fn rfc9112_9_6_sigterm_completes_the_response_in_flight_then_exits_0() {
    let (root, data) = big_root();
    let mut s = Server::start(&root.www, &[]);
    let mut c = in_flight(&s);
    s.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body.len(),
        data.len(),
        "the response in flight was cut short"
    );
    assert!(r.body == data, "the response in flight was corrupted");
    c.assert_closed(
        Duration::from_secs(3),
        "after the last response during shutdown",
    );
    let t0 = Instant::now();
    let status = s
        .wait_exit(Duration::from_secs(5))
        .expect("the server did not exit within 5 s");
    assert!(
        status.success(),
        "exit status {status:?} after SIGTERM; stderr: {}",
        s.stderr_text()
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(!s.stderr_text().contains("panicked"), "{}", s.stderr_text());
}

/// RFC 9112 §9.6: once tear-down has begun, no new exchange starts. After SIGTERM, while a
/// response is still in flight (so the process is alive), new connections are refused.
#[test]
fn rfc9112_9_6_new_connections_are_refused_after_sigterm() {
    let (root, data) = big_root();
    let mut s = Server::start(&root.www, &[]);
    let mut c = in_flight(&s);
    s.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "the server exited with a response in flight"
    );
    match TcpStream::connect_timeout(&s.addr().parse().unwrap(), Duration::from_secs(2)) {
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
        Err(e) => panic!("connect after SIGTERM failed, but not refused: {e}"),
        Ok(_) => panic!("a new connection was accepted after SIGTERM"),
    }
    let r = c.response();
    assert!(r.body == data, "the response in flight was not completed");
    let status = s
        .wait_exit(Duration::from_secs(5))
        .expect("the server did not exit within 5 s");
    assert!(status.success(), "exit status {status:?}");
}

/// SIGINT (Ctrl-C) on an idle server: idle keep-alive connections are closed at once and the
/// process exits 0 promptly.
#[test]
fn rfc9112_9_6_sigint_on_an_idle_server_exits_0_promptly() {
    let root = basic_root();
    let mut s = Server::start(&root.www, &[]);
    let mut idle = s.connect();
    idle.send(&get_req("/hello.txt"));
    assert_eq!(idle.response().status, 200);
    let t0 = Instant::now();
    s.signal("INT");
    let status = s
        .wait_exit(Duration::from_secs(3))
        .expect("the server did not exit within 3 s");
    let took = t0.elapsed();
    assert!(
        status.success(),
        "exit status {status:?} after SIGINT; stderr: {}",
        s.stderr_text()
    );
    assert!(took < Duration::from_millis(1500), "exit took {took:?}");
    idle.assert_closed(Duration::from_secs(1), "idle connection at shutdown");
}
