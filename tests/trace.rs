//! `--trace`: the syscalls listed for a request are the ones the kernel saw. The server runs
//! under `strace -f`, and for one keep-alive connection the calls of the worker thread (from
//! the wake-up that accepted it to its last response) must agree, call for call, with what
//! `--trace` printed. Also: `--trace-filter` and `--trace-file`, and a trace reader that never
//! reads does not stall the server.
//!
//! Under qemu-user (the server built for another architecture, `common::runner`), strace
//! would see the emulator's host calls (getcwd and readlink to translate paths, mprotect for
//! its code cache...), not the server's: there the calls are taken from qemu's own `-strace`
//! log, which lists the calls the guest made, by thread.
//!
//! strace is installed by `.ci/run`; where it is missing the strace comparison says SKIPPED,
//! except under CI=true, where that is a failure.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Srv {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Start the server on a fresh docroot with one worker; `argv`, when given, is the whole
/// command line that runs it (a wrapper, then the server), else `common::server_command()`.
fn start(name: &str, args: &[&str], argv: Option<Vec<String>>) -> Srv {
    let dir = std::env::temp_dir().join(format!("barehttpd-trace-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www/api")).unwrap();
    std::fs::write(dir.join("www/hello.txt"), b"Hello, world\n").unwrap();
    std::fs::write(dir.join("www/api/x.txt"), b"api\n").unwrap();
    let mut cmd = match argv {
        Some(argv) => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
        None => common::server_command(),
    };
    let mut child = cmd
        .arg(dir.join("www"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--access-log",
            "off",
        ])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start barehttpd");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let port = loop {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("server exited before its banner");
        }
        if let Some(i) = line.find("http://127.0.0.1:") {
            let rest = &line[i + 17..];
            break rest[..rest.find('/').unwrap()].parse().unwrap();
        }
    };
    // Keep draining stderr so the server never blocks on it.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = err.read_to_end(&mut sink);
    });
    Srv { child, port, dir }
}

fn get(s: &mut TcpStream, path: &str) -> Vec<u8> {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&tmp[..n]);
        if let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..h]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= h + 4 + len {
                return buf;
            }
        }
    }
}

/// The calls (names only) of each traced request in a trace file.
fn traced_requests(path: &Path) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut lines = block.lines();
        let head = lines.next().unwrap().to_string();
        let calls = lines
            .filter(|l| l.starts_with("  ") && !l.starts_with("  = "))
            .map(|l| l.trim_start().split('(').next().unwrap().to_string())
            .collect();
        out.push((head, calls));
    }
    out
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn have_strace() -> bool {
    let ok = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "strace is required under CI=true"
        );
        eprintln!("SKIPPED: strace is not installed; run .ci/run to install it");
    }
    ok
}

/// Who lists the calls the kernel saw: strace natively; qemu-user's `-strace` when the server
/// runs under qemu (strace would list the emulator's calls).
enum Witness {
    Strace,
    Qemu,
}

/// The witness for this run, or None (after saying SKIPPED) when there is none.
fn witness() -> Option<Witness> {
    let runner = common::runner();
    let Some(program) = runner.first() else {
        return have_strace().then_some(Witness::Strace);
    };
    let name = Path::new(program).file_name().unwrap_or_default();
    if name.to_string_lossy().starts_with("qemu-") {
        return Some(Witness::Qemu);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the server runs under {runner:?}, which is not qemu-user: nothing can list its calls"
    );
    eprintln!(
        "SKIPPED: the server runs under {runner:?}; strace would list that program's calls and \
         only qemu-user's -strace is known to list the server's"
    );
    None
}

/// The calls of the thread that made `accept4`, in order, one per item, from qemu's `-strace`
/// log: lines are `TID name(args) = result`, but a call that blocks may have another thread's
/// line printed between its name and its result, so the log is cut at every `TID name(`.
fn qemu_worker_calls(log: &str) -> Option<Vec<String>> {
    let mut calls: Vec<(&str, &str)> = Vec::new();
    for line in log.lines() {
        let b = line.as_bytes();
        let mut starts = Vec::new();
        for i in 0..b.len() {
            if i > 0 && b[i - 1].is_ascii_digit() {
                continue;
            }
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let rest = &b[i + digits..];
            let name = rest
                .iter()
                .skip(1)
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || **c == b'_')
                .count();
            if digits > 0
                && rest.first() == Some(&b' ')
                && name > 0
                && rest.get(1 + name) == Some(&b'(')
            {
                starts.push((i, i + digits));
            }
        }
        for (k, &(at, tid_end)) in starts.iter().enumerate() {
            let end = starts.get(k + 1).map_or(line.len(), |n| n.0);
            calls.push((&line[at..tid_end], &line[tid_end + 1..end]));
        }
    }
    let worker = calls.iter().find(|(_, c)| c.starts_with("accept4("))?.0;
    Some(
        calls
            .iter()
            .filter(|(t, _)| *t == worker)
            .map(|(_, c)| c.to_string())
            .collect(),
    )
}

