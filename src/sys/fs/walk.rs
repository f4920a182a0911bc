//! macOS has no openat2 (nor has Linux before 5.6), so `open_beneath` resolves a path
//! itself, one name per openat, starting from the root's descriptor. The answers are those of
//! RESOLVE_BENEATH:
//!
//! - Every name is opened with O_NOFOLLOW from the descriptor of the directory before it,
//!   names on the way with O_DIRECTORY too. So the kernel never resolves more than one name
//!   per call and never follows a symlink by itself (O_NOFOLLOW_ANY, macOS 11+, would add
//!   nothing here).
//! - Symlinks are followed, by the walk, while they stay beneath the root: the link is read
//!   with readlinkat and its target takes its place in the path. An absolute target fails
//!   with EXDEV, and so does a `..` that would climb above the root, whether it comes from
//!   the request or from a link.
//! - `..` returns to the directory the walk came from (it keeps a descriptor for each level,
//!   the root at the bottom); the file system is never asked for a parent.
//! - At most `MAX_SYMLINKS` links per open (ELOOP), `MAX_DEPTH` levels (ENAMETOOLONG).
//! - An empty path is ENOENT, an absolute one EXDEV; a trailing `/` requires a directory.
//!
//! What it cannot see, and openat2 can: a directory being moved out of the root while the
//! walk is inside it (Linux then fails with EXDEV or EAGAIN). Only someone who can rename
//! directories inside the served tree can arrange that, and such a person can as well put
//! any file there.

use crate::sys::{AsFd, AsRawFd, BorrowedFd, Errno, OwnedFd, Result};
use rustix::fs::{Mode, OFlags};
use std::ffi::CStr;

/// Most symlinks one open follows, as MAXSYMLINKS in Darwin's <sys/param.h>.
const MAX_SYMLINKS: usize = 32;
/// Deepest nesting walked: each level holds a descriptor until the open is done.
const MAX_DEPTH: usize = 256;

/// Open `path` beneath `root`, its last name with `flags` (described as `shown` in traces).
pub(super) fn open_beneath(
    root: BorrowedFd<'_>,
    path: &CStr,
    flags: OFlags,
    shown: &'static str,
    follow: bool,
) -> Result<OwnedFd> {
    let path = path.to_bytes();
    match path.first() {
        None => return Err(Errno::NOENT),
        Some(b'/') => return Err(Errno::XDEV),
        Some(_) => {}
    }
    // The directories walked into, below the root.
    let mut dirs: Vec<OwnedFd> = Vec::new();
    // The path still to walk: the request's, or, once a link was followed, the link's target
    // followed by what came after the link.
    let mut spliced: Option<Vec<u8>> = None;
    let mut pos = 0;
    let mut links = 0;
    loop {
        let rest = spliced.as_deref().unwrap_or(path);
        let Some((start, end)) = next_name(rest, pos) else {
            break;
        };
        pos = end;
        let name = &rest[start..end];
        if name == b".." {
            if dirs.pop().is_none() {
                return Err(Errno::XDEV);
            }
            continue;
        }
        let at = dirs.last().map_or(root, |d| d.as_fd());
        let last = next_name(rest, end).is_none();
        let r = if last {
            // What follows the last name is slashes and dots: a directory is wanted.
            let (flags, dir) = if end < rest.len() {
                (flags | OFlags::DIRECTORY, "|O_DIRECTORY")
            } else {
                (flags, "")
            };
            openat(at, name, flags | OFlags::NOFOLLOW, shown, dir)
        } else {
            openat(
                at,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                "O_RDONLY|O_DIRECTORY|O_CLOEXEC",
                "",
            )
        };
        match r {
            Ok(fd) if last => return Ok(fd),
            Ok(fd) => {
                if dirs.len() >= MAX_DEPTH {
                    return Err(Errno::NAMETOOLONG);
                }
                dirs.push(fd);
            }
            // O_NOFOLLOW met a symlink (ELOOP, or ENOTDIR where O_DIRECTORY is checked
            // first). If the name is not a symlink, the open's error stands.
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                let Ok(target) = readlinkat(at, name) else {
                    return Err(e);
                };
                if !follow {
                    // As RESOLVE_NO_SYMLINKS: any link on the way refuses the path.
                    return Err(Errno::LOOP);
                }
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::LOOP);
                }
                let target = target.as_bytes();
                match target.first() {
                    None => return Err(Errno::NOENT),
                    Some(b'/') => return Err(Errno::XDEV),
                    Some(_) => {}
                }
                // The target is resolved from the link's directory, which is still `at`.
                let mut next = Vec::with_capacity(target.len() + rest.len() - end);
                next.extend_from_slice(target);
                next.extend_from_slice(&rest[end..]);
                spliced = Some(next);
                pos = 0;
            }
            Err(e) => return Err(e),
        }
    }
    // Nothing named remains ("." or "a/.."): open the directory the walk stands in.
    let at = dirs.last().map_or(root, |d| d.as_fd());
    openat(at, b".", flags | OFlags::NOFOLLOW, shown, "")
}

