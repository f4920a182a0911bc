//! Files: opening beneath the document root, stat, reading and directory listings.
//!
//! On macOS (functions marked `cfg(target_os = "macos")`):
//! - There is no openat2: `open_beneath` and `open_dir_beneath` walk the path one name at a
//!   time from the root (`fs/walk.rs` says how, and what that cannot see). With
//!   `--follow-symlinks`, symlinks are followed while they stay beneath the root, as with
//!   RESOLVE_BENEATH; without, any symlink refuses the path, as with RESOLVE_NO_SYMLINKS.
//! - There is no O_PATH: the root and the directories walked through are opened O_RDONLY,
//!   so they need read permission, not only search permission.
//! - There is no O_TMPFILE: `temp_file` creates a file with a fresh name (O_EXCL) and unlinks
//!   it at once.
//! - `fsync` is fcntl(F_FULLFSYNC): Darwin's fsync hands data to the drive, which may still
//!   lose it from its cache in a power cut; F_FULLFSYNC makes the drive write it out.
//! - `Stat` is this module's own struct (see there).

use super::{AsFd, AsRawFd, OwnedFd, Result};
#[cfg(target_os = "linux")]
use rustix::fs::ResolveFlags;
use rustix::fs::{AtFlags, Mode, OFlags};
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--follow-symlinks`: set once at start-up, before any worker runs.
static FOLLOW_SYMLINKS: AtomicBool = AtomicBool::new(false);

/// The kernel answered openat2 with ENOSYS (Linux before 5.6): paths are walked instead
/// (`walk.rs`), with the same answers.
#[cfg(target_os = "linux")]
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// openat2 beneath `root` with `flags` (described as `shown`), following symlinks that stay
/// beneath it if `follow`; or the walk where the kernel has no openat2.
#[cfg(target_os = "linux")]
fn openat2_beneath(
    root: super::BorrowedFd,
    path: &CStr,
    flags: OFlags,
    shown: &'static str,
    follow: bool,
) -> Result<OwnedFd> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let (resolve, resolve_shown) = resolve_flags(follow);
        let r = traced!(
            "openat2",
            ("{}, {path:?}, {shown}, {resolve_shown}", root.as_raw_fd()),
            rustix::fs::openat2(root, path, flags, Mode::empty(), resolve)
        );
        match r {
            Err(super::Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            r => return r.map(OwnedFd::new),
        }
    }
    walk::open_beneath(root, path, flags, shown, follow)
}

/// Follow symlinks that stay beneath the root (`--follow-symlinks`), or refuse every path
/// with a symlink on its way (the default).
pub fn set_follow_symlinks(on: bool) {
    FOLLOW_SYMLINKS.store(on, Ordering::Relaxed);
}

fn follow_symlinks() -> bool {
    FOLLOW_SYMLINKS.load(Ordering::Relaxed)
}

/// How openat2 resolves a path from the root: never out of it, never through /proc's magic
/// links, and through no symlink at all unless `follow` (`--follow-symlinks`).
#[cfg(target_os = "linux")]
fn resolve_flags(follow: bool) -> (ResolveFlags, &'static str) {
    if follow {
        (
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            "RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS",
        )
    } else {
        (
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            "RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS",
        )
    }
}

// On Linux too: where the kernel has no openat2 (before 5.6), and in tests, which compare
// the two.
/// Trees and extended attributes, for WebDAV.
pub mod tree;
mod walk;

pub use rustix::fs::FileType;
#[cfg(target_os = "linux")]
pub use rustix::fs::Stat;

/// A file's status: on macOS this struct, with the fields the server reads, so that code
/// above compiles unchanged on both systems. Where Darwin's `struct stat` has other types
/// than Linux's (`st_dev` and `st_nlink` are narrower, the `_nsec` fields are signed), the
/// fields have Linux's; `st_mode` stays Darwin's `mode_t`, the type `FileType::from_raw_mode`
/// takes there.
#[cfg(target_os = "macos")]
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_mode: rustix::fs::RawMode,
    pub st_nlink: u64,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_size: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: u64,
    pub st_mtime: i64,
    pub st_mtime_nsec: u64,
    pub st_ctime: i64,
    pub st_ctime_nsec: u64,
}

#[cfg(target_os = "macos")]
fn stat_of(st: rustix::fs::Stat) -> Stat {
    // Nanoseconds are in 0..1e9, device numbers are bit patterns: no value is lost.
    Stat {
        st_dev: st.st_dev as u32 as u64,
        st_ino: st.st_ino,
        st_mode: st.st_mode,
        st_nlink: u64::from(st.st_nlink),
        st_uid: st.st_uid,
        st_gid: st.st_gid,
        st_size: st.st_size,
        st_blocks: st.st_blocks,
        st_atime: st.st_atime,
        st_atime_nsec: st.st_atime_nsec as u64,
        st_mtime: st.st_mtime,
        st_mtime_nsec: st.st_mtime_nsec as u64,
        st_ctime: st.st_ctime,
        st_ctime_nsec: st.st_ctime_nsec as u64,
    }
}

#[cfg(target_os = "linux")]
fn stat_of(st: rustix::fs::Stat) -> Stat {
    st
}

/// Syscall names as strace shows them on Linux, and dtruss on macOS.
#[cfg(target_os = "linux")]
mod name {
    pub const FSTAT: &str = "fstat";
    pub const FSTATAT: &str = "newfstatat";
    pub const PREAD: &str = "pread64";
    pub const GETDENTS: &str = "getdents64";
    /// `open(path)` is openat on Linux.
    pub const OPEN: &str = "openat";
    pub const CWD: &str = "AT_FDCWD, ";
}

#[cfg(target_os = "macos")]
mod name {
    pub const FSTAT: &str = "fstat64";
    pub const FSTATAT: &str = "fstatat64";
    pub const PREAD: &str = "pread";
    pub const GETDENTS: &str = "getdirentries64";
    pub const OPEN: &str = "open";
    pub const CWD: &str = "";
}

/// Open a directory to serve as a root for `open_beneath`.
#[cfg(target_os = "linux")]
pub fn open_root(path: &std::path::Path) -> Result<OwnedFd> {
    traced!(
        "openat",
        ("AT_FDCWD, {path:?}, O_PATH|O_DIRECTORY|O_CLOEXEC"),
        rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty()
        )
    )
    .map(OwnedFd::new)
}

/// Open a directory to serve as a root for `open_beneath`.
#[cfg(target_os = "macos")]
pub fn open_root(path: &std::path::Path) -> Result<OwnedFd> {
    traced!(
        "open",
        ("{path:?}, O_RDONLY|O_DIRECTORY|O_CLOEXEC"),
        rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty()
        )
    )
    .map(OwnedFd::new)
}

/// Open `path` (relative) for reading, refusing any resolution that leaves `root`: `..`,
/// absolute symlinks and symlinks that climb out all fail (RESOLVE_BENEATH), magic links
/// under /proc are refused, and so is every symlink without `--follow-symlinks` (ELOOP).
/// O_NONBLOCK keeps a FIFO in the tree from blocking the worker.
#[cfg(target_os = "linux")]
pub fn open_beneath(root: impl AsFd, path: &CStr) -> Result<OwnedFd> {
    openat2_beneath(
        root.as_fd(),
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        "O_RDONLY|O_NONBLOCK|O_CLOEXEC",
        follow_symlinks(),
    )
}

/// Open `path` (relative) for reading, refusing any resolution that leaves `root`: `..` above
/// it, absolute symlinks and symlinks that climb out all fail with EXDEV, as with
/// RESOLVE_BENEATH (`fs/walk.rs`). O_NONBLOCK keeps a FIFO in the tree from blocking the
/// worker.
#[cfg(target_os = "macos")]
pub fn open_beneath(root: impl AsFd, path: &CStr) -> Result<OwnedFd> {
    walk::open_beneath(
        root.as_fd(),
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        "O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC",
        follow_symlinks(),
    )
}

pub fn fstat(fd: impl AsFd) -> Result<Stat> {
    let fd = fd.as_fd();
    traced!(
        name::FSTAT,
        ("{}", fd.as_raw_fd()),
        rustix::fs::fstat(fd).map(stat_of)
    )
}

/// Read from `offset` into `buf` (one pread; may be short).
pub fn pread(fd: impl AsFd, buf: &mut [u8], offset: u64) -> Result<usize> {
    let fd = fd.as_fd();
    let len = buf.len();
    traced!(
        name::PREAD,
        ("{}, {len}, {offset}", fd.as_raw_fd()),
        rustix::io::pread(fd, buf, offset)
    )
}

/// Fill `buf` from `offset` with as many preads as it takes; returns the bytes read, fewer
/// than `buf.len()` if the file ended (it shrank) or a read failed.
pub fn pread_full(fd: impl AsFd, buf: &mut [u8], offset: u64) -> usize {
    let fd = fd.as_fd();
    let mut got = 0;
    while got < buf.len() {
        match pread(fd, &mut buf[got..], offset + got as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

/// Append up to `n` bytes of `fd` from `offset` to `out`, read straight into its spare
/// capacity (not zero-filled first: that pass over every byte was 4% of the CPU of an
/// 8 MiB download over h2c); returns how many, fewer if the file ended or a read failed.
pub fn pread_append(fd: impl AsFd, out: &mut Vec<u8>, n: usize, offset: u64) -> usize {
    let fd = fd.as_fd();
    out.reserve(n);
    let mut got = 0;
    while got < n {
        let spare = &mut out.spare_capacity_mut()[..n - got];
        let len = spare.len();
        let at = offset + got as u64;
        let r = traced!(
            name::PREAD,
            ("{}, {len}, {at}", fd.as_raw_fd()),
            rustix::io::pread(fd, spare, at).map(|(init, _)| init.len())
        );
        match r {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                // SAFETY: the read initialised these `k` bytes of the spare capacity, which
                // directly follow the vector's length.
                unsafe { out.set_len(out.len() + k) };
                got += k;
            }
        }
    }
    got
}

/// Call `each` with the names in a directory (without `.` and `..`), from its start, in the
/// order the directory gives them, and whether each is a directory as its entry tells (`None`
/// when it does not say), until `each` answers false. Nothing is collected here: a directory
/// of any size costs the caller only what it keeps. On Linux the names are borrowed from one
/// buffer of `DIR_BUF` bytes (rustix's `Dir` would allocate each its own `CString`: a listing
/// of 10,000 names made 10,000 allocations here).
#[cfg(target_os = "linux")]
pub fn read_dir(dir: impl AsFd, mut each: impl FnMut(&[u8], Option<bool>) -> bool) -> Result<()> {
    /// getdents64 fills this much per call: about 800 entries of short names.
    const DIR_BUF: usize = 32 * 1024;
    let dir = dir.as_fd();
    // The listing's getdents64 calls are shown as one, with the seek to the start.
    traced!(
        name::GETDENTS,
        ("{}", dir.as_raw_fd()),
        rustix::fs::seek(dir, rustix::fs::SeekFrom::Start(0)).map(drop)
    )?;
    let mut buf = Vec::with_capacity(DIR_BUF);
    let mut raw = rustix::fs::RawDir::new(dir, buf.spare_capacity_mut());
    while let Some(entry) = raw.next() {
        let entry = entry?;
        if !give(&mut each, entry.file_name(), entry.file_type()) {
            break;
        }
    }
    Ok(())
}

/// `read_dir` elsewhere: the same, through rustix's `Dir` (a `CString` per name).
#[cfg(not(target_os = "linux"))]
pub fn read_dir(dir: impl AsFd, mut each: impl FnMut(&[u8], Option<bool>) -> bool) -> Result<()> {
    let dir = dir.as_fd();
    // The listing's getdents64 calls are shown as one.
    let mut d = None;
    traced!(
        name::GETDENTS,
        ("{}", dir.as_raw_fd()),
        rustix::fs::Dir::read_from(dir).map(|x| d = Some(x))
    )?;
    for entry in d.expect("read_from succeeded") {
        let entry = entry?;
        if !give(&mut each, entry.file_name(), entry.file_type()) {
            break;
        }
    }
    Ok(())
}

/// A directory read a few entries at a time, across calls (an archive of a tree is made while
/// it is sent): it owns the directory's descriptor and getdents64's buffer, nothing else, so
/// it costs the same whatever the directory holds.
pub struct DirReader(rustix::fs::Dir);

impl DirReader {
    /// Read `dir`, an open directory, from its start; the descriptor becomes the reader's.
    pub fn new(mut dir: OwnedFd) -> Result<DirReader> {
        // Its reads (getdents64, a buffer at a time) are not traced one by one.
        rustix::fs::Dir::new(dir.0.take().expect("open descriptor")).map(DirReader)
    }

    /// The directory's descriptor, to open the names it holds beneath it.
    pub fn fd(&self) -> Result<super::BorrowedFd<'_>> {
        self.0.fd()
    }

    /// The next name (without `.` and `..`), with whether it is a directory as its entry tells
    /// (`None` when it does not say, and for a symlink); `None` at the end.
    pub fn next_name(&mut self) -> Option<Result<(std::ffi::CString, Option<bool>)>> {
        loop {
            let entry = match self.0.read()? {
                Ok(e) => e,
                Err(e) => return Some(Err(e)),
            };
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            let is_dir = match entry.file_type() {
                FileType::Directory => Some(true),
                FileType::Unknown | FileType::Symlink => None,
                _ => Some(false),
            };
            return Some(Ok((name.to_owned(), is_dir)));
        }
    }
}

/// Hand one entry to `read_dir`'s `each` (`.` and `..` left out): whether to go on.
fn give(each: &mut impl FnMut(&[u8], Option<bool>) -> bool, name: &CStr, ft: FileType) -> bool {
    let name = name.to_bytes();
    if name == b"." || name == b".." {
        return true;
    }
    let is_dir = match ft {
        FileType::Directory => Some(true),
        FileType::Unknown | FileType::Symlink => None,
        _ => Some(false),
    };
    each(name, is_dir)
}

/// A spare descriptor, held so that one can be freed when the process runs out (EMFILE):
/// closing it lets the server accept a waiting connection and refuse it properly instead of
/// leaving it in the backlog, which would wake the event loop again and again.
pub fn open_reserve() -> Option<OwnedFd> {
    traced!(
        name::OPEN,
        ("{}\"/dev/null\", O_RDONLY|O_CLOEXEC", name::CWD),
        rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
    )
    .ok()
    .map(OwnedFd::new)
}

/// Open a directory beneath `root` (for creating, renaming and removing names in it).
pub fn open_dir_beneath(root: impl AsFd, path: &CStr) -> Result<OwnedFd> {
    dir_beneath(root.as_fd(), path, follow_symlinks())
}

/// Open a directory beneath `root` through no symlink at all, even with `--follow-symlinks`
/// (ELOOP for a path with one): for walking a tree, where following links could visit a
/// directory twice or go round in a circle.
pub fn open_dir_beneath_nofollow(root: impl AsFd, path: &CStr) -> Result<OwnedFd> {
    dir_beneath(root.as_fd(), path, false)
}

#[cfg(target_os = "linux")]
fn dir_beneath(root: super::BorrowedFd, path: &CStr, follow: bool) -> Result<OwnedFd> {
    openat2_beneath(
        root,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        "O_RDONLY|O_DIRECTORY|O_CLOEXEC",
        follow,
    )
}

#[cfg(target_os = "macos")]
fn dir_beneath(root: super::BorrowedFd, path: &CStr, follow: bool) -> Result<OwnedFd> {
    walk::open_beneath(
        root,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        "O_RDONLY|O_DIRECTORY|O_CLOEXEC",
        follow,
    )
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

/// Open an existing file `name` in `dir` to append to it, never through a symlink planted at
/// that name (and without blocking, should the name be a FIFO: the caller checks the type).
pub fn open_append_in(dir: impl AsFd, name: &CStr) -> Result<OwnedFd> {
    let dir = dir.as_fd();
    traced!(
        "openat",
        (
            "{}, {name:?}, O_WRONLY|O_APPEND|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC",
            dir.as_raw_fd()
        ),
        rustix::fs::openat(
            dir,
            name,
            OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
    )
    .map(OwnedFd::new)
}

/// An unnamed temporary file (O_TMPFILE) in `dir`, gone when closed.
#[cfg(target_os = "linux")]
pub fn temp_file(dir: &str) -> Result<OwnedFd> {
    traced!(
        "openat",
        ("AT_FDCWD, {dir:?}, O_TMPFILE|O_RDWR|O_CLOEXEC, 0600"),
        rustix::fs::open(
            dir,
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600)
        )
    )
    .map(OwnedFd::new)
}

/// A temporary file in `dir` with no name, gone when closed: created under a fresh name that
/// no one else can have opened (O_EXCL, O_NOFOLLOW, mode 0600), then unlinked at once.
#[cfg(target_os = "macos")]
pub fn temp_file(dir: &str) -> Result<OwnedFd> {
    use std::sync::atomic::{AtomicU64, Ordering};
    /// Names tried before giving up: that many taken names is not chance but someone
    /// creating them on purpose.
    const TRIES: usize = 16;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    for _ in 0..TRIES {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let salt = rustix::time::clock_gettime(rustix::time::ClockId::Realtime).tv_nsec;
        let path = format!("{dir}/.barehttpd-{pid}-{seq}-{salt:x}");
        let r = traced!(
            "open",
            ("{path:?}, O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600"),
            rustix::fs::open(
                path.as_str(),
                OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600)
            )
        );
        match r {
            Ok(fd) => {
                let fd = OwnedFd::new(fd);
                traced!("unlink", ("{path:?}"), rustix::fs::unlink(path.as_str()))?;
                return Ok(fd);
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e),
        }
    }
    Err(rustix::io::Errno::EXIST)
}

/// Stat a name in `dir` without following a symlink.
pub fn lstat_in(dir: impl AsFd, name: &CStr) -> Result<Stat> {
    let dir = dir.as_fd();
    traced!(
        name::FSTATAT,
        ("{}, {name:?}, AT_SYMLINK_NOFOLLOW", dir.as_raw_fd()),
        rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(stat_of)
    )
}

/// Stat a file by its path (a file the operator named, such as `--auth-file`), following
/// symlinks as a path given on the command line is.
pub fn stat_path(path: &std::path::Path) -> Result<Stat> {
    traced!(
        name::FSTATAT,
        ("AT_FDCWD, {path:?}, 0"),
        rustix::fs::statat(rustix::fs::CWD, path, AtFlags::empty()).map(stat_of)
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

/// Write all of `buf` to a file with as many writes as it takes (each traced), retrying
/// EINTR. Any other error is returned as it comes, with part of `buf` maybe written; so is
/// EAGAIN, which a regular file never gives. A write that takes nothing is EIO: the file
/// takes no more, and asking again would loop.
pub fn write_all(fd: impl AsFd, mut buf: &[u8]) -> Result<()> {
    let fd = fd.as_fd();
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(super::Errno::IO),
            Ok(n) => buf = &buf[n..],
            Err(super::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Move a file's offset back to its start (to read back what was written to it).
pub fn rewind(fd: impl AsFd) -> Result<()> {
    let fd = fd.as_fd();
    traced!(
        "lseek",
        ("{}, 0, SEEK_SET", fd.as_raw_fd()),
        rustix::fs::seek(fd, rustix::fs::SeekFrom::Start(0)).map(|_| ())
    )
}

/// Flush a file's (or a directory's) data and metadata to the disk.
#[cfg(target_os = "linux")]
pub fn fsync(fd: impl AsFd) -> Result<()> {
    let fd = fd.as_fd();
    traced!("fsync", ("{}", fd.as_raw_fd()), rustix::fs::fsync(fd))
}

/// Flush a file's (or a directory's) data and metadata to the disk: F_FULLFSYNC (see the
/// module doc), or fsync where the file system does not support it.
#[cfg(target_os = "macos")]
pub fn fsync(fd: impl AsFd) -> Result<()> {
    use rustix::io::Errno;
    let fd = fd.as_fd();
    let r = traced!(
        "fcntl",
        ("{}, F_FULLFSYNC", fd.as_raw_fd()),
        rustix::fs::fcntl_fullfsync(fd)
    );
    match r {
        Err(Errno::NOTSUP | Errno::NOTTY | Errno::INVAL) => {
            traced!("fsync", ("{}", fd.as_raw_fd()), rustix::fs::fsync(fd))
        }
        r => r,
    }
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

/// Atomically make `from` the name `to`, both in `dir`, only if `to` does not exist (EEXIST
/// if it does): renameat2(RENAME_NOREPLACE). A file system that cannot (some network and
/// FUSE ones) answers EINVAL; a kernel before 3.15, ENOSYS.
#[cfg(target_os = "linux")]
pub fn rename_noreplace_in(dir: impl AsFd, from: &CStr, to: &CStr) -> Result<()> {
    let d = dir.as_fd();
    traced!(
        "renameat2",
        (
            "{0}, {from:?}, {0}, {to:?}, RENAME_NOREPLACE",
            d.as_raw_fd()
        ),
        rustix::fs::renameat_with(d, from, d, to, rustix::fs::RenameFlags::NOREPLACE)
    )
}

/// Atomically make `from` the name `to`, both in `dir`, only if `to` does not exist (EEXIST
/// if it does): renameatx_np(RENAME_EXCL), macOS 10.12 and later (ENOSYS before). A file
/// system that cannot answers ENOTSUP.
#[cfg(target_os = "macos")]
pub fn rename_noreplace_in(dir: impl AsFd, from: &CStr, to: &CStr) -> Result<()> {
    let d = dir.as_fd();
    traced!(
        "renameatx_np",
        ("{0}, {from:?}, {0}, {to:?}, RENAME_EXCL", d.as_raw_fd()),
        rustix::fs::renameat_with(d, from, d, to, rustix::fs::RenameFlags::NOREPLACE)
    )
}

/// Remove a name from `dir`: a file or symlink, or an empty directory with `is_dir`.
pub fn unlink_in(dir: impl AsFd, name: &CStr, is_dir: bool) -> Result<()> {
    let (flags, shown) = if is_dir {
        (AtFlags::REMOVEDIR, "AT_REMOVEDIR")
    } else {
        (AtFlags::empty(), "0")
    };
    let dir = dir.as_fd();
    traced!(
        "unlinkat",
        ("{}, {name:?}, {shown}", dir.as_raw_fd()),
        rustix::fs::unlinkat(dir, name, flags)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Errno;

    fn temp() -> OwnedFd {
        let dir = std::env::temp_dir();
        temp_file(dir.to_str().expect("a UTF-8 temp dir")).expect("a temporary file")
    }

    /// Read from the file's offset until its end.
    fn read_rest(fd: &OwnedFd) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match crate::sys::net::read(fd, &mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(Errno::INTR) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    #[test]
    fn write_all_writes_everything_and_rewind_reads_it_back() {
        let fd = temp();
        // Larger than one write is sure to take on every file system.
        let data: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
        write_all(&fd, &data).unwrap();
        write_all(&fd, b"").unwrap();
        assert_eq!(fstat(&fd).unwrap().st_size, data.len() as i64);
        // The offset is at the end: nothing more to read until the rewind.
        assert!(read_rest(&fd).is_empty());
        rewind(&fd).unwrap();
        assert_eq!(read_rest(&fd), data);
        // Writing after a rewind overwrites from the start.
        rewind(&fd).unwrap();
        write_all(&fd, b"HEAD").unwrap();
        rewind(&fd).unwrap();
        let back = read_rest(&fd);
        assert_eq!(&back[..4], b"HEAD");
        assert_eq!(&back[4..], &data[4..]);
    }

    #[test]
    fn write_all_and_rewind_report_errors() {
        // A descriptor opened read-only cannot be written; a socket has no offset.
        let ro = open_reserve().expect("/dev/null");
        assert_eq!(write_all(&ro, b"x"), Err(Errno::BADF));
        let (a, _b) = crate::sys::net::socketpair_stream().unwrap();
        assert_eq!(rewind(&a), Err(Errno::SPIPE));
    }
}

#[cfg(test)]
mod rename_tests {
    use super::*;

    #[test]
    fn rename_noreplace_refuses_an_existing_name() {
        let dir = std::env::temp_dir().join(format!("barehttpd-noreplace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a"), b"a").unwrap();
        std::fs::write(dir.join("b"), b"b").unwrap();
        let d = open_root(&dir).unwrap();
        assert_eq!(
            rename_noreplace_in(&d, c"a", c"b"),
            Err(crate::sys::Errno::EXIST)
        );
        assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"b");
        assert_eq!(rename_noreplace_in(&d, c"a", c"c"), Ok(()));
        assert_eq!(std::fs::read(dir.join("c")).unwrap(), b"a");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
