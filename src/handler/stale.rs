//! Temporary upload files that a killed server left behind, removed at start-up.
//!
//! A PUT body goes to `.barehttpd-upload-PID-SEQ` beside its target (`upload`), and the
//! upload removes that file on every failure path, but it cannot when the process dies
//! (SIGKILL, the OOM killer, a power cut): the file then stays, never served, listed or
//! writable, and keeps its space. Before the server serves, `sweep` walks the directory tree
//! of each `--write` prefix and removes the files whose process is gone (kill(pid, 0) answers
//! ESRCH), and those named with this server's own id, which an earlier process with the same
//! id left: this one has not written anything yet. A file whose process exists is left
//! alone, since another barehttpd serving the same folder may be writing it; so is one whose
//! id the kernel has since given to some other process (a later start removes it).
//!
//! The walk goes breadth first from each prefix's directory (opened beneath the root as
//! uploads open it), the most specific prefix first, through no symlink: every directory
//! below is opened beneath the prefix's with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, even with
//! `--follow-symlinks`, and a directory a link points to is visited, if it is beneath the
//! prefix, under its own name. No directory is walked twice (one prefix inside another's
//! tree). It enters dot-directories only with `--dotfiles` (without, no upload can land
//! there), and stops after `MAX_ENTRIES` names. It removes only regular files with names
//! `names::temp_name` makes; nothing else in the tree is touched, and nothing it cannot open
//! or remove stops the start.
//!
//! It also removes resumable uploads' staging files (`staging`, `names::is_part`) untouched
//! for `staging::STALE_SECS`, whoever wrote them: a younger one stays for its client to
//! resume, across this restart.
//!
//! What it cannot see: servers in another PID namespace (another container) that share the
//! folder. Their processes do not exist for this one, and their uploads in progress would
//! be removed; servers that share a folder must share the PID namespace (README, Uploads).

use super::{names, staging};
use crate::sys::{self, BorrowedFd, OwnedFd, fs};
use std::collections::{HashSet, VecDeque};
use std::ffi::CString;

/// Names looked at (files and directories, all prefixes together) before the walk stops:
/// from the page cache that is under 0.1 s (90 ms for 1000 directories of 100 files, debug
/// build), so a huge tree under `--write` (a whole disk under `--write /`) does not hold up
/// the start. Uploads land where clients put files, mostly near the top, which a
/// breadth-first walk reaches first.
const MAX_ENTRIES: usize = 100_000;

/// What a sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub files: u64,
    /// Their sizes, together.
    pub bytes: u64,
    /// The walk stopped at `MAX_ENTRIES`: more may remain further down.
    pub cut_short: bool,
}

impl Swept {
    /// The line for stderr, if there is anything to say.
    pub fn report(&self) -> Option<String> {
        let further = format!("the first {MAX_ENTRIES} names only, more may remain further down");
        let line = match (self.files, self.cut_short) {
            (0, false) => return None,
            (0, true) => format!(
                "looked for temporary upload files that stopped servers left under the \
                 --write folders in {further}"
            ),
            (n, _) => {
                let s = if n == 1 { "" } else { "s" };
                let mut line = format!(
                    "removed {n} temporary upload file{s} ({} bytes) that stopped servers left \
                     under the --write folders",
                    self.bytes
                );
                if self.cut_short {
                    line.push_str(&format!("; looked at {further}"));
                }
                line
            }
        };
        Some(line)
    }
}

/// Remove the temporary upload files of processes gone, and of `own_pid` (this process at
/// its start, which has not begun an upload yet; `None` at a reload, when the files with
/// this process's id are its uploads in progress), below each of the `write` prefixes (as
/// in Config: "/dav/") of the tree at `root`.
pub fn sweep(
    root: BorrowedFd<'_>,
    write: &[String],
    dotfiles: bool,
    own_pid: Option<u32>,
) -> Swept {
    sweep_at_most(root, write, dotfiles, own_pid, MAX_ENTRIES)
}

