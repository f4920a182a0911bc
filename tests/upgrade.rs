//! Binary upgrade on SIGUSR2 (the listening sockets handed to a new process, which the old
//! one waits for before it drains) and the stop of a server whose sockets another process
//! holds (systemd socket activation): no connection is refused or reset.

#![cfg(feature = "ops")]

mod common;

use common::{HELLO, Server, TempRoot, scaled, server_argv};
use std::io::Read;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A process the test started indirectly (the new server an upgrade started), killed when
/// the test ends however it ends.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The stderr line that starts with `prefix`, waited for at most 15 s (scaled).
fn wait_line(s: &Server, prefix: &str) -> String {
    let deadline = Instant::now() + scaled(Duration::from_secs(15));
    loop {
        if let Some(l) = s
            .stderr
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.starts_with(prefix))
        {
            return l.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no line {prefix:?}; stderr: {}",
            s.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid in "barehttpd: upgrade: pid N serving; draining" and the like.
fn pid_in(line: &str) -> u32 {
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "pid").expect("pid N");
    words[i + 1].trim_end_matches([';', ',']).parse().unwrap()
}

/// Whether a process exists (and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| !r.starts_with(" Z")))
}

/// The upgrade under load, over plain, TLS and PROXY protocol listeners.
#[cfg(feature = "tls")]
mod under_load {
    use super::*;
    use common::parse_response;
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// One GET with Connection: close on a fresh connection, after `prefix` (a PROXY header):
    /// Ok when the answer is 200 with hello.txt's body.
    fn get_once(addr: &str, prefix: &[u8]) -> Result<(), String> {
        let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(scaled(Duration::from_secs(30))))
            .unwrap();
        let mut req = prefix.to_vec();
        req.extend_from_slice(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(&req)
            .map_err(|e| format!("write {addr}: {e}"))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)
            .map_err(|e| format!("read {addr}: {e} after {} bytes", buf.len()))?;
        check_hello(&buf, addr)
    }

    fn check_hello(buf: &[u8], what: &str) -> Result<(), String> {
        match parse_response(buf, false) {
            Ok(Some((r, _))) if r.status == 200 && r.body == HELLO => Ok(()),
            Ok(Some((r, _))) => Err(format!(
                "{what}: status {} body {:?}",
                r.status,
                r.body_str()
            )),
            _ => Err(format!(
                "{what}: no whole response: {:?}",
                String::from_utf8_lossy(buf)
            )),
        }
    }

    /// The address after `scheme` in the banner whose next word does (`proxy`) or does not
    /// start with "(PROXY".
    fn banner_addr(s: &Server, scheme: &str, proxy: bool) -> String {
        let line = wait_line(s, "barehttpd 0.");
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let marked = words.get(i + 1).is_some_and(|n| n.starts_with("(PROXY"));
            if let Some(rest) = w.strip_prefix(scheme)
                && marked == proxy
            {
                return rest.trim_end_matches('/').to_string();
            }
        }
        panic!("no {scheme} listener (proxy {proxy}) in {line}");
    }

    const PROXY_V1: &[u8] = b"PROXY TCP4 192.0.2.7 127.0.0.1 4711 80\r\n";

    mod tls {
        use super::*;
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};
        use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
        use std::path::Path;

        /// A CA and a leaf for 127.0.0.1 in `dir` (ca.pem, a.pem, a.key), made with openssl.
        pub fn make_certs(dir: &Path) {
            let sh = r#"set -e
    ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    openssl req -x509 $ec -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
    openssl req -new $ec -subj /CN=a -keyout a.key -out a.csr
    printf "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" > a.ext
    openssl x509 -req -in a.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile a.ext -out a.pem
    "#;
            std::fs::create_dir_all(dir).unwrap();
            let ok = Command::new("sh")
                .args(["-c", sh])
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("sh")
                .success();
            assert!(ok, "openssl could not make the test certificates");
        }

        pub fn client(dir: &Path) -> Arc<ClientConfig> {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let c = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(c)
        }

        /// One GET with Connection: close over a fresh TLS connection (certificate verified).
        pub fn get_once(addr: &str, config: &Arc<ClientConfig>) -> Result<(), String> {
            let sock = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
            sock.set_read_timeout(Some(scaled(Duration::from_secs(30))))
                .unwrap();
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let conn = ClientConnection::new(config.clone(), name).unwrap();
            let mut tls = StreamOwned::new(conn, sock);
            tls.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .map_err(|e| format!("TLS write {addr}: {e}"))?;
            let mut buf = Vec::new();
            tls.read_to_end(&mut buf)
                .map_err(|e| format!("TLS read {addr}: {e} after {} bytes", buf.len()))?;
            check_hello(&buf, addr)
        }
    }

    /// Clients that keep connecting while a test runs, each kind in its own thread: errors are
    /// collected, successes counted (and, once `after` is set, counted apart).
    struct Load {
        stop: Arc<AtomicBool>,
        after: Arc<AtomicBool>,
        errors: Arc<Mutex<Vec<String>>>,
        threads: Vec<(String, std::thread::JoinHandle<(usize, usize)>)>,
    }

    impl Load {
        fn new() -> Load {
            Load {
                stop: Arc::new(AtomicBool::new(false)),
                after: Arc::new(AtomicBool::new(false)),
                errors: Arc::new(Mutex::new(Vec::new())),
                threads: Vec::new(),
            }
        }

        /// A thread that repeats `once` until stopped.
        fn spawn(&mut self, name: &str, once: impl Fn() -> Result<(), String> + Send + 'static) {
            let (stop, after, errors) =
                (self.stop.clone(), self.after.clone(), self.errors.clone());
            let what = name.to_string();
            let t = std::thread::spawn(move || {
                let (mut n, mut late) = (0, 0);
                while !stop.load(Ordering::SeqCst) {
                    match once() {
                        Ok(()) if after.load(Ordering::SeqCst) => late += 1,
                        Ok(()) => n += 1,
                        Err(e) => errors.lock().unwrap().push(format!("{what}: {e}")),
                    }
                }
                (n + late, late)
            });
            self.threads.push((name.to_string(), t));
        }

        /// Stop the threads; (name, successes, successes after `after` was set) per thread.
        fn finish(self) -> (Vec<(String, usize, usize)>, Vec<String>) {
            self.stop.store(true, Ordering::SeqCst);
            let counts = self
                .threads
                .into_iter()
                .map(|(name, t)| {
                    let (n, late) = t.join().unwrap();
                    (name, n, late)
                })
                .collect();
            let errors = self.errors.lock().unwrap().clone();
            (counts, errors)
        }
    }

    /// A keep-alive connection doing one request after another. The server may close it
    /// between two responses (the old process closes idle connections when it drains; RFC 9112
    /// §9.3.1 lets a client retry an idempotent request then): a connection that ends before
    /// any byte of a response, after at least one response on it, is opened again and counted
    /// in `reopened`; anything else is an error.
    fn keep_alive(addr: String, reopened: Arc<AtomicUsize>) -> impl Fn() -> Result<(), String> {
        let conn: Mutex<Option<(TcpStream, usize)>> = Mutex::new(None);
        move || {
            let mut slot = conn.lock().unwrap();
            if slot.is_none() {
                let s = TcpStream::connect(&addr).map_err(|e| format!("connect {addr}: {e}"))?;
                s.set_read_timeout(Some(scaled(Duration::from_secs(30))))
                    .unwrap();
                *slot = Some((s, 0));
            }
            let (s, served) = slot.as_mut().unwrap();
            let reused = *served > 0;
            let sent = s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let answer = sent.and_then(|()| {
                loop {
                    match parse_response(&buf, false) {
                        Ok(Some((r, _))) => break Ok(Some(r)),
                        Err(e) => break Err(std::io::Error::other(e)),
                        Ok(None) => {}
                    }
                    match s.read(&mut chunk)? {
                        0 => break Ok(None),
                        n => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
            match answer {
                Ok(Some(r)) if r.status == 200 && r.body == HELLO => {
                    *served += 1;
                    Ok(())
                }
                Ok(Some(r)) => Err(format!("keep-alive: status {}", r.status)),
                // Closed (or reset) between responses: the retry RFC 9112 allows.
                Ok(None) | Err(_) if reused && buf.is_empty() => {
                    *slot = None;
                    reopened.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
                Ok(None) => Err(format!("keep-alive: closed after {} bytes", buf.len())),
                Err(e) => Err(format!("keep-alive: {e} after {} bytes", buf.len())),
            }
        }
    }

    /// SIGUSR2 while clients connect without pause to a plain, a TLS and a PROXY protocol
    /// listener: the new process serves all three with their kinds, no connection is refused
    /// or reset, every answer is whole, and the old process drains and exits 0.
    #[test]
    fn sigusr2_hands_every_listener_to_a_new_process_without_refusing_a_connection() {
        // The new process is the program itself started again: under an emulator without
        // binfmt_misc, the kernel cannot execute it (ENOEXEC), as `start_own_binary` says.
        if common::emulated() {
            eprintln!("skipped: under an emulator the program cannot be executed directly");
            return;
        }
        let root = TempRoot::new();
        root.file("hello.txt", HELLO);
        let certs = root.base.join("tls");
        tls::make_certs(&certs);
        let (cert, key) = (certs.join("a.pem"), certs.join("a.key"));
        let mut old = Server::start(
            &root.www,
            &[
                "--tls-listen",
                "127.0.0.1:0",
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
                "--proxy-protocol-listen",
                "127.0.0.1:0",
                "--trusted-proxy",
                "127.0.0.1/32",
            ],
        );
        let plain = old.addr();
        let https = banner_addr(&old, "https://", false);
        let proxied = banner_addr(&old, "http://", true);
        let config = tls::client(&certs);
        let mut new = KillOnDrop(None);

        let mut load = Load::new();
        let reopened = Arc::new(AtomicUsize::new(0));
        for i in 0..2 {
            let a = plain.clone();
            load.spawn(&format!("plain {i}"), move || get_once(&a, b""));
        }
        let (a, c) = (https.clone(), config.clone());
        load.spawn("tls", move || tls::get_once(&a, &c));
        let a = proxied.clone();
        load.spawn("proxy", move || get_once(&a, PROXY_V1));
        load.spawn("keep-alive", keep_alive(plain.clone(), reopened.clone()));
        std::thread::sleep(Duration::from_millis(300));

        old.signal("USR2");
        let started = pid_in(&wait_line(&old, "barehttpd: upgrade: started pid"));
        new.0 = Some(started);
        let serving = pid_in(&wait_line(&old, "barehttpd: upgrade: pid"));
        assert_eq!(serving, started, "{}", old.stderr_text());
        let status = old
            .wait_exit(scaled(Duration::from_secs(15)))
            .expect("the old process did not exit within 15 s");
        assert!(status.success(), "old process: {status:?}");
        // Only the new process is left to answer.
        load.after.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        let (counts, errors) = load.finish();
        assert!(errors.is_empty(), "{} failures: {errors:#?}", errors.len());
        for (name, n, late) in &counts {
            assert!(
                *late > 0,
                "{name}: nothing answered by the new process ({n} in all)"
            );
        }
        eprintln!(
            "answered {:?}; keep-alive reopened {} times",
            counts,
            reopened.load(Ordering::SeqCst)
        );

        assert!(alive(started), "the new process is gone");
        // The kinds came along: TLS on the TLS listener, a PROXY header required on the other.
        tls::get_once(&https, &config).unwrap();
        get_once(&proxied, PROXY_V1).unwrap();
        assert!(
            get_once(&proxied, b"").is_err(),
            "no PROXY header, yet answered"
        );
        assert!(
            get_once(&https, b"").is_err(),
            "plain HTTP answered on the TLS port"
        );
        get_once(&plain, b"").unwrap();
        let text = old.stderr_text();
        assert!(!text.contains("panicked"), "{text}");
        // One banner each, with the same addresses.
        let banners: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("barehttpd 0."))
            .collect();
        assert_eq!(banners.len(), 2, "{text}");
        let urls = |l: &str| {
            l.split(" on ")
                .nth(1)
                .map(|s| s.split(" (2").next().map(String::from))
        };
        assert_eq!(urls(banners[0]), urls(banners[1]), "{text}");

        // The old process had made the sockets, and is gone: they are the new one's alone, and
        // its stop shuts them down (new clients refused at once) while a response in flight
        // finishes.
        let big = common::pattern(8 << 20, 5);
        root.file("big.bin", &big);
        let mut c = common::Client::connect(&plain);
        c.send(&common::get_req("/big.bin"));
        assert!(c.prefetch(64 << 10).starts_with(b"HTTP/1.1 200 "));
        let kill = Command::new("kill")
            .args(["-TERM", &started.to_string()])
            .status();
        assert!(kill.unwrap().success());
        std::thread::sleep(Duration::from_millis(300));
        let refused = TcpStream::connect(&plain).map_err(|e| e.kind());
        assert_eq!(
            refused.err(),
            Some(std::io::ErrorKind::ConnectionRefused),
            "the new process's stop left its own socket listening"
        );
        assert!(
            c.response().body == big,
            "the response in flight was cut short"
        );
    }
}

/// A server started from a copy of the server binary (a hard link where it can) that the
/// test may replace, as a package upgrade replaces the installed one; one worker, a plain
/// listener. None (skipped) under an emulator, where the program's path is the emulator's.
fn start_own_binary() -> Option<(TempRoot, std::path::PathBuf, Server)> {
    if common::emulated() {
        eprintln!("skipped: under an emulator the program's path is the emulator's");
        return None;
    }
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let exe = root.base.join("barehttpd");
    if std::fs::hard_link(common::bin(), &exe).is_err() {
        std::fs::copy(common::bin(), &exe).unwrap();
    }
    let mut cmd = Command::new(&exe);
    cmd.arg(&root.www);
    cmd.args(["--listen", "127.0.0.1:0", "-w", "1", "--access-log", "off"]);
    let s = Server::start_command(cmd);
    Some((root, exe, s))
}

/// An upgrade whose new binary fails (the installed file replaced by one that exits 1 after
/// a moment, during which a second SIGUSR2 comes): the old process says so in one line per
/// event, collects the child and serves on; then it stops as usual, refusing new
/// connections (its sockets are its own).
#[test]
fn a_new_binary_that_fails_leaves_the_old_one_serving() {
    let Some((_root, exe, mut s)) = start_own_binary() else {
        return;
    };
    assert_eq!(s.get("/hello.txt").body, HELLO);
    // The file at the program's path is now another: a script that fails.
    replace_with_script(&exe, "sleep 1\necho new binary fails >&2\nexit 1");
    s.signal("USR2");
    let child = pid_in(&wait_line(&s, "barehttpd: upgrade: started pid"));
    let _guard = KillOnDrop(Some(child));
    s.signal("USR2");
    wait_line(&s, "barehttpd: SIGUSR2 refused: an upgrade is under way");
    let failed = wait_line(&s, &format!("barehttpd: upgrade: pid {child} ended"));
    assert!(failed.contains("exit status: 1"), "{failed}");
    assert!(failed.ends_with("still serving"), "{failed}");
    assert!(!alive(child), "the failed child was not collected");
    assert_eq!(s.get("/hello.txt").body, HELLO);
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "the old process exited"
    );
    let text = s.stderr_text();
    assert!(!text.contains("draining"), "{text}");

    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(5)).expect("no exit");
    assert!(status.success(), "{status:?}");
    let refused = TcpStream::connect(s.addr()).map_err(|e| e.kind());
    assert_eq!(
        refused.err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "a socket the server made itself is shut down at its stop"
    );
}

/// SIGTERM while the new process starts (here a program that would take 30 s): the new
/// process is killed and collected, and the server stops as asked, exit 0.
#[test]
fn a_stop_during_an_upgrade_kills_the_new_process_and_stops() {
    let Some((_root, exe, mut s)) = start_own_binary() else {
        return;
    };
    replace_with_script(&exe, "exec sleep 30");
    s.signal("USR2");
    let child = pid_in(&wait_line(&s, "barehttpd: upgrade: started pid"));
    let _guard = KillOnDrop(Some(child));
    s.signal("TERM");
    wait_line(
        &s,
        &format!("barehttpd: upgrade: stop asked while pid {child} started"),
    );
    let status = s.wait_exit(Duration::from_secs(5)).expect("no exit");
    assert!(status.success(), "{status:?}");
    assert!(!alive(child), "the new process was left running");
}

/// Put a shell script with `body` where the program was (a package upgrade replacing it).
fn replace_with_script(exe: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::remove_file(exe).unwrap();
    std::fs::write(exe, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(exe, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A socket passed by socket activation stays listening when the server stops: systemd
/// keeps it for the next start, so a connection that arrives meanwhile waits in the backlog
/// instead of being refused. Here another process (started by the wrapper before it execs
/// the server) holds the socket, as systemd does, and answers the first connection that
/// comes once the server has gone.
#[test]
fn a_stop_leaves_a_socket_that_systemd_holds_listening() {
    let have_python = Command::new("python3")
        .arg("-c")
        .arg("")
        .status()
        .is_ok_and(|s| s.success());
    if !have_python {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let script = "import os, socket, sys, time\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)\n\
         server = os.getpid()\n\
         if os.fork() == 0:\n\
         \x20   # The keeper: holds the socket; once the server has gone, answers one client.\n\
         \x20   end = time.time() + 60\n\
         \x20   while os.getppid() == server and time.time() < end: time.sleep(0.02)\n\
         \x20   s.settimeout(10)\n\
         \x20   try:\n\
         \x20       c, _ = s.accept(); c.sendall(b'kept\\n'); c.close()\n\
         \x20   except Exception: pass\n\
         \x20   os._exit(0)\n\
         os.dup2(s.fileno(), 3)\n\
         os.set_inheritable(3, True)\n\
         os.environ['LISTEN_PID'] = str(server)\n\
         os.environ['LISTEN_FDS'] = '1'\n\
         argv = sys.argv[1:]\n\
         os.execv(argv[0], argv)\n";
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]);
    cmd.args(server_argv());
    cmd.args([root.www.to_str().unwrap(), "-w", "1", "--access-log", "off"]);
    let mut s = Server::start_command(cmd);
    assert_eq!(s.get("/hello.txt").body, HELLO);
    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(5)).expect("no exit");
    assert!(status.success(), "{status:?}");
    let mut c = TcpStream::connect(s.addr()).expect("refused after the server stopped");
    c.set_read_timeout(Some(scaled(Duration::from_secs(10))))
        .unwrap();
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "kept\n");
}