/// The next name in `path` from `pos` (skipping slashes and `.`), as a range.
fn next_name(path: &[u8], mut pos: usize) -> Option<(usize, usize)> {
    loop {
        while path.get(pos) == Some(&b'/') {
            pos += 1;
        }
        if pos >= path.len() {
            return None;
        }
        let end = path[pos..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(path.len(), |i| pos + i);
        if &path[pos..end] != b"." {
            return Some((pos, end));
        }
        pos = end;
    }
}

fn openat(
    at: BorrowedFd<'_>,
    name: &[u8],
    flags: OFlags,
    shown: &str,
    extra: &str,
) -> Result<OwnedFd> {
    traced!(
        "openat",
        (
            "{}, {:?}, {shown}{extra}|O_NOFOLLOW",
            at.as_raw_fd(),
            String::from_utf8_lossy(name)
        ),
        rustix::fs::openat(at, name, flags, Mode::empty())
    )
    .map(OwnedFd::new)
}

fn readlinkat(at: BorrowedFd<'_>, name: &[u8]) -> Result<std::ffi::CString> {
    traced!(
        "readlinkat",
        ("{}, {:?}", at.as_raw_fd(), String::from_utf8_lossy(name)),
        rustix::fs::readlinkat(at, name, Vec::new())
    )
}

// The walk uses only openat and readlinkat, which Linux has too, so these tests run on
// Linux, where each answer is compared with openat2(RESOLVE_BENEATH)'s.
#[cfg(test)]
mod tests {
    use super::{next_name, open_beneath};
    use crate::sys::{AsFd, Errno};
    use rustix::fs::{Mode, OFlags};
    use std::ffi::CString;
    use std::os::unix::fs::symlink;

    fn names(p: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some((s, e)) = next_name(p, pos) {
            out.push(&p[s..e]);
            pos = e;
        }
        out
    }

    #[test]
    fn names_skip_slashes_and_dots() {
        assert_eq!(names(b"a/b/c"), [b"a", b"b", b"c"]);
        assert_eq!(names(b"./a//./b/"), [b"a", b"b"]);
        assert_eq!(names(b"a/../b"), [&b"a"[..], b"..", b"b"]);
        assert!(names(b".").is_empty());
        assert!(names(b"./").is_empty());
    }

    /// root/{f, d/{g, up -> .., out -> ../.., abs -> /etc, loop -> loop, to_g -> g,
    /// dir_link -> ., dangling -> nope, chain -> to_g}, lf -> d/g, ld -> d}; a file
    /// "secret" beside root.
    fn tree() -> std::path::PathBuf {
        let base = std::env::temp_dir().join(format!(
            "barehttpd-walk-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(base.join("secret"), b"s").unwrap();
        std::fs::write(root.join("f"), b"f").unwrap();
        std::fs::write(root.join("d/g"), b"g").unwrap();
        for (link, target) in [
            ("d/up", ".."),
            ("d/out", "../.."),
            ("d/abs", "/etc"),
            ("d/loop", "loop"),
            ("d/to_g", "g"),
            ("d/dir_link", "."),
            ("d/dangling", "nope"),
            ("d/chain", "to_g"),
            ("lf", "d/g"),
            ("ld", "d"),
        ] {
            symlink(target, root.join(link)).unwrap();
        }
        root
    }

    #[cfg(target_os = "linux")]
    fn reference(root: &rustix::fd::OwnedFd, path: &CString, follow: bool) -> Result<u64, Errno> {
        use rustix::fs::ResolveFlags;
        let links = if follow {
            ResolveFlags::empty()
        } else {
            ResolveFlags::NO_SYMLINKS
        };
        rustix::fs::openat2(
            root,
            path.as_c_str(),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
            ResolveFlags::BENEATH | links,
        )
        .and_then(|fd| rustix::fs::fstat(&fd))
        .map(|st| st.st_ino)
    }

    #[test]
    fn answers_as_resolve_beneath() {
        let root_path = tree();
        let root = rustix::fs::open(
            &root_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        let ino = |p: &str| {
            std::fs::metadata(root_path.join(p)).map(|m| {
                use std::os::unix::fs::MetadataExt;
                m.ino()
            })
        };
        let cases: &[(&str, Result<&str, Errno>)] = &[
            (".", Ok(".")),
            ("f", Ok("f")),
            ("d/g", Ok("d/g")),
            ("./d//g", Ok("d/g")),
            ("d/../f", Ok("f")),
            ("d/", Ok("d")),
            ("f/", Err(Errno::NOTDIR)),
            ("f/x", Err(Errno::NOTDIR)),
            ("missing", Err(Errno::NOENT)),
            ("..", Err(Errno::XDEV)),
            ("../secret", Err(Errno::XDEV)),
            ("d/../../secret", Err(Errno::XDEV)),
            ("/etc", Err(Errno::XDEV)),
            ("", Err(Errno::NOENT)),
            ("lf", Ok("d/g")),
            ("ld/g", Ok("d/g")),
            ("ld/", Ok("d")),
            ("d/to_g", Ok("d/g")),
            ("d/chain", Ok("d/g")),
            ("d/up/f", Ok("f")),
            ("d/up", Ok(".")),
            ("d/dir_link/dir_link/g", Ok("d/g")),
            ("d/out/secret", Err(Errno::XDEV)),
            ("d/abs", Err(Errno::XDEV)),
            ("d/abs/passwd", Err(Errno::XDEV)),
            ("d/loop", Err(Errno::LOOP)),
            ("d/dangling", Err(Errno::NOENT)),
            ("d/to_g/", Err(Errno::NOTDIR)),
            ("d/up/d/up/d/g", Ok("d/g")),
        ];
        for (path, want) in cases {
            let c = CString::new(*path).unwrap();
            let open = |follow| {
                open_beneath(
                    root.as_fd(),
                    &c,
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    "",
                    follow,
                )
                .and_then(|fd| rustix::fs::fstat(&fd))
                .map(|st| st.st_ino)
            };
            let got = open(true);
            let want = want.map(|p| ino(p).unwrap());
            assert_eq!(got, want, "{path:?}");
            #[cfg(target_os = "linux")]
            assert_eq!(
                got,
                reference(&root, &c, true),
                "{path:?} differs from openat2"
            );
            // Without following, a path through any link is refused; others answer the same.
            let through_link = path.starts_with('l')
                || [
                    "to_g", "chain", "up", "dir_link", "out", "abs", "loop", "dangling",
                ]
                .iter()
                .any(|l| path.contains(l));
            let unfollowed = open(false);
            if through_link {
                assert_eq!(unfollowed, Err(Errno::LOOP), "{path:?} without following");
            } else {
                assert_eq!(unfollowed, got, "{path:?} without following");
            }
            #[cfg(target_os = "linux")]
            assert_eq!(
                unfollowed,
                reference(&root, &c, false),
                "{path:?} without following differs from openat2"
            );
        }
        let _ = std::fs::remove_dir_all(root_path.parent().unwrap());
    }
}