fn sweep_at_most(
    root: BorrowedFd<'_>,
    write: &[String],
    dotfiles: bool,
    own_pid: Option<u32>,
    max_entries: usize,
) -> Swept {
    let mut s = Sweep {
        own_pid,
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        dotfiles,
        budget: max_entries,
        verdicts: Vec::new(),
        visited: HashSet::new(),
        swept: Swept::default(),
    };
    // The most specific first: its tree is smaller and more likely where uploads go, should
    // the walk stop early; the trees around it skip it then.
    let mut prefixes: Vec<&str> = write.iter().map(String::as_str).collect();
    prefixes.sort_by_key(|p| (std::cmp::Reverse(p.len()), *p));
    prefixes.dedup();
    for prefix in prefixes {
        // "/dav/" is the directory "dav", "/" the root itself.
        let dir = match prefix.trim_matches('/') {
            "" => ".",
            d => d,
        };
        let Ok(dir) = CString::new(dir) else {
            continue;
        };
        if let Ok(top) = fs::open_dir_beneath(root, &dir) {
            s.walk(&top);
        }
        if s.swept.cut_short {
            break;
        }
    }
    s.swept
}

struct Sweep {
    own_pid: Option<u32>,
    /// The time now, in seconds since the epoch: staging files older than
    /// `staging::STALE_SECS` go.
    now: i64,
    dotfiles: bool,
    /// Names still to look at.
    budget: usize,
    /// Processes asked about: (pid, whether its files are to go).
    verdicts: Vec<(u32, bool)>,
    /// Directories walked, by (device, inode).
    visited: HashSet<(u64, u64)>,
    swept: Swept,
}

impl Sweep {
    /// Walk the tree below `top`, breadth first.
    fn walk(&mut self, top: &OwnedFd) {
        // Directories to visit, as paths relative to `top`; `None` is `top` itself.
        let mut queue: VecDeque<Option<Vec<u8>>> = VecDeque::from([None]);
        while let Some(rel) = queue.pop_front() {
            let opened;
            let dir = match &rel {
                None => top,
                Some(path) => {
                    let Ok(path) = CString::new(path.as_slice()) else {
                        continue;
                    };
                    match fs::open_dir_beneath_nofollow(top, &path) {
                        Ok(fd) => {
                            opened = fd;
                            &opened
                        }
                        // Gone, unreadable, a link swapped in: nothing to sweep there.
                        Err(_) => continue,
                    }
                }
            };
            if let Ok(st) = fs::fstat(dir)
                && !self.visited.insert((st.st_dev, st.st_ino))
            {
                continue;
            }
            let limit = self.budget.saturating_add(1);
            let mut names: Vec<(Vec<u8>, Option<bool>)> = Vec::new();
            let read = fs::read_dir(dir, |name, is_dir| {
                names.push((name.to_vec(), is_dir));
                names.len() < limit
            });
            if read.is_err() {
                continue;
            }
            if names.len() > self.budget {
                names.truncate(self.budget);
                self.swept.cut_short = true;
            }
            self.budget -= names.len();
            for (name, is_dir) in names {
                if let Some(pid) = names::temp_pid(&name) {
                    if is_dir != Some(true) && self.stale(pid) {
                        self.remove(dir, name, None);
                    }
                } else if names::is_part(&name) {
                    if is_dir != Some(true) {
                        self.remove(dir, name, Some(self.now));
                    }
                } else if self.enters(dir, &name, is_dir) {
                    let mut path = rel.clone().unwrap_or_default();
                    if !path.is_empty() {
                        path.push(b'/');
                    }
                    path.extend_from_slice(&name);
                    queue.push_back(Some(path));
                }
            }
            if self.swept.cut_short {
                return;
            }
        }
    }

    /// Whether the walk goes into `name` in `dir`: a directory (not a link to one), and not
    /// a dot-directory unless `--dotfiles`.
    fn enters(&self, dir: &OwnedFd, name: &[u8], is_dir: Option<bool>) -> bool {
        if names::hidden_name(name, self.dotfiles) {
            return false;
        }
        match is_dir {
            Some(d) => d,
            // The entry does not say (or is a symlink): ask without following it.
            None => CString::new(name)
                .ok()
                .and_then(|n| fs::lstat_in(dir, &n).ok())
                .is_some_and(|st| {
                    fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory
                }),
        }
    }

