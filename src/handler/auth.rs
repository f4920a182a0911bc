//! HTTP Basic authentication for writes (RFC 7617) against an htpasswd-style file of
//! `user:hash` lines, with bcrypt (`$2a$`, `$2b$`, `$2y$`) or Argon2 (`$argon2id$`...) hashes
//! verified by maintained crates.
//!
//! Hashes are slow on purpose (a cost-12 bcrypt takes about 240 ms), so they are never
//! verified on an event loop: `check` answers at once from what the worker already knows
//! (credentials it verified, or found wrong, `Verified`), and otherwise hands back a
//! `Pending` verification that the connection submits to a small pool of verifier threads;
//! the verdict comes back to the worker (`submit`'s callback) and the request is dispatched
//! again. A flood of wrong passwords therefore costs the pool's threads and nothing else,
//! and it is bounded three ways: the queue (`QUEUE_MAX`, past it 503), verifications waiting
//! per client address (`PENDING_PER_CLIENT`, past it 429), and failed attempts per client
//! address and window (`STRIKES_MAX`, past it 429 without hashing at all).
//!
//! An unknown user name is verified against a decoy (the costliest hash in the file), so
//! that it takes as long as a known one and timing does not tell which names exist; the
//! comparison itself is constant-time in both crates.
//!
//! The file is looked at again at most once a second (`RELOAD_CHECK_MS`, one stat) and read
//! again when it changed: a removed user loses write access within a second, without a
//! restart. Every worker forgets its verdicts when the file changes (`generation`). A file
//! that no longer parses is reported on stderr and the users in force stay.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Verified credentials a worker remembers (a cache hit costs no hash).
const CACHE_MAX: usize = 64;
/// Wrong credentials a worker remembers, answered 401 again without hashing.
const DENIED_MAX: usize = 256;
/// Verifier threads: hashing is CPU-bound, and a flood must leave the event loops CPU.
const VERIFIERS: usize = 1;
/// Verifications waiting for a verifier, all workers together; past it the write gets 503.
const QUEUE_MAX: usize = 32;
/// Verifications one client address may have waiting or running at once; past it, 429.
const PENDING_PER_CLIENT: u32 = 2;
/// Failed attempts one client address may make in a window before it is refused (429)
/// without any hashing, until the window ends.
const STRIKES_MAX: u32 = 10;
const STRIKE_WINDOW_MS: u64 = 60_000;
/// Client addresses tracked; past this the table starts over (a bound, not a policy).
const CLIENTS_MAX: usize = 4096;
/// How often the credentials file is looked at for changes.
const RELOAD_CHECK_MS: u64 = 1_000;

/// The users of one reading of the file.
struct Users {
    list: Vec<(Vec<u8>, String)>,
    /// The hash an unknown name is verified against: the costliest one.
    decoy: String,
}

/// What the file was when it was read (a change in any of these means read it again).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct FileId {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: i64,
    mtime_ns: i64,
}

struct Client {
    ip: IpAddr,
    /// Start of the current window (monotonic ms) and failures in it.
    since: u64,
    strikes: u32,
    pending: u32,
}

pub struct Auth {
    path: PathBuf,
    users: Mutex<Arc<Users>>,
    /// Bumped whenever the file is read again; workers drop their verdicts then.
    generation: AtomicU64,
    file: Mutex<FileId>,
    last_check: AtomicU64,
    /// What the verifier threads share with the workers: the jobs and the clients' counts.
    pool: Arc<Pool>,
}

/// The verifiers' queue and the per-address counts (a plain list: it is searched only on
/// a verification, and bounded by `CLIENTS_MAX`).
struct Pool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    clients: Vec<Client>,
}

impl PoolState {
    /// The counts of `ip`, made when first seen (the list starting over when full).
    fn client(&mut self, ip: IpAddr) -> &mut Client {
        let at = match self.clients.iter().position(|c| c.ip == ip) {
            Some(i) => i,
            None => {
                if self.clients.len() >= CLIENTS_MAX {
                    self.clients.retain(|c| c.pending > 0);
                }
                self.clients.push(Client {
                    ip,
                    since: 0,
                    strikes: 0,
                    pending: 0,
                });
                self.clients.len() - 1
            }
        };
        &mut self.clients[at]
    }
}

