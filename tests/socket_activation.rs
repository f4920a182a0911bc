//! Running under systemd: socket activation (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`,
//! as sd_listen_fds(3) describes them) and `--user`.
//!
//! The sockets are passed the way systemd passes them: by `systemd-socket-activate` where it
//! is installed, and otherwise (and for the cases it cannot make: a descriptor that is not a
//! listening socket, variables meant for another process) by a small Python wrapper that
//! puts a descriptor at 3, sets the variables and execs the server, keeping its own pid.

#![cfg(feature = "ops")]

mod common;

#[cfg(feature = "tls")]
use common::self_signed;
use common::{HELLO, Server, TempRoot, have, run_cli, server_argv, wait_child};
use std::io::Read;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A command that runs the server with descriptor 3 made by the Python statement `make`
/// (which binds `s`, a socket, or sets `fd` itself), `env` added to the environment and
/// `LISTEN_PID` set to the wrapper's own pid (which the server keeps across exec) unless
/// `env` sets it.
fn passing(make: &str, env: &[(&str, &str)], args: &[&str]) -> Command {
    let script = format!(
        "import os, socket, sys\n\
         {make}\n\
         os.dup2(fd, 3)\n\
         os.set_inheritable(3, True)\n\
         os.environ.setdefault('LISTEN_PID', str(os.getpid()))\n\
         argv = sys.argv[1:]\n\
         os.execv(argv[0], argv)\n"
    );
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &script]);
    cmd.args(server_argv());
    cmd.args(args);
    cmd.envs(env.iter().copied());
    cmd
}

/// A listening loopback socket on an ephemeral port, as Python.
const LISTENING: &str =
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); fd = s.fileno()";

fn root() -> TempRoot {
    let r = TempRoot::new();
    r.file("hello.txt", HELLO);
    r
}

/// Run a wrapper to its exit: (exit code, stderr).
fn run_to_exit(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = child.stderr.take().unwrap();
    let status = wait_child(&mut child, Duration::from_secs(20));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut s = String::new();
    let _ = err.read_to_string(&mut s);
    (status.and_then(|s| s.code()), s)
}

fn skip_without(program: &str) -> bool {
    if have(program) {
        return false;
    }
    eprintln!("skipped: {program} is not installed");
    true
}

#[test]
fn systemd_socket_activate_passes_a_socket_that_is_served() {
    if skip_without("systemd-socket-activate") {
        return;
    }
    let r = root();
    // systemd-socket-activate binds the address itself (an ephemeral port cannot be asked
    // for), and execs the server only when the first connection comes.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.args(["-l", &format!("127.0.0.1:{port}"), "--fdname=http"]);
    cmd.args(server_argv());
    cmd.args([r.www.to_str().unwrap(), "--access-log", "off", "-w", "1"]);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn systemd-socket-activate");
    let deadline = Instant::now() + common::scaled(Duration::from_secs(10));
    let addr = format!("127.0.0.1:{port}");
    let resp = loop {
        if let Ok(mut s) = TcpStream::connect(&addr) {
            use std::io::Write;
            s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            break buf;
        }
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let (resp, _) = common::parse_response(&resp, false).unwrap().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, HELLO);
}

#[test]
fn a_passed_socket_replaces_the_default_address() {
    if skip_without("python3") {
        return;
    }
    let r = root();
    let srv = Server::start_command(passing(
        LISTENING,
        &[("LISTEN_FDS", "1"), ("LISTEN_FDNAMES", "http")],
        &[r.www.to_str().unwrap(), "--access-log", "off", "-w", "2"],
    ));
    let banner = srv.stderr_text();
    assert_eq!(banner.matches("http://").count(), 1, "{banner}");
    assert!(!banner.contains(":8080/"), "{banner}");
    let resp = srv.get("/hello.txt");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, HELLO);
}

