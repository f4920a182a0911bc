//! What WebDAV does to files and trees beyond one name: make a directory, move a name from
//! one directory to another, copy a file, remove a tree, and a resource's extended
//! attributes (where its dead properties live: `handler::dav` says why).
//!
//! Every call takes a directory descriptor and one name in it, never a path: the callers
//! resolve directories beneath the root first (`open_dir_beneath`), so nothing here can
//! leave the root, and no name here is followed if it is a symlink (O_NOFOLLOW,
//! AT_SYMLINK_NOFOLLOW): a link is copied, moved or removed as a link.

use super::super::{AsFd, AsRawFd, Errno, OwnedFd, Result};
use rustix::fs::{Mode, OFlags};
use std::ffi::CStr;

/// Deepest tree `remove_tree_in` and the copies walk: each level holds a descriptor.
pub const MAX_TREE_DEPTH: usize = 64;

/// Make a directory `name` in `dir` (EEXIST if the name is taken).
pub fn mkdir_in(dir: impl AsFd, name: &CStr) -> Result<()> {
    let dir = dir.as_fd();
    traced!(
        "mkdirat",
        ("{}, {name:?}, 0755", dir.as_raw_fd()),
        rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755))
    )
}

/// Move `from` in `from_dir` to `to` in `to_dir`, replacing `to` unless `noreplace`
/// (RENAME_NOREPLACE: EEXIST if it exists).
pub fn rename_between(
    from_dir: impl AsFd,
    from: &CStr,
    to_dir: impl AsFd,
    to: &CStr,
    noreplace: bool,
) -> Result<()> {
    let (a, b) = (from_dir.as_fd(), to_dir.as_fd());
    let flags = if noreplace {
        rustix::fs::RenameFlags::NOREPLACE
    } else {
        rustix::fs::RenameFlags::empty()
    };
    traced!(
        "renameat2",
        (
            "{}, {from:?}, {}, {to:?}, {}",
            a.as_raw_fd(),
            b.as_raw_fd(),
            if noreplace { "RENAME_NOREPLACE" } else { "0" }
        ),
        rustix::fs::renameat_with(a, from, b, to, flags)
    )
}

/// Swap `a` in `a_dir` and `b` in `b_dir` in one step: renameat2(RENAME_EXCHANGE), which
/// replaces a name (a whole directory included) with no moment where it is absent. Linux
/// 3.15 or later on ext4, xfs, btrfs, tmpfs and others; EINVAL where the file system cannot
/// (some network and FUSE ones), ENOSYS on macOS here.
pub fn exchange(a_dir: impl AsFd, a: &CStr, b_dir: impl AsFd, b: &CStr) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let (x, y) = (a_dir.as_fd(), b_dir.as_fd());
        traced!(
            "renameat2",
            (
                "{}, {a:?}, {}, {b:?}, RENAME_EXCHANGE",
                x.as_raw_fd(),
                y.as_raw_fd()
            ),
            rustix::fs::renameat_with(x, a, y, b, rustix::fs::RenameFlags::EXCHANGE)
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a_dir, a, b_dir, b);
        Err(Errno::NOSYS)
    }
}

/// Open `name` in `dir` for reading without following a symlink (ELOOP for one): a file,
/// or a directory (O_DIRECTORY with `is_dir`). O_NONBLOCK keeps a FIFO from blocking.
pub fn open_in(dir: impl AsFd, name: &CStr, is_dir: bool) -> Result<OwnedFd> {
    let dir = dir.as_fd();
    let mut flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    if is_dir {
        flags |= OFlags::DIRECTORY;
    }
    traced!(
        "openat",
        (
            "{}, {name:?}, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC{}",
            dir.as_raw_fd(),
            if is_dir { "|O_DIRECTORY" } else { "" }
        ),
        rustix::fs::openat(dir, name, flags, Mode::empty())
    )
    .map(OwnedFd::new)
}

/// Copy the bytes of `src` into `dst` (both open; `dst` empty), by copy_file_range where the
/// file system can (Linux), else by read and write.
pub fn copy_bytes(src: impl AsFd, dst: impl AsFd) -> Result<()> {
    let (s, d) = (src.as_fd(), dst.as_fd());
    #[cfg(target_os = "linux")]
    loop {
        let r = traced!(
            "copy_file_range",
            (
                "{}, NULL, {}, NULL, 1048576, 0",
                s.as_raw_fd(),
                d.as_raw_fd()
            ),
            rustix::fs::copy_file_range(s, None, d, None, 1 << 20)
        );
        match r {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => break,
            Err(e) => return Err(e),
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match rustix::io::read(s, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        };
        super::write_all(d, &buf[..n])?;
    }
}

/// Remove `name` from `dir` and, if it is a directory, everything in it first, to
/// `MAX_TREE_DEPTH` levels (ENAMETOOLONG past them). Symlinks inside are removed as links.
pub fn remove_tree_in(dir: impl AsFd, name: &CStr, depth: usize) -> Result<()> {
    let dir = dir.as_fd();
    let st = super::lstat_in(dir, name)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return super::unlink_in(dir, name, false);
    }
    if depth >= MAX_TREE_DEPTH {
        return Err(Errno::NAMETOOLONG);
    }
    let sub = open_in(dir, name, true)?;
    // Names are collected a directory at a time: removing while reading may skip entries.
    loop {
        let mut names: Vec<std::ffi::CString> = Vec::new();
        super::read_dir(&sub, |n, _| {
            names.push(std::ffi::CString::new(n).expect("no NUL in a directory entry"));
            names.len() < 1024
        })?;
        if names.is_empty() {
            break;
        }
        for n in &names {
            remove_tree_in(&sub, n, depth + 1)?;
        }
    }
    super::unlink_in(dir, name, true)
}