/// A verification to run off the event loop.
pub struct Pending {
    /// The credentials as sent (the base64 token): the key of the worker's verdicts.
    pub token: Vec<u8>,
    pass: Vec<u8>,
    hash: String,
    /// The name is in the file (an unknown one is refused whatever the hash says).
    pub known: bool,
    /// The reading of the file the hash comes from: a verdict is worth keeping only while
    /// that reading is in force (`Verified::record`).
    pub generation: u64,
    client: Option<IpAddr>,
}

struct Job {
    pending: Pending,
    done: Box<dyn FnOnce(bool) + Send>,
}

/// What `check` can say at once.
pub enum Check {
    /// Verified before: go on.
    Allowed,
    /// No Basic credentials (or not decodable): 401, asking for them.
    Missing,
    /// These credentials were found wrong before: 401 again, without hashing.
    Denied,
    /// This client failed too often lately, or has verifications waiting: 429.
    Limited,
    /// Unknown yet: verify them off the event loop (`submit`), then check again.
    Verify(Box<Pending>),
}

/// Why `submit` did not take a verification.
pub enum Refused {
    /// The client already has `PENDING_PER_CLIENT` verifications waiting: 429.
    Limited,
    /// The queue is full: 503.
    Busy,
}

/// What one worker knows of credentials, for the file's `generation` it was learnt under.
#[derive(Default)]
pub struct Verified {
    generation: u64,
    ok: HashSet<Vec<u8>>,
    denied: HashSet<Vec<u8>>,
}

impl Verified {
    /// Remember a verdict (from a verifier, through the worker), unless the file was read
    /// again since the hash it was checked against was taken: then it is dropped, and the
    /// request waiting for it is checked again against the users in force.
    pub fn record(&mut self, token: &[u8], ok: bool, generation: u64) {
        if generation != self.generation {
            return;
        }
        let set = if ok { &mut self.ok } else { &mut self.denied };
        if set.len() >= if ok { CACHE_MAX } else { DENIED_MAX } {
            set.clear();
        }
        set.insert(token.to_vec());
    }
}

impl Auth {
    /// Load `user:hash` lines; blank lines and `#` comments are skipped. Starts the
    /// verifier threads.
    pub fn load(path: &std::path::Path) -> Result<Auth, String> {
        // Looked at before it is read: a change while it is read shows at the next look.
        let file = crate::sys::fs::stat_path(path)
            .map(|st| file_id(&st))
            .unwrap_or_default();
        let users = read_users(path)?;
        let pool = Arc::new(Pool {
            state: Mutex::default(),
            ready: Condvar::new(),
        });
        for i in 0..VERIFIERS {
            let pool = pool.clone();
            std::thread::Builder::new()
                .name(format!("verifier-{i}"))
                .spawn(move || verifier(&pool))
                .map_err(|e| format!("cannot start a verifier thread: {e}"))?;
        }
        Ok(Auth {
            path: path.to_path_buf(),
            users: Mutex::new(Arc::new(users)),
            generation: AtomicU64::new(1),
            file: Mutex::new(file),
            last_check: AtomicU64::new(0),
            pool,
        })
    }

