//! Files: opening beneath the document root, stat, reading and directory listings.

use super::{AsFd, AsRawFd, OwnedFd, Result};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use std::ffi::CStr;

pub use rustix::fs::{FileType, Stat};

/// Open a directory to serve as a root for `open_beneath`.
pub fn open_root(path: &std::path::Path) -> Result<OwnedFd> {
    traced!(
        "open",
        ("{path:?}, O_PATH|O_DIRECTORY|O_CLOEXEC"),
        rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty()
        )
    )
    .map(OwnedFd::new)
}

/// Open `path` (relative) for reading, refusing any resolution that leaves `root`: `..`,
/// absolute symlinks and symlinks that climb out all fail (RESOLVE_BENEATH), and magic links
/// under /proc are refused. O_NONBLOCK keeps a FIFO in the tree from blocking the worker.
pub fn open_beneath(root: impl AsFd, path: &CStr) -> Result<OwnedFd> {
    let root = root.as_fd();
    traced!(
        "openat2",
        (
            "{}, {path:?}, O_RDONLY|O_NONBLOCK|O_CLOEXEC, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS",
            root.as_raw_fd()
        ),
        rustix::fs::openat2(
            root,
            path,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
    )
    .map(OwnedFd::new)
}

pub fn fstat(fd: impl AsFd) -> Result<Stat> {
    let fd = fd.as_fd();
    traced!("fstat", ("{}", fd.as_raw_fd()), rustix::fs::fstat(fd))
}

/// Stat a name inside an open directory, following a symlink so a listing shows what it
/// points to.
pub fn stat_in(dir: impl AsFd, name: &CStr) -> Result<Stat> {
    let dir = dir.as_fd();
    traced!(
        "newfstatat",
        ("{}, {name:?}, 0", dir.as_raw_fd()),
        rustix::fs::statat(dir, name, AtFlags::empty())
    )
}

/// Read from `offset` into `buf` (one pread; may be short).
pub fn pread(fd: impl AsFd, buf: &mut [u8], offset: u64) -> Result<usize> {
    let fd = fd.as_fd();
    let len = buf.len();
    traced!(
        "pread64",
        ("{}, {len}, {offset}", fd.as_raw_fd()),
        rustix::io::pread(fd, buf, offset)
    )
}

/// The names in a directory (without `.` and `..`), with whether each is a directory as the
/// directory entry tells it (`None` when it does not say).
pub fn read_dir(dir: impl AsFd) -> Result<Vec<(Vec<u8>, Option<bool>)>> {
    let mut out = Vec::new();
    let dir = dir.as_fd();
    // The listing's getdents64 calls are shown as one.
    let d = traced!(
        "getdents64",
        ("{}", dir.as_raw_fd()),
        rustix::fs::Dir::read_from(dir).map(|_| ())
    )
    .and_then(|()| rustix::fs::Dir::read_from(dir))?;
    for entry in d {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            FileType::Directory => Some(true),
            FileType::Unknown | FileType::Symlink => None,
            _ => Some(false),
        };
        out.push((name.to_vec(), is_dir));
    }
    Ok(out)
}

/// A spare descriptor, held so that one can be freed when the process runs out (EMFILE):
/// closing it lets the server accept a waiting connection and refuse it properly instead of
/// leaving it in the backlog, which would wake the event loop again and again.
pub fn open_reserve() -> Option<OwnedFd> {
    traced!(
        "open",
        ("\"/dev/null\", O_RDONLY|O_CLOEXEC"),
        rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
    )
    .ok()
    .map(OwnedFd::new)
}

/// Open a directory beneath `root` (for creating, renaming and removing names in it).
pub fn open_dir_beneath(root: impl AsFd, path: &CStr) -> Result<OwnedFd> {
    let root = root.as_fd();
    traced!(
        "openat2",
        (
            "{}, {path:?}, O_RDONLY|O_DIRECTORY|O_CLOEXEC, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS",
            root.as_raw_fd()
        ),
        rustix::fs::openat2(
            root,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
    )
    .map(OwnedFd::new)
}

/// Create a new file `name` in `dir` for writing; fails if the name exists (O_EXCL), and never
/// follows a symlink planted at that name.
pub fn create_new_in(dir: impl AsFd, name: &CStr) -> Result<OwnedFd> {
    let dir = dir.as_fd();
    traced!(
        "openat",
        (
            "{}, {name:?}, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0644",
            dir.as_raw_fd()
        ),
        rustix::fs::openat(
            dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
    )
    .map(OwnedFd::new)
}

/// An unnamed temporary file (O_TMPFILE) in `dir`, gone when closed.
pub fn temp_file(dir: &str) -> Result<OwnedFd> {
    traced!(
        "open",
        ("{dir:?}, O_TMPFILE|O_RDWR|O_CLOEXEC, 0600"),
        rustix::fs::open(
            dir,
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600)
        )
    )
    .map(OwnedFd::new)
}

/// Stat a name in `dir` without following a symlink.
pub fn lstat_in(dir: impl AsFd, name: &CStr) -> Result<Stat> {
    let dir = dir.as_fd();
    traced!(
        "newfstatat",
        ("{}, {name:?}, AT_SYMLINK_NOFOLLOW", dir.as_raw_fd()),
        rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
    )
}

/// Write `buf` (one write; may be short).
pub fn write(fd: impl AsFd, buf: &[u8]) -> Result<usize> {
    let fd = fd.as_fd();
    traced!(
        "write",
        ("{}, {}", fd.as_raw_fd(), buf.len()),
        rustix::io::write(fd, buf)
    )
}

/// Flush a file's (or a directory's) data and metadata to the disk.
pub fn fsync(fd: impl AsFd) -> Result<()> {
    let fd = fd.as_fd();
    traced!("fsync", ("{}", fd.as_raw_fd()), rustix::fs::fsync(fd))
}

/// Atomically replace `to` with `from`, both names in `dir`.
pub fn rename_in(dir: impl AsFd, from: &CStr, to: &CStr) -> Result<()> {
    let d = dir.as_fd();
    traced!(
        "renameat",
        ("{0}, {from:?}, {0}, {to:?}", d.as_raw_fd()),
        rustix::fs::renameat(d, from, d, to)
    )
}

/// Remove a name from `dir`: a file or symlink, or an empty directory with `is_dir`.
pub fn unlink_in(dir: impl AsFd, name: &CStr, is_dir: bool) -> Result<()> {
    let flags = if is_dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    rustix::fs::unlinkat(dir, name, flags)
}