#[test]
fn listen_addresses_given_beside_passed_sockets_are_bound_too() {
    if skip_without("python3") {
        return;
    }
    let r = root();
    let srv = Server::start_command(passing(
        LISTENING,
        &[("LISTEN_FDS", "1")],
        &[
            r.www.to_str().unwrap(),
            "--access-log",
            "off",
            "-l",
            "127.0.0.1:0",
        ],
    ));
    let banner = srv.stderr_text();
    let ports: Vec<String> = banner
        .split_whitespace()
        .filter(|w| w.starts_with("http://"))
        .map(|w| {
            w.trim_end_matches('/')
                .rsplit(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ports.len(), 2, "{banner}");
    for p in ports {
        let mut c = common::Client::connect(&format!("127.0.0.1:{p}"));
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(c.response().status, 200, "port {p}");
    }
}

#[test]
fn a_descriptor_that_is_not_a_listening_socket_refuses_the_start() {
    if skip_without("python3") {
        return;
    }
    let r = root();
    let www = r.www.to_str().unwrap();
    let cases = [
        (
            "s = socket.socket(); fd = s.fileno()",
            "is a socket that is not listening",
        ),
        (
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); fd = s.fileno()",
            "is not a stream socket",
        ),
        ("fd = os.open('/dev/null', os.O_RDONLY)", "is not a socket"),
    ];
    for (make, why) in cases {
        let (code, err) = run_to_exit(passing(make, &[("LISTEN_FDS", "1")], &[www]));
        assert_eq!(code, Some(2), "{make}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("LISTEN_FDS: descriptor 3 {why}")),
            "{err}"
        );
    }
    // Fewer descriptors than LISTEN_FDS says.
    let (code, err) = run_to_exit(passing(LISTENING, &[("LISTEN_FDS", "2")], &[www]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("descriptor 4 is not open"), "{err}");
    // As many names as sockets, or none.
    let (code, err) = run_to_exit(passing(
        LISTENING,
        &[("LISTEN_FDS", "1"), ("LISTEN_FDNAMES", "http:https")],
        &[www],
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("LISTEN_FDNAMES has 2 names"), "{err}");
}

#[test]
fn variables_meant_for_another_process_are_ignored() {
    if skip_without("python3") {
        return;
    }
    let r = root();
    // sd_listen_fds(3): LISTEN_PID names the process the sockets are for; pid 1 is not us,
    // so the server binds its --listen address and leaves descriptor 3 alone.
    let srv = Server::start_command(passing(
        "fd = os.open('/dev/null', os.O_RDONLY)",
        &[("LISTEN_FDS", "1"), ("LISTEN_PID", "1")],
        &[
            r.www.to_str().unwrap(),
            "--access-log",
            "off",
            "-l",
            "127.0.0.1:0",
        ],
    ));
    assert_eq!(srv.get("/hello.txt").status, 200);
}

#[cfg(feature = "tls")]
#[test]
fn a_socket_named_https_serves_tls() {
    if skip_without("python3") || skip_without("openssl") || skip_without("curl") {
        return;
    }
    let r = root();
    let (cert, key) = self_signed(&r.base.join("tls"));
    let mut cmd = passing(
        LISTENING,
        &[("LISTEN_FDS", "1"), ("LISTEN_FDNAMES", "https")],
        &[
            r.www.to_str().unwrap(),
            "--access-log",
            "off",
            "-l",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    cmd.env("NO_PROXY", "*");
    let srv = Server::start_command(cmd);
    let https = srv.https_url();
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "20", &format!("{https}hello.txt")])
        .output()
        .unwrap();
    assert_eq!(
        out.stdout,
        HELLO,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn user_that_does_not_exist_refuses_the_start() {
    let r = root();
    let (code, _, err) = run_cli(&[r.www.to_str().unwrap(), "--user", "nosuchuser-17"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("no such user") || err.contains("only root can change user"),
        "{err}"
    );
}

#[test]
fn user_drops_root_before_serving() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid_line = |s: &str| {
        s.lines().find(|l| l.starts_with("Uid:")).map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(String::from)
                .collect::<Vec<_>>()
        })
    };
    if uid_line(&status).is_none_or(|u| u[1] != "0") {
        eprintln!("skipped: not running as root");
        return;
    }
    let Some(nobody) = std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .and_then(|l| l.split(':').nth(2).map(String::from))
    else {
        eprintln!("skipped: no user nobody");
        return;
    };
    let r = root();
    use std::os::unix::fs::PermissionsExt;
    for p in [&r.base, &r.www, &r.www.join("hello.txt")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    r.file("secret.txt", b"root only\n");
    std::fs::set_permissions(
        r.www.join("secret.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let srv = Server::start(&r.www, &["--user", "nobody"]);
    assert_eq!(srv.get("/hello.txt").body, HELLO);
    // The server reads files as nobody now: a file only root may read is refused.
    assert_eq!(srv.get("/secret.txt").status, 403);
    let status = std::fs::read_to_string(format!("/proc/{}/status", srv.pid())).unwrap();
    assert_eq!(
        uid_line(&status).unwrap(),
        vec![nobody.clone(), nobody.clone(), nobody.clone(), nobody]
    );
    assert!(
        !status
            .lines()
            .any(|l| l.starts_with("Groups:") && l.split_whitespace().any(|g| g == "0")),
        "{status}"
    );
}