/// `remove_tree_in`, going on past the members that cannot be removed (RFC 4918 §9.6.1: a
/// DELETE removes what it can and names what it could not): each failed member's path
/// below `name` (from `at`, "/"-separated, as on disk) and its error go to `failed`, and the
/// directories holding one stay (their own failure, ENOTEMPTY, is not reported). `Ok(true)`
/// when everything is gone; an error of `name` itself is returned.
pub fn remove_tree_each(
    dir: impl AsFd,
    name: &CStr,
    depth: usize,
    at: &mut Vec<u8>,
    failed: &mut dyn FnMut(&[u8], Errno),
) -> Result<bool> {
    let dir = dir.as_fd();
    let st = super::lstat_in(dir, name)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return super::unlink_in(dir, name, false).map(|()| true);
    }
    if depth >= MAX_TREE_DEPTH {
        return Err(Errno::NAMETOOLONG);
    }
    let sub = open_in(dir, name, true)?;
    let mut kept: Vec<std::ffi::CString> = Vec::new();
    loop {
        let mut names: Vec<std::ffi::CString> = Vec::new();
        super::read_dir(&sub, |n, _| {
            let n = std::ffi::CString::new(n).expect("no NUL in a directory entry");
            if !kept.contains(&n) {
                names.push(n);
            }
            names.len() < 1024
        })?;
        if names.is_empty() {
            break;
        }
        for n in names {
            let len = at.len();
            at.push(b'/');
            at.extend_from_slice(n.as_bytes());
            match remove_tree_each(&sub, &n, depth + 1, at, failed) {
                Ok(true) => {}
                Ok(false) => kept.push(n),
                Err(e) => {
                    failed(at, e);
                    kept.push(n);
                }
            }
            at.truncate(len);
        }
    }
    if !kept.is_empty() {
        return Ok(false);
    }
    super::unlink_in(dir, name, true).map(|()| true)
}

/// The names of `fd`'s extended attributes, NUL-separated (empty where the file system
/// keeps none, or has no extended attributes at all).
pub fn xattr_names(fd: impl AsFd) -> Result<Vec<u8>> {
    let fd = fd.as_fd();
    let mut buf = vec![0u8; 64 * 1024];
    let r = traced!(
        "flistxattr",
        ("{}, 65536", fd.as_raw_fd()),
        rustix::fs::flistxattr(fd, &mut buf[..])
    );
    match r {
        Ok(n) => {
            buf.truncate(n);
            Ok(buf)
        }
        Err(Errno::NOTSUP) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The value of `fd`'s extended attribute `name` (`NO_XATTR`: none).
pub fn xattr_get(fd: impl AsFd, name: &CStr) -> Result<Vec<u8>> {
    let fd = fd.as_fd();
    let mut buf = vec![0u8; 64 * 1024];
    let n = traced!(
        "fgetxattr",
        ("{}, {name:?}, 65536", fd.as_raw_fd()),
        rustix::fs::fgetxattr(fd, name, &mut buf[..])
    )?;
    buf.truncate(n);
    Ok(buf)
}

/// Set `fd`'s extended attribute `name` (the kernel replaces a value whole).
pub fn xattr_set(fd: impl AsFd, name: &CStr, value: &[u8]) -> Result<()> {
    let fd = fd.as_fd();
    traced!(
        "fsetxattr",
        ("{}, {name:?}, {} bytes, 0", fd.as_raw_fd(), value.len()),
        rustix::fs::fsetxattr(fd, name, value, rustix::fs::XattrFlags::empty())
    )
}

/// The errno for an extended attribute that is not there: ENODATA on Linux, ENOATTR on
/// macOS.
#[cfg(target_os = "linux")]
pub const NO_XATTR: Errno = Errno::NODATA;
#[cfg(target_os = "macos")]
pub const NO_XATTR: Errno = Errno::NOATTR;

/// Remove `fd`'s extended attribute `name`; one that is not there is no error.
pub fn xattr_remove(fd: impl AsFd, name: &CStr) -> Result<()> {
    let fd = fd.as_fd();
    match traced!(
        "fremovexattr",
        ("{}, {name:?}", fd.as_raw_fd()),
        rustix::fs::fremovexattr(fd, name)
    ) {
        Err(NO_XATTR) => Ok(()),
        r => r,
    }
}

/// A directory read a few entries at a time (a WebDAV listing sent while it is read), where
/// `read_dir` reads it in one go.
pub struct Entries {
    dir: rustix::fs::Dir,
}

impl Entries {
    pub fn open(dir: impl AsFd) -> Result<Entries> {
        let dir = dir.as_fd();
        let mut d = None;
        // Shown once, as `read_dir` shows a listing's getdents64 calls.
        traced!(
            "getdents64",
            ("{}", dir.as_raw_fd()),
            rustix::fs::Dir::read_from(dir).map(|x| d = Some(x))
        )?;
        Ok(Entries {
            dir: d.expect("read_from succeeded"),
        })
    }

    /// The next name (never `.` or `..`); `None` at the end.
    pub fn next_name(&mut self) -> Option<Result<Vec<u8>>> {
        loop {
            let e = match self.dir.next()? {
                Ok(e) => e,
                Err(e) => return Some(Err(e)),
            };
            let name = e.file_name().to_bytes();
            if name != b"." && name != b".." {
                return Some(Ok(name.to_vec()));
            }
        }
    }
}