#[test]
fn trace_lists_the_calls_strace_sees_call_for_call() {
    let Some(witness) = witness() else {
        return;
    };
    let tmp = std::env::temp_dir().join(format!("barehttpd-trace-out-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let trace_file = tmp.join("trace.txt");
    let strace_file = tmp.join("strace.txt");
    let strace_out = strace_file.to_str().unwrap().to_string();
    let argv: Vec<String> = match witness {
        Witness::Strace => ["strace", "-ff", "-qq", "-o", &strace_out]
            .into_iter()
            .map(String::from)
            .chain(common::server_argv())
            .collect(),
        // qemu's options go before the program it runs.
        Witness::Qemu => common::runner()
            .iter()
            .cloned()
            .chain(["-strace".into(), "-D".into(), strace_out.clone()])
            .chain([common::bin().to_string()])
            .collect(),
    };
    let srv = start(
        "strace",
        &["--trace-file", trace_file.to_str().unwrap()],
        Some(argv),
    );
    let traced_server = KillTraced(tmp.clone());
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let first = get(&mut s, "/hello.txt");
    assert!(first.ends_with(b"Hello, world\n"));
    get(&mut s, "/hello.txt");
    get(&mut s, "/missing");
    let traced = wait_for("three traced requests", || {
        let t = traced_requests(&trace_file);
        (t.len() >= 3).then_some(t)
    });
    assert!(
        traced[0].0.starts_with("GET /hello.txt HTTP/1.1 -> 200"),
        "{traced:?}"
    );
    assert!(
        traced[2].0.starts_with("GET /missing HTTP/1.1 -> 404"),
        "{traced:?}"
    );
    let ours: Vec<String> = traced.iter().flat_map(|(_, c)| c.clone()).collect();

    // The worker thread is the one that accepted the connection. Take its calls from the
    // wake-up before accept4 to the last sendto, leaving out the idle ticks (epoll_pwait
    // returning 0 events), which serve no request.
    let enough = |calls: &[String]| {
        calls.iter().any(|c| c.starts_with("accept4("))
            && calls.iter().filter(|c| c.starts_with("sendto(")).count() >= 3
    };
    let calls: Vec<String> = match witness {
        // One file per thread (-ff), so no call is split across lines by another thread's.
        Witness::Strace => wait_for("strace output of the worker", || {
            for e in std::fs::read_dir(&tmp).ok()?.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !name.starts_with("strace.txt.") {
                    continue;
                }
                let t = std::fs::read_to_string(e.path()).ok()?;
                let calls: Vec<String> = t.lines().map(String::from).collect();
                if enough(&calls) {
                    return Some(calls);
                }
            }
            None
        }),
        // qemu prints a call when it starts and its result when it ends, so the result of a
        // call that blocked may sit on another thread's line and a foreign one on its own:
        // only names and order are trusted. An idle tick is then a wake-up followed by the
        // next one with no call between. clock_gettime is a vDSO call on real hardware,
        // never a system call; qemu-user makes it one.
        Witness::Qemu => wait_for("qemu -strace output of the worker", || {
            let log = std::fs::read_to_string(&strace_file).ok()?;
            let calls = qemu_worker_calls(&log)?;
            let calls: Vec<String> = calls
                .into_iter()
                .filter(|c| !c.starts_with("clock_gettime(") && !c.contains("F_GETFD"))
                .map(|c| format!("{}(", c.split('(').next().unwrap()))
                .collect();
            let busy = (0..calls.len()).filter(|&i| {
                calls[i] != "epoll_pwait(" || calls.get(i + 1).is_some_and(|n| n != "epoll_pwait(")
            });
            let calls: Vec<String> = busy.map(|i| calls[i].clone()).collect();
            enough(&calls).then_some(calls)
        }),
    };
    // Debug builds of std check each descriptor with fcntl(F_GETFD) before closing it; that
    // assertion is not a call of the server's (release builds do not make it). A futex is
    // std's Mutex handing over to a thread that waited for it, such as --trace's own writer
    // thread for the buffer it shares with the worker (rare natively, common under qemu).
    let mine: Vec<&str> = calls
        .iter()
        .map(String::as_str)
        .filter(|l| !l.contains("F_GETFD") && !l.starts_with("futex("))
        .collect();
    let start_at = mine.iter().position(|c| c.starts_with("accept4(")).unwrap() - 1;
    let last_send = mine.iter().rposition(|c| c.starts_with("sendto(")).unwrap();
    let seen: Vec<String> = mine[start_at..=last_send]
        .iter()
        .filter(|c| !(c.starts_with("epoll_pwait(") && c.trim_end().ends_with("= 0")))
        .map(|c| c.split('(').next().unwrap().to_string())
        .collect();
    assert_eq!(
        ours,
        seen,
        "--trace and strace disagree\n--trace: {ours:?}\nstrace:  {seen:?}\nstrace lines:\n{}",
        mine[start_at..=last_send].join("\n")
    );
    drop(s);
    drop(traced_server);
    drop(srv);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Killing strace (when `Srv` drops) would leave the server it traces running: this ends the
/// server first, by the thread ids strace named its files after (`strace.txt.TID` in the
/// directory), also when the test fails. Declared after the `Srv`, so dropped before it.
struct KillTraced(PathBuf);

impl Drop for KillTraced {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("strace.txt.") {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
    }
}

#[test]
fn trace_filter_limits_tracing_to_a_prefix() {
    let tmp = std::env::temp_dir().join(format!("barehttpd-trace-filter-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let trace_file = tmp.join("trace.txt");
    let srv = start(
        "filter",
        &[
            "--trace-file",
            trace_file.to_str().unwrap(),
            "--trace-filter",
            "/api/",
        ],
        None,
    );
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    get(&mut s, "/hello.txt");
    get(&mut s, "/api/x.txt");
    get(&mut s, "/hello.txt");
    let traced = wait_for("the /api/ request in the trace", || {
        let t = traced_requests(&trace_file);
        (!t.is_empty()).then_some(t)
    });
    std::thread::sleep(Duration::from_millis(300));
    let traced = traced_requests(&trace_file)
        .into_iter()
        .chain(traced)
        .collect::<Vec<_>>();
    assert!(
        traced.iter().all(|(h, _)| h.starts_with("GET /api/x.txt")),
        "{traced:?}"
    );
    assert!(
        traced[0].1.contains(&"recvfrom".to_string())
            && traced[0].1.contains(&"sendto".to_string())
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_trace_reader_that_never_reads_does_not_stall_the_server() {
    // Trace output on a pipe nobody reads: the pipe fills after a few requests; the server
    // must keep answering at full speed.
    let srv = start("stall", &["--trace"], None);
    // `start` drains stderr; to make a stuck reader, run a second server whose stderr pipe is
    // never read.
    let dir = srv.dir.join("www");
    let mut stuck = common::server_command()
        .arg(&dir)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--access-log",
            "off",
            "--trace",
        ])
        .args(["--header-timeout", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(stuck.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let i = line.find("http://127.0.0.1:").unwrap();
    let port: u16 = line[i + 17..][..line[i + 17..].find('/').unwrap()]
        .parse()
        .unwrap();
    // From here on nobody reads `err`.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t0 = Instant::now();
    for _ in 0..3000 {
        get(&mut s, "/hello.txt");
    }
    let took = t0.elapsed();
    let _ = stuck.kill();
    let _ = stuck.wait();
    drop(err);
    assert!(
        took < Duration::from_secs(20),
        "3000 traced requests took {took:?} with a stuck reader"
    );
}

/// Send `raw` on a connection of its own (it asks `Connection: close`) and read to the end.
#[cfg(feature = "dav")]
fn exchange(port: u16, raw: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// WebDAV requests are traced like any other: a PROPFIND of a folder shows its directory
/// reads, a LOCK the random bytes of its token.
#[cfg(feature = "dav")]
#[test]
fn trace_shows_webdav_requests_with_their_calls() {
    let tmp = std::env::temp_dir().join(format!("barehttpd-trace-dav-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let trace_file = tmp.join("trace.txt");
    let srv = start(
        "dav",
        &[
            "--trace-file",
            trace_file.to_str().unwrap(),
            "--write",
            "/api/",
        ],
        None,
    );
    let out = exchange(
        srv.port,
        "PROPFIND /api/ HTTP/1.1\r\nHost: x\r\nDepth: 1\r\nConnection: close\r\n\r\n",
    );
    assert!(
        out.starts_with(b"HTTP/1.1 207"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let body = "<?xml version=\"1.0\"?><D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>";
    let out = exchange(
        srv.port,
        &format!(
            "LOCK /api/x.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let traced = wait_for("the PROPFIND and the LOCK in the trace", || {
        let t = traced_requests(&trace_file);
        let find = |m: &str| t.iter().find(|(h, _)| h.starts_with(m)).cloned();
        Some((find("PROPFIND /api/")?, find("LOCK /api/x.txt")?))
    });
    let (propfind, lock) = traced;
    assert!(
        propfind.1.iter().any(|c| c == "getdents64") && propfind.1.iter().any(|c| c == "sendto"),
        "{propfind:?}"
    );
    assert!(
        lock.1.iter().any(|c| c == "getrandom") && lock.1.iter().any(|c| c == "recvfrom"),
        "{lock:?}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
