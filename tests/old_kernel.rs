//! Linux before 5.6 has no openat2: the kernel answers ENOSYS. The server must then resolve
//! paths itself (the walk of `src/sys/fs/walk.rs`) with the same answers: files served,
//! nothing outside the root reached, symlinks refused unless `--follow-symlinks` and then
//! only inside, uploads written. An older kernel is played by a seccomp filter that makes
//! openat2 (437, the same number on x86_64 and aarch64) fail with ENOSYS before the server
//! starts; Python sets it up with prctl and then becomes the server with exec.

mod common;

use common::*;
use std::process::Command;

/// prctl(PR_SET_NO_NEW_PRIVS), then a seccomp filter: openat2 -> ENOSYS, all else allowed;
/// then exec argv[1:].
const NO_OPENAT2: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
prog = [
    (0x20, 0, 0, 0),            # ld [0]: the system call number
    (0x15, 0, 1, 437),          # jeq openat2
    (0x06, 0, 0, 0x00050000 | 38),  # ret ERRNO(ENOSYS)
    (0x06, 0, 0, 0x7fff0000),   # ret ALLOW
]
code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fprog = Fprog(len(prog), ctypes.addressof(code))
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:
    sys.exit("seccomp: " + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])
"#;

fn start_without_openat2(root: &TempRoot, extra: &[&str]) -> Server {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", NO_OPENAT2]);
    cmd.args(server_argv());
    cmd.arg(&root.www);
    cmd.args(DEFAULT_FLAGS);
    cmd.args(extra);
    Server::start_command(cmd)
}

fn tree() -> TempRoot {
    let root = basic_root();
    root.file("sub/page.html", b"<p>page</p>\n");
    root.outside("secret.txt", b"TOP-SECRET\n");
    std::os::unix::fs::symlink("../secret.txt", root.www.join("out-link.txt")).unwrap();
    std::os::unix::fs::symlink("sub/page.html", root.www.join("in-link.html")).unwrap();
    root.dir("dav");
    root
}

/// RFC 9110 §9.3.1 and §17.3 without openat2: the same answers as with it.
#[test]
fn rfc9110_17_3_paths_resolve_the_same_without_openat2() {
    let root = tree();
    for follow in [false, true] {
        let flags: &[&str] = if follow {
            &["--follow-symlinks", "--write", "/dav/"]
        } else {
            &["--write", "/dav/"]
        };
        let s = start_without_openat2(&root, flags);
        let page = s.get("/sub/page.html");
        assert_eq!(
            (page.status, page.body_str().as_str()),
            (200, "<p>page</p>\n")
        );
        assert_eq!(s.get("/hello.txt").body, HELLO, "follow={follow}");
        assert_eq!(s.get("/missing.txt").status, 404, "follow={follow}");
        let out = s.get("/out-link.txt");
        assert_eq!(out.status, 404, "a link out of the root, follow={follow}");
        assert!(!out.body_str().contains("TOP-SECRET"), "follow={follow}");
        assert_eq!(
            s.get("/sub/../../secret.txt").status,
            400,
            "follow={follow}"
        );
        let inside = s.get("/in-link.html");
        if follow {
            assert_eq!(
                inside.body_str(),
                "<p>page</p>\n",
                "a link inside, followed"
            );
        } else {
            assert_eq!(inside.status, 404, "a link inside, not followed by default");
        }
        // Uploads open their directory beneath the root the same way.
        let name = format!("/dav/up-{follow}.txt");
        let r = s.request(&put_req(&name, "", b"abc"));
        assert_eq!(r.status, 201, "PUT {name}: {:?}", r.body_str());
        assert_eq!(std::fs::read(root.www.join(&name[1..])).unwrap(), b"abc");
        assert_eq!(s.get(&name).body, b"abc");
    }
}
