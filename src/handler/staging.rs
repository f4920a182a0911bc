//! The staging files of resumable uploads (PATCH, `upload`): their names, and the
//! server-wide register that bounds how many there are and how much they may hold.
//!
//! A resumable upload's bytes go to a hidden staging file beside the target,
//! `.barehttpd-upload-part-HASH` (under `names::TMP_PREFIX`: never served, listed or
//! writable by name), named by the target's name and final length so that a client that
//! lost its connection, or its page, finds it again. The upload renames it over the target
//! only once it holds the whole length (`upload`), so no reader ever sees part of a file.
//!
//! The register holds one entry per staging file this process wrote to, with a descriptor of
//! its directory: at most `MAX_STAGED` of them, declaring at most `MAX_STAGED_BYTES`
//! together. A staging file untouched for `STALE_SECS` (by its mtime, which every write
//! moves) is removed when room is wanted, and at start-up by `stale`. One request at a time
//! writes a staging file: a second gets 409 (`Error::Conflict`) while the first is in.
//!
//! It answers no request and reads no body: `upload` does.

use super::error::Error;
use super::names::PART_PREFIX;
use crate::sys::{Errno, OwnedFd, fs};
use std::ffi::{CStr, CString};
use std::sync::{Mutex, PoisonError};

/// Staging files of unfinished uploads per server: each is a client's upload in progress or
/// abandoned, and each holds a directory descriptor here; a page uploads a few at a time.
pub const MAX_STAGED: usize = 16;
/// Bytes the staging files may declare (their final lengths, together), per server: room is
/// taken when an upload starts, not as its bytes come, so the disk cannot fill with parts.
pub const MAX_STAGED_BYTES: u64 = 64 << 30;
/// A staging file untouched this long is abandoned: removed when room is wanted and at the
/// next start. A day lets an upload resume after a laptop slept through the night.
pub const STALE_SECS: i64 = 24 * 3600;

/// The staging name of an upload of `name` that will be `total` bytes long: a hash of both,
/// so that the name stays short whatever the target's, and another length starts afresh.
pub fn part_name(name: &[u8], total: u64) -> CString {
    let mut key = name.to_vec();
    key.push(0);
    key.extend_from_slice(total.to_string().as_bytes());
    let digest = super::page::sha256(&key);
    let mut out = PART_PREFIX.to_vec();
    for b in &digest[..16] {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    CString::new(out).expect("no NUL in hex")
}

/// Whether a staging file last written at `mtime` (seconds) is stale at `now`.
pub fn is_stale(mtime: i64, now: i64) -> bool {
    now.saturating_sub(mtime) > STALE_SECS
}

struct Entry {
    dev: u64,
    ino: u64,
    name: CString,
    dir: OwnedFd,
    total: u64,
    busy: bool,
}

static REGISTER: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn register() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    REGISTER.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The right to write one staging file, held by one request; released when dropped.
pub struct Claim {
    dev: u64,
    ino: u64,
    name: CString,
}

impl Claim {
    /// Take staging file `name` in `dir` for an upload of `total` bytes: `Conflict` while
    /// another request writes it, `Full` when a new one does not fit.
    pub fn take(dir: &OwnedFd, name: &CStr, total: u64) -> Result<Claim, Error> {
        let st = fs::fstat(dir)?;
        let (dev, ino) = (st.st_dev, st.st_ino);
        let mut reg = register();
        if let Some(e) = reg
            .iter_mut()
            .find(|e| e.dev == dev && e.ino == ino && *e.name == *name)
        {
            if e.busy {
                return Err(Error::Conflict);
            }
            e.busy = true;
        } else {
            let now = now_secs();
            // Forget the staging files gone (finished by another server, removed by hand)
            // and remove the stale ones, before counting.
            reg.retain(|e| {
                if e.busy {
                    return true;
                }
                match fs::lstat_in(&e.dir, &e.name) {
                    Ok(st) if is_stale(st.st_mtime, now) => {
                        let _ = fs::unlink_in(&e.dir, &e.name, false);
                        false
                    }
                    Ok(_) => true,
                    Err(_) => false,
                }
            });
            let declared: u64 = reg.iter().map(|e| e.total).sum();
            if reg.len() >= MAX_STAGED || declared.saturating_add(total) > MAX_STAGED_BYTES {
                return Err(Error::Full);
            }
            let own = fs::open_dir_beneath(dir, c".")?;
            reg.push(Entry {
                dev,
                ino,
                name: name.to_owned(),
                dir: own,
                total,
                busy: true,
            });
        }
        Ok(Claim {
            dev,
            ino,
            name: name.to_owned(),
        })
    }

    /// The staging file became the target (or is gone): forget it.
    pub fn done(self) {
        register().retain(|e| !self.is(e));
    }

    fn is(&self, e: &Entry) -> bool {
        e.dev == self.dev && e.ino == self.ino && e.name == self.name
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(e) = register().iter_mut().find(|e| self.is(e)) {
            e.busy = false;
        }
    }
}

/// The length of staging file `name` in `dir`: 0 when there is none, `Conflict` when the
/// name is something other than a regular file (nothing this server made).
pub fn staged_len(dir: &OwnedFd, name: &CStr) -> Result<Option<u64>, Error> {
    match fs::lstat_in(dir, name) {
        Ok(st) if fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::RegularFile => {
            Ok(Some(st.st_size.max(0) as u64))
        }
        Ok(_) => Err(Error::Conflict),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(Error::Os(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_are_hidden_fixed_length_and_keyed_by_length() {
        let a = part_name(b"film.mkv", 10);
        assert!(super::super::names::is_part(a.to_bytes()));
        assert!(super::super::names::hidden_name(a.to_bytes(), true));
        assert_eq!(a, part_name(b"film.mkv", 10));
        assert_ne!(a, part_name(b"film.mkv", 11));
        assert_ne!(a, part_name(b"film.mkw", 10));
        assert_eq!(
            part_name(&[b'x'; 255], 1).to_bytes().len(),
            PART_PREFIX.len() + 32
        );
    }

    #[test]
    fn staleness() {
        assert!(!is_stale(1000, 1000 + STALE_SECS));
        assert!(is_stale(1000, 1001 + STALE_SECS));
        assert!(!is_stale(i64::MIN, i64::MIN));
    }
}