    /// What can be said at once of an Authorization header value from `client`; `now` is
    /// the monotonic time in ms.
    pub fn check(
        &self,
        authorization: Option<&[u8]>,
        client: Option<IpAddr>,
        known: &mut Verified,
        now: u64,
    ) -> Check {
        self.reload_if_changed(now);
        let generation = self.generation.load(Ordering::Acquire);
        if known.generation != generation {
            *known = Verified {
                generation,
                ..Verified::default()
            };
        }
        let Some(v) = authorization else {
            return Check::Missing;
        };
        let v = crate::http::parse::trim_ows(v);
        if v.len() < 6 || !v[..6].eq_ignore_ascii_case(b"basic ") {
            return Check::Missing;
        }
        let token = crate::http::parse::trim_ows(&v[6..]);
        if known.ok.contains(token) {
            return Check::Allowed;
        }
        if known.denied.contains(token) {
            return Check::Denied;
        }
        if let Some(ip) = client
            && self.pool.state.lock().is_ok_and(|mut st| {
                let c = st.client(ip);
                if now >= c.since + STRIKE_WINDOW_MS {
                    c.since = now;
                    c.strikes = 0;
                }
                c.strikes >= STRIKES_MAX
            })
        {
            return Check::Limited;
        }
        let Some(decoded) = base64_decode(token) else {
            return Check::Missing;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return Check::Missing;
        };
        let users = self.users.lock().map(|u| u.clone());
        let Ok(users) = users else {
            return Check::Missing;
        };
        let user = &decoded[..colon];
        let found = users.list.iter().find(|(u, _)| u == user);
        Check::Verify(Box::new(Pending {
            token: token.to_vec(),
            pass: decoded[colon + 1..].to_vec(),
            hash: found.map_or(&users.decoy, |(_, h)| h).clone(),
            known: found.is_some(),
            client,
            generation,
        }))
    }

    /// Queue a verification; `done` gets the verdict, on a verifier thread.
    pub fn submit(
        &self,
        pending: Pending,
        done: Box<dyn FnOnce(bool) + Send>,
    ) -> Result<(), Refused> {
        let mut st = self.pool.state.lock().map_err(|_| Refused::Busy)?;
        if st.jobs.len() >= QUEUE_MAX {
            return Err(Refused::Busy);
        }
        if let Some(ip) = pending.client {
            let c = st.client(ip);
            if c.pending >= PENDING_PER_CLIENT {
                return Err(Refused::Limited);
            }
            c.pending += 1;
        }
        st.jobs.push_back(Job { pending, done });
        self.pool.ready.notify_one();
        Ok(())
    }

    /// Read the file again if it changed since it was read (looked at once a second).
    fn reload_if_changed(&self, now: u64) {
        let last = self.last_check.load(Ordering::Relaxed);
        if now < last + RELOAD_CHECK_MS && last != 0 {
            return;
        }
        if self
            .last_check
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return; // another worker is looking
        }
        let Ok(st) = crate::sys::fs::stat_path(&self.path) else {
            return;
        };
        let id = file_id(&st);
        let Ok(mut file) = self.file.lock() else {
            return;
        };
        if *file == id {
            return;
        }
        *file = id;
        match read_users(&self.path) {
            Ok(users) => {
                if let Ok(mut u) = self.users.lock() {
                    *u = Arc::new(users);
                }
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => crate::sys::log_error(format_args!(
                "barehttpd: {e}; the users read before stay in force"
            )),
        }
    }
}

/// A verifier thread: take jobs for as long as the process runs.
fn verifier(pool: &Pool) {
    let Ok(mut st) = pool.state.lock() else {
        return;
    };
    loop {
        let Some(Job { pending, done }) = st.jobs.pop_front() else {
            st = match pool.ready.wait(st) {
                Ok(st) => st,
                Err(_) => return,
            };
            continue;
        };
        drop(st);
        let ok = verify(&pending.pass, &pending.hash) && pending.known;
        st = match pool.state.lock() {
            Ok(st) => st,
            Err(_) => return,
        };
        if let Some(ip) = pending.client {
            let c = st.client(ip);
            c.pending = c.pending.saturating_sub(1);
            if !ok {
                c.strikes += 1;
            }
        }
        done(ok);
    }
}

#[allow(clippy::unnecessary_cast)]
fn file_id(st: &crate::sys::fs::Stat) -> FileId {
    FileId {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        size: st.st_size as i64,
        mtime: st.st_mtime as i64,
        mtime_ns: st.st_mtime_nsec as i64,
    }
}

