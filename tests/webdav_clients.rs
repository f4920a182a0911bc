//! Real WebDAV clients against the real binary over loopback: rclone (its webdav backend,
//! vendor "other") copies a tree up, moves and renames it on the server, and syncs it back
//! down byte for byte; cadaver, scripted, locks, writes, unlocks, makes a collection, moves,
//! and sets and reads a property. Each is skipped, saying so, where the client is missing
//! (`.ci/run` installs both; under CI=true a missing one is a failure).

#![cfg(feature = "dav")]

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn present(program: &str) -> bool {
    if have(program) {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{program} is not installed (.ci/run installs it)"
    );
    eprintln!("SKIPPED: {program} is not installed (apt-get install {program})");
    false
}

/// Every file under `dir`, by its path relative to `dir`, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_str().unwrap().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Run `cmd` bounded in time; its combined output, and whether it succeeded.
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run a client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn rclone_round_trips_a_tree_byte_for_byte() {
    if !present("rclone") {
        return;
    }
    let root = basic_root();
    root.dir("dav");
    let s = Server::start(&root.www, &["--write", "/dav/"]);
    let up = root.base.join("up");
    let files: &[(&str, Vec<u8>)] = &[
        ("big five MiB.bin", pattern(5 << 20, 1)),
        ("plain.txt", b"plain text\n".to_vec()),
        ("zeros and ff.bin", vec![0, 0, 255, 0, 1, 2, 255]),
        ("sub dir/naïve café.txt", "ünïcödé ✓\n".as_bytes().to_vec()),
        ("sub dir/数据/ファイル.bin", pattern(70_000, 2)),
        ("sub dir/empty", Vec::new()),
    ];
    for (name, data) in files {
        let p = up.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    let url = format!("http://{}/", s.addr());
    let secs = scaled(Duration::from_secs(120)).as_secs().to_string();
    let rclone = |args: &[&str]| {
        let mut c = Command::new("timeout");
        c.arg(&secs)
            .arg("rclone")
            .args(args)
            .args(["--webdav-url", &url, "--webdav-vendor", "other"])
            .env("RCLONE_CONFIG", root.base.join("rclone.conf"));
        let (ok, text) = run(&mut c);
        assert!(ok, "rclone {args:?}:\n{text}");
        text
    };
    rclone(&["copy", up.to_str().unwrap(), ":webdav:dav/tree"]);
    assert_eq!(
        tree(&root.www.join("dav/tree")),
        tree(&up),
        "uploaded as sent"
    );
    // Renames on the server (MOVE, server-side), mirrored on the local copy.
    let out = rclone(&[
        "moveto",
        "-v",
        ":webdav:dav/tree/big five MiB.bin",
        ":webdav:dav/tree/sub dir/große Datei.bin",
    ]);
    assert!(out.contains("server-side"), "a MOVE, not a copy: {out}");
    std::fs::rename(
        up.join("big five MiB.bin"),
        up.join("sub dir/große Datei.bin"),
    )
    .unwrap();
    let out = rclone(&[
        "moveto",
        "-v",
        ":webdav:dav/tree/sub dir",
        ":webdav:dav/tree/renamed dir",
    ]);
    assert!(out.contains("Server side directory move"), "{out}");
    std::fs::rename(up.join("sub dir"), up.join("renamed dir")).unwrap();
    let down = root.base.join("down");
    rclone(&["sync", ":webdav:dav/tree", down.to_str().unwrap()]);
    let (want, got) = (tree(&up), tree(&down));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    assert!(want == got, "the tree came back changed");
    assert_eq!(got["renamed dir/große Datei.bin"].len(), 5 << 20);
}

#[test]
fn cadaver_locks_writes_moves_and_sets_properties() {
    if !present("cadaver") {
        return;
    }
    let root = basic_root();
    root.dir("dav");
    let local = root.file("local.txt", b"from cadaver\n");
    let s = Server::start(&root.www, &["--write", "/dav/"]);
    let url = format!("http://{}/dav/", s.addr());
    let secs = scaled(Duration::from_secs(60)).as_secs().to_string();
    let cadaver = |script: &str| {
        let path = root.base.join("script");
        std::fs::write(&path, script).unwrap();
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "timeout {secs} cadaver '{url}' < '{}'",
                path.display()
            ))
            // No ~/.netrc or ~/.cadaverrc of the user running the tests.
            .env("HOME", &root.base);
        let (_, text) = run(&mut c);
        text
    };
    let l = local.display();
    let out = cadaver(&format!(
        "lock one.txt\nput {l} one.txt\nshowlocks\nunlock one.txt\nmkcol coll\nmove one.txt coll/moved.txt\npropset coll/moved.txt color blue\npropget coll/moved.txt color\nls coll\nquit\n"
    ));
    for want in [
        "Locking `one.txt': succeeded",
        "Uploading",
        "Lock token <urn:uuid:",
        "Scope: exclusive",
        "Unlocking `one.txt': succeeded",
        "Creating `coll': succeeded",
        "to `/dav/coll/moved.txt':  succeeded",
        "Setting property on `coll/moved.txt': succeeded",
        "Value of color is: blue",
        "moved.txt",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    assert!(!out.contains("failed"), "{out}");
    assert_eq!(
        std::fs::read(root.www.join("dav/coll/moved.txt")).unwrap(),
        b"from cadaver\n"
    );
    assert!(!root.www.join("dav/one.txt").exists());
    // A lock cadaver leaves held keeps others out (423) and its own write in.
    let out = cadaver(&format!("lock two.txt\nput {l} two.txt\nquit\n"));
    assert!(out.contains("Locking `two.txt': succeeded"), "{out}");
    let r = s.request(&put_req("/dav/two.txt", "", b"someone else"));
    assert_eq!(r.status, 423);
    assert_eq!(
        std::fs::read(root.www.join("dav/two.txt")).unwrap(),
        b"from cadaver\n"
    );
}

