//! The private ACME CA of `../shared/acceptance/acme-ca.sh` (pebble, with a DNS server that
//! answers every name with 127.0.0.1), started for one test and stopped on drop.
//!
//! Pebble listens on fixed ports (14000 and 15000, DNS on 8053), so one test binary runs
//! it at a time: each test file that uses it does so from a single test function (cargo
//! runs test binaries one after another). Where pebble is not installed the caller is told
//! so; `.ci/run` installs it, and under CI=true a missing pebble is a failure.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const DIRECTORY: &str = "https://127.0.0.1:14000/dir";

pub struct Pebble {
    /// RUNDIR: `ca-https.pem` (trust it to reach the CA), `roots.pem` (issued certificates
    /// chain to it; new at every start of pebble).
    pub run: PathBuf,
    /// Where the CA checks HTTP-01 and TLS-ALPN-01 answers, on 127.0.0.1.
    pub http01: u16,
    pub tlsalpn: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/acceptance/acme-ca.sh")
}

/// Whether pebble can run here; if not, Err says why (the test then prints SKIPPED, or
/// fails under CI=true).
pub fn available() -> Result<(), String> {
    if !script().exists() {
        return Err(format!("{} is missing", script().display()));
    }
    let found = Command::new("sh")
        .args(["-c", "command -v pebble && command -v pebble-challtestsrv"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        return Err("pebble is not installed (apt-get install pebble)".into());
    }
    Ok(())
}

/// A free TCP port on 127.0.0.1 (bound, then released for the caller to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port()
}

/// `curl --cacert ROOTS https://NAME:PORT/PATH` with NAME resolved to 127.0.0.1: the
/// body, or curl's error. Trusting only the CA's roots, it succeeds only over a
/// certificate that CA issued for NAME.
pub fn curl(roots: &Path, name: &str, port: u16, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(roots)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .arg(format!("https://{name}:{port}{path}"))
        .output()
        .expect("run curl");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Pebble {
    /// Start the CA, checking challenges on the given ports.
    pub fn start(run: &Path, http01: u16, tlsalpn: u16) -> Pebble {
        std::fs::create_dir_all(run).expect("create the CA's run dir");
        let out = Command::new("sh")
            .arg(script())
            .args(["start", run.to_str().expect("utf-8 path")])
            .args([http01.to_string(), tlsalpn.to_string()])
            .output()
            .expect("run acme-ca.sh");
        let p = Pebble {
            run: run.to_path_buf(),
            http01,
            tlsalpn,
        };
        assert!(
            out.status.success(),
            "acme-ca.sh start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        p
    }

    pub fn ca_https(&self) -> PathBuf {
        self.run.join("ca-https.pem")
    }

    pub fn roots(&self) -> PathBuf {
        self.run.join("roots.pem")
    }

    /// Restart pebble alone (its DNS server stays) issuing certificates valid for `secs`
    /// seconds: acme-ca.sh has no option for it, so its config gets pebble's
    /// `certificateValidityPeriod` and pebble is started as the script starts it. Accounts
    /// and roots are new afterwards.
    pub fn restart_with_validity(&self, secs: u64) {
        let pid_file = self.run.join("pebble.pid");
        let pid = std::fs::read_to_string(&pid_file).expect("pebble.pid");
        let _ = Command::new("kill").arg(pid.trim()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect("127.0.0.1:14000").is_ok() {
            assert!(Instant::now() < deadline, "pebble did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        let cfg_path = self.run.join("pebble.json");
        let cfg = std::fs::read_to_string(&cfg_path).expect("pebble.json");
        let cfg = cfg.replacen(
            "\"externalAccountBindingRequired\": false",
            &format!(
                "\"externalAccountBindingRequired\": false, \"certificateValidityPeriod\": {secs}"
            ),
            1,
        );
        std::fs::write(&cfg_path, cfg).expect("write pebble.json");
        let log = std::fs::File::create(self.run.join("pebble.log")).expect("pebble.log");
        let child = Command::new("pebble")
            .arg("-config")
            .arg(&cfg_path)
            .args(["-dnsserver", "127.0.0.1:8053"])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start pebble");
        std::fs::write(&pid_file, child.id().to_string()).expect("write pebble.pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect("127.0.0.1:14000").is_err() {
            assert!(Instant::now() < deadline, "pebble did not restart");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The management port (the roots) may come up a moment after the ACME one.
        loop {
            let _ = Command::new("sh")
                .arg(script())
                .args(["roots", self.run.to_str().expect("utf-8 path")])
                .stdout(Stdio::null())
                .status();
            if std::fs::metadata(self.roots()).is_ok_and(|m| m.len() > 0) {
                break;
            }
            assert!(Instant::now() < deadline, "pebble's roots did not come");
            std::thread::sleep(Duration::from_millis(100));
        }
        // `child` is not waited for: `acme-ca.sh stop` kills it by its pid file.
        std::mem::forget(child);
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg(script())
            .args(["stop", self.run.to_str().unwrap_or_default()])
            .stdout(Stdio::null())
            .status();
    }
}