/// Read and check the file: every line `user:hash` with a hash the server can verify.
fn read_users(path: &std::path::Path) -> Result<Users, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "--auth-file {}: {}",
            path.display(),
            crate::config::io_reason(&e)
        )
    })?;
    let mut list = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("--auth-file {} line {}: {why}", path.display(), i + 1);
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| bad("expected user:hash"))?;
        if user.is_empty() {
            return Err(bad("empty user name"));
        }
        let known = hash.starts_with("$2a$")
            || hash.starts_with("$2b$")
            || hash.starts_with("$2y$")
            || hash.starts_with("$argon2");
        if !known {
            return Err(bad(
                "only bcrypt ($2b$...) and argon2 ($argon2id$...) hashes are accepted",
            ));
        }
        list.push((user.as_bytes().to_vec(), hash.to_string()));
    }
    let decoy = list
        .iter()
        .map(|(_, h)| h)
        .max_by_key(|h| cost_of(h))
        .cloned()
        .ok_or_else(|| format!("--auth-file {}: no users", path.display()))?;
    Ok(Users { list, decoy })
}

/// How costly a hash is to verify, to pick the decoy: bcrypt's cost, Argon2 above all.
fn cost_of(hash: &str) -> u32 {
    if hash.starts_with("$argon2") {
        return u32::MAX;
    }
    hash.get(4..6).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn verify(pass: &[u8], hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        use argon2::{Argon2, PasswordHash, PasswordVerifier};
        return PasswordHash::new(hash)
            .is_ok_and(|h| Argon2::default().verify_password(pass, &h).is_ok());
    }
    bcrypt::verify(pass, hash).unwrap_or(false)
}

/// Standard base64 with padding (RFC 4648 §4), as Basic credentials use.
/// The user name of Basic credentials (`Authorization` as sent), once `Auth::check` has
/// found them right.
pub fn user(authorization: Option<&[u8]>) -> Option<Vec<u8>> {
    let v = crate::http::parse::trim_ows(authorization?);
    let token = v
        .get(6..)
        .filter(|_| v[..6].eq_ignore_ascii_case(b"basic "))?;
    let decoded = base64_decode(crate::http::parse::trim_ows(token))?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(decoded[..colon].to_vec())
}

fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (i, q) in s.chunks(4).enumerate() {
        let last = i == s.len() / 4 - 1;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode(b"dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode(b"YQ==").unwrap(), b"a");
        assert_eq!(base64_decode(b"YWI=").unwrap(), b"ab");
        assert!(base64_decode(b"YQ=").is_none());
        assert!(base64_decode(b"Y===").is_none());
        assert!(base64_decode(b"Y!==").is_none());
    }

    fn with_users(lines: &str) -> (Auth, std::path::PathBuf) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "barehttpd-auth-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, lines).unwrap();
        (Auth::load(&path).unwrap(), path)
    }

    /// Run a pending verification to its verdict, as a worker does.
    fn verdict(auth: &Auth, p: Pending, cache: &mut Verified) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        let (token, generation) = (p.token.clone(), p.generation);
        auth.submit(p, Box::new(move |ok| tx.send(ok).unwrap()))
            .map_err(|_| "refused")
            .unwrap();
        let ok = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        cache.record(&token, ok, generation);
        ok
    }

    #[test]
    fn rfc7617_basic_credentials_verified_off_the_caller() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let (auth, path) = with_users(&format!("alice:{hash}\n"));
        let mut cache = Verified::default();
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        let good = b"Basic YWxpY2U6czNjcmV0"; // alice:s3cret
        let Check::Verify(p) = auth.check(Some(good), ip, &mut cache, 0) else {
            panic!("a first use is verified");
        };
        assert!(verdict(&auth, *p, &mut cache));
        assert!(matches!(
            auth.check(Some(good), ip, &mut cache, 0),
            Check::Allowed
        ));
        let wrong = b"Basic YWxpY2U6d3Jvbmc="; // alice:wrong
        let Check::Verify(p) = auth.check(Some(wrong), ip, &mut cache, 0) else {
            panic!("verified");
        };
        assert!(!verdict(&auth, *p, &mut cache));
        assert!(matches!(
            auth.check(Some(wrong), ip, &mut cache, 0),
            Check::Denied
        ));
        let Check::Verify(p) = auth.check(Some(b"Basic Ym9iOnMzY3JldA=="), ip, &mut cache, 0)
        else {
            panic!("an unknown user is verified too (against the decoy)");
        };
        assert!(!p.known);
        assert!(!verdict(&auth, *p, &mut cache));
        assert!(matches!(
            auth.check(Some(b"Bearer x"), ip, &mut cache, 0),
            Check::Missing
        ));
        assert!(matches!(
            auth.check(None, ip, &mut cache, 0),
            Check::Missing
        ));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn failed_attempts_from_one_address_are_limited() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let (auth, path) = with_users(&format!("alice:{hash}\n"));
        let mut cache = Verified::default();
        let ip = Some(IpAddr::from([127, 0, 0, 9]));
        for i in 0..STRIKES_MAX {
            let v = format!("alice:wrong{i}");
            let header = format!("Basic {}", base64_encode(v.as_bytes()));
            let Check::Verify(p) = auth.check(Some(header.as_bytes()), ip, &mut cache, 0) else {
                panic!("attempt {i} is verified");
            };
            assert!(!verdict(&auth, *p, &mut cache));
        }
        let good = b"Basic YWxpY2U6czNjcmV0";
        assert!(matches!(
            auth.check(Some(good), ip, &mut cache, 0),
            Check::Limited
        ));
        // Another address is not affected; the window passes.
        let other = Some(IpAddr::from([127, 0, 0, 10]));
        assert!(matches!(
            auth.check(Some(good), other, &mut cache, 0),
            Check::Verify(_)
        ));
        assert!(matches!(
            auth.check(Some(good), ip, &mut cache, STRIKE_WINDOW_MS + 1),
            Check::Verify(_)
        ));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_changed_file_is_reloaded_and_forgets_removed_users() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let (auth, path) = with_users(&format!("alice:{hash}\n"));
        let mut cache = Verified::default();
        let good = b"Basic YWxpY2U6czNjcmV0";
        let Check::Verify(p) = auth.check(Some(good), None, &mut cache, 0) else {
            panic!("verified");
        };
        assert!(verdict(&auth, *p, &mut cache));
        std::fs::write(&path, format!("# alice left\nbob:{hash}\n")).unwrap();
        let later = RELOAD_CHECK_MS + 1;
        let Check::Verify(p) = auth.check(Some(good), None, &mut cache, later) else {
            panic!("the worker's verdict is forgotten with the old file");
        };
        assert!(!p.known, "alice is gone");
        // A broken file keeps the users in force.
        std::fs::write(&path, "bob:not-a-hash\n").unwrap();
        let later = 3 * RELOAD_CHECK_MS;
        let Check::Verify(p) = auth.check(Some(b"Basic Ym9iOnMzY3JldA=="), None, &mut cache, later)
        else {
            panic!("verified");
        };
        assert!(p.known, "bob from the last good file");
        let _ = std::fs::remove_file(path);
    }

    /// A verdict reached against a file that has since been read again is not kept: the
    /// user it let in may have been removed meanwhile.
    #[test]
    fn a_verdict_on_a_replaced_file_is_not_kept() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let (auth, path) = with_users(&format!("alice:{hash}\n"));
        let mut cache = Verified::default();
        let good = b"Basic YWxpY2U6czNjcmV0";
        let Check::Verify(p) = auth.check(Some(good), None, &mut cache, 0) else {
            panic!("verified");
        };
        let (token, generation) = (p.token.clone(), p.generation);
        assert!(
            verify(&p.pass, &p.hash) && p.known,
            "right against the old file"
        );
        // Alice is removed before the verdict comes back, and this worker sees the change.
        std::fs::write(&path, format!("bob:{hash}\n")).unwrap();
        let later = RELOAD_CHECK_MS + 1;
        assert!(matches!(
            auth.check(None, None, &mut cache, later),
            Check::Missing
        ));
        cache.record(&token, true, generation);
        let Check::Verify(p) = auth.check(Some(good), None, &mut cache, later) else {
            panic!("the old verdict must not let alice in");
        };
        assert!(!p.known);
        let _ = std::fs::remove_file(path);
    }

    fn base64_encode(b: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