    /// Whether the files of process `pid` are to go: it is this process, or gone.
    fn stale(&mut self, pid: u32) -> bool {
        if let Some(&(_, v)) = self.verdicts.iter().find(|(p, _)| *p == pid) {
            return v;
        }
        let v = Some(pid) == self.own_pid || !sys::process_exists(pid);
        self.verdicts.push((pid, v));
        v
    }

    /// Remove `name` from `dir` if it is a regular file (not a link or anything else that
    /// has taken the name) and, with `stale_at` (a staging file's: the time now), one
    /// untouched for `staging::STALE_SECS`; and count it.
    fn remove(&mut self, dir: &OwnedFd, name: Vec<u8>, stale_at: Option<i64>) {
        let Ok(name) = CString::new(name) else {
            return;
        };
        let Ok(st) = fs::lstat_in(dir, &name) else {
            return;
        };
        if fs::FileType::from_raw_mode(st.st_mode) != fs::FileType::RegularFile {
            return;
        }
        if stale_at.is_some_and(|now| !staging::is_stale(st.st_mtime, now)) {
            return;
        }
        if fs::unlink_in(dir, &name, false).is_ok() {
            self.swept.files += 1;
            self.swept.bytes += u64::try_from(st.st_size).unwrap_or(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::AsFd;
    use std::path::{Path, PathBuf};

    /// A fresh directory for one test.
    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("barehttpd-stale-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The id of a process that has exited and been collected.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn temp(dir: &Path, rel: &str, pid: u32, seq: u64, len: usize) -> PathBuf {
        let name = String::from_utf8(names::temp_name(pid, seq)).unwrap();
        let p = dir.join(rel).join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![b'x'; len]).unwrap();
        p
    }

    fn run(root: &Path, write: &[&str], dotfiles: bool, own: u32, max: usize) -> Swept {
        let fd = fs::open_root(root).unwrap();
        let write: Vec<String> = write.iter().map(|s| s.to_string()).collect();
        sweep_at_most(fd.as_fd(), &write, dotfiles, Some(own), max)
    }

    #[test]
    fn removes_files_of_processes_gone_and_its_own_and_nothing_else() {
        let root = scratch("basic");
        let (dead, live, own) = (dead_pid(), std::process::id(), dead_pid());
        let gone = [
            temp(&root, "dav", dead, 0, 10),
            temp(&root, "dav/a/b", dead, 1, 20),
            temp(&root, "dav", own, 7, 5),
        ];
        let kept = [
            temp(&root, "dav", live, 0, 1),
            temp(&root, "dav/a", live, 1, 1),
            // Outside the write prefix.
            temp(&root, "other", dead, 2, 1),
            // In a dot-directory, where no upload lands without --dotfiles.
            temp(&root, "dav/.git", dead, 3, 1),
        ];
        std::fs::write(root.join("dav/note.txt"), b"note").unwrap();
        std::fs::write(root.join("dav/.barehttpd-upload-x"), b"not ours to judge").unwrap();
        std::fs::create_dir(root.join("dav").join(format!(".barehttpd-upload-{dead}-9"))).unwrap();
        let swept = run(&root, &["/dav/"], false, own, MAX_ENTRIES);
        assert_eq!(
            swept,
            Swept {
                files: 3,
                bytes: 35,
                cut_short: false
            }
        );
        assert!(gone.iter().all(|p| !p.exists()), "{gone:?}");
        assert!(kept.iter().all(|p| p.exists()), "{kept:?}");
        assert!(root.join("dav/note.txt").exists());
        assert!(root.join("dav/.barehttpd-upload-x").exists());
        assert!(
            root.join(format!("dav/.barehttpd-upload-{dead}-9"))
                .is_dir()
        );
        // With --dotfiles, uploads can land in dot-directories: those are swept too.
        let swept = run(&root, &["/dav/"], true, own, MAX_ENTRIES);
        assert_eq!(swept.files, 1);
        assert!(!kept[3].exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Staging files of resumable uploads go when untouched for `staging::STALE_SECS`, by
    /// their mtime; younger ones stay for their clients to resume.
    #[test]
    fn removes_stale_staging_files_only() {
        let root = scratch("parts");
        std::fs::create_dir_all(root.join("dav/a")).unwrap();
        let part = |rel: &str, name: &[u8], age: i64| {
            let n = staging::part_name(name, 5);
            let p = root
                .join(rel)
                .join(std::str::from_utf8(n.to_bytes()).unwrap());
            std::fs::write(&p, b"12345").unwrap();
            let t = std::time::SystemTime::now() - std::time::Duration::from_secs(age as u64);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
            p
        };
        let old = part("dav/a", b"old", staging::STALE_SECS + 60);
        let young = part("dav", b"young", staging::STALE_SECS - 60);
        let swept = run(&root, &["/dav/"], false, dead_pid(), MAX_ENTRIES);
        assert_eq!((swept.files, swept.bytes), (1, 5));
        assert!(!old.exists());
        assert!(young.exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn follows_no_symlink() {
        let root = scratch("links");
        let dead = dead_pid();
        let outside = temp(&root, "outside", dead, 0, 1);
        let target = temp(&root, "dav/real", dead, 1, 1);
        std::os::unix::fs::symlink("../outside", root.join("dav/out")).unwrap();
        std::os::unix::fs::symlink("real", root.join("dav/again")).unwrap();
        // A link with a temporary file's name is removed by no one.
        let link = root.join("dav").join(format!(".barehttpd-upload-{dead}-5"));
        std::os::unix::fs::symlink("../outside/keep", &link).unwrap();
        std::fs::write(root.join("outside/keep"), b"keep").unwrap();
        let swept = run(&root, &["/dav/"], false, 0, MAX_ENTRIES);
        assert_eq!(swept.files, 1, "only dav/real's file, once");
        assert!(!target.exists());
        assert!(outside.exists());
        assert!(std::fs::symlink_metadata(&link).is_ok());
        assert!(root.join("outside/keep").exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn nested_and_root_prefixes_are_walked_once() {
        let root = scratch("nested");
        let dead = dead_pid();
        temp(&root, "", dead, 0, 1);
        for i in 0..10 {
            temp(&root, "dav/deep", std::process::id(), i, 1);
        }
        let deep = temp(&root, "dav/deep", dead, 10, 1);
        // dav holds 1 name, dav/deep 11: 12 names in all, each looked at once, whichever
        // order the prefixes come in.
        for write in [["/dav/", "/dav/deep/"], ["/dav/deep/", "/dav/"]] {
            let swept = run(&root, &write, false, 0, 12);
            assert!(!swept.cut_short, "{write:?}");
        }
        assert!(!deep.exists());
        let swept = run(&root, &["/dav/", "/", "/dav/"], false, 0, 14);
        assert_eq!(
            (swept.files, swept.cut_short),
            (1, false),
            "the root's own file; the root holds 2 names"
        );
        // A prefix whose directory does not exist is no error.
        assert_eq!(
            run(&root, &["/none/"], false, 0, MAX_ENTRIES),
            Swept::default()
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_walk_stops_after_max_entries_nearest_first() {
        let root = scratch("bound");
        let dead = dead_pid();
        let near = temp(&root, "dav", dead, 0, 1);
        for i in 0..5 {
            std::fs::create_dir_all(root.join(format!("dav/d{i}/e"))).unwrap();
        }
        let far = temp(&root, "dav/d0/e", dead, 1, 1);
        // dav holds 6 names, each d* one: the walk stops in the second level.
        let swept = run(&root, &["/dav/"], false, 0, 8);
        assert!(swept.cut_short);
        assert_eq!(swept.files, 1);
        assert!(!near.exists() && far.exists());
        let line = swept.report().unwrap();
        assert!(
            line.contains("removed 1 temporary upload file (1 bytes)"),
            "{line}"
        );
        assert!(line.contains("first 100000 names"), "{line}");
        let none_but_cut = Swept {
            cut_short: true,
            ..Swept::default()
        };
        let line = none_but_cut.report().unwrap();
        assert!(
            line.starts_with("looked for temporary upload files"),
            "{line}"
        );
        // With room enough, the whole tree.
        let swept = run(&root, &["/dav/"], false, 0, 100);
        assert_eq!((swept.files, swept.cut_short), (1, false));
        assert!(!far.exists());
        assert_eq!(swept.report(), Some(
            "removed 1 temporary upload file (1 bytes) that stopped servers left under the --write folders".to_string()
        ));
        assert_eq!(Swept::default().report(), None);
        let _ = std::fs::remove_dir_all(&root);
    }
}