/// Unmounts on drop, so that a failed assertion leaves no mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// davfs2, where this machine lets it mount (root, /dev/fuse, mount.davfs installed; skipped
/// otherwise): files copied in, renamed and read back through the kernel are the server's,
/// byte for byte, after an unmount and a fresh mount. `buf_size 64`: davfs2 1.6 and Linux
/// 6.16 or later need it to list a directory (its default buffer gives EINVAL).
#[test]
fn davfs2_mount_writes_renames_and_reads_back() {
    let can = have("mount.davfs")
        && Path::new("/dev/fuse").exists()
        && std::fs::metadata("/proc/self").is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        });
    if !can {
        eprintln!("SKIPPED: davfs2 cannot mount here (needs root, /dev/fuse and mount.davfs)");
        return;
    }
    let root = basic_root();
    root.dir("dav");
    let s = Server::start(&root.www, &["--write", "/dav/"]);
    let conf = root.file("davfs2.conf", b"buf_size 64\ndelay_upload 0\n");
    let mnt = root.dir("mnt");
    let secs = scaled(Duration::from_secs(60)).as_secs().to_string();
    let mount = || {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!(
            "printf '\\n\\n' | timeout {secs} mount -t davfs -o conf={} http://{}/dav/ {}",
            conf.display(),
            s.addr(),
            mnt.display()
        ));
        let (ok, text) = run(&mut c);
        if !ok {
            return None;
        }
        Some((Mounted(mnt.clone()), text))
    };
    let Some((m, _)) = mount() else {
        eprintln!("SKIPPED: mount -t davfs failed here");
        return;
    };
    let big = pattern(3 << 20, 7);
    std::fs::create_dir(mnt.join("dossier été")).unwrap();
    std::fs::write(mnt.join("dossier été/big.bin"), &big).unwrap();
    std::fs::write(mnt.join("note.txt"), b"note\n").unwrap();
    std::fs::rename(
        mnt.join("note.txt"),
        mnt.join("dossier été/note renamed.txt"),
    )
    .unwrap();
    let mut names: Vec<String> = std::fs::read_dir(mnt.join("dossier été"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["big.bin", "note renamed.txt"]);
    // umount waits for davfs2 to upload what it holds.
    let (ok, text) = run(Command::new("timeout").args([&secs, "umount"]).arg(&mnt));
    assert!(ok, "{text}");
    std::mem::forget(m);
    let on_server = root.www.join("dav/dossier été");
    assert_eq!(std::fs::read(on_server.join("big.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read(on_server.join("note renamed.txt")).unwrap(),
        b"note\n"
    );
    // A fresh mount reads what the server has.
    let (_m, _) = mount().expect("mount again");
    assert_eq!(std::fs::read(mnt.join("dossier été/big.bin")).unwrap(), big);
}
