//! What is shipped around the binary: the man page (`dist/barehttpd.1`) and the Debian
//! package (`dist/deb/build.sh`).
//!
//! The man page is compared with the binary's own `--help`, so that a flag cannot be added
//! without being documented. The package is built from the binary these tests run (a
//! debug build is packaged as well as the static one), inspected with `dpkg-deb` and
//! unpacked into a temporary directory, never installed: its service's command line is
//! then run from there, on temporary paths and an ephemeral loopback port. Without
//! `dpkg-deb`, or with a binary for another machine (under qemu-user), the package test
//! says so and passes.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

const MAN_PAGE: &str = include_str!("../dist/barehttpd.1");

/// Every `--long-flag` written in `text`.
fn long_flags(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let name: String = rest[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            flags.insert(format!("--{name}"));
        }
        rest = &rest[at + 2 + name.len()..];
    }
    flags
}

/// The flags the binary's `--help` lists.
fn help_flags() -> BTreeSet<String> {
    let (code, help, stderr) = run_cli(&["--help"]);
    assert_eq!(code, Some(0), "--help: {stderr}");
    long_flags(&help)
}

#[test]
fn every_flag_of_help_is_in_the_man_page() {
    let flags = help_flags();
    assert!(
        flags.len() > 30,
        "too few flags read from --help: {flags:?}"
    );
    // roff writes a hyphen that must not be broken or made a dash as `\-`.
    let man = long_flags(&MAN_PAGE.replace("\\-", "-"));
    let missing: Vec<&String> = flags.difference(&man).collect();
    assert!(
        missing.is_empty(),
        "dist/barehttpd.1 does not document {missing:?}, which --help lists"
    );
}

/// Run `cmd` to completion; its stdout, or a panic with its stderr.
fn output(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the server binary is linked dynamically: a 64-bit little-endian ELF file with
/// a program header of type PT_INTERP (a static or static-pie build has none).
fn dynamically_linked(bin: &str) -> bool {
    const PT_INTERP: u32 = 3;
    let elf = std::fs::read(bin).expect("read the server binary");
    let num = |at: usize, len: usize| {
        elf.get(at..at + len).map_or(0, |b| {
            b.iter().rev().fold(0usize, |n, &x| n << 8 | x as usize)
        })
    };
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let (phoff, phentsize, phnum) = (num(0x20, 8), num(0x36, 2), num(0x38, 2));
    (0..phnum).any(|i| num(phoff + i * phentsize, 4) == PT_INTERP as usize)
}

/// The files the package installs, as `dpkg-deb -c` lists them (directories left out).
const PACKAGE_FILES: [&str; 12] = [
    "etc/barehttpd/barehttpd.toml",
    "lib/systemd/system/barehttpd-https.socket",
    "lib/systemd/system/barehttpd.service",
    "lib/systemd/system/barehttpd.socket",
    "usr/bin/barehttpd",
    "usr/share/doc/barehttpd/README.md.gz",
    "usr/share/doc/barehttpd/README.systemd.md.gz",
    "usr/share/doc/barehttpd/changelog.Debian.gz",
    "usr/share/doc/barehttpd/copyright",
    "usr/share/doc/barehttpd/examples/barehttpd.toml",
    "usr/share/lintian/overrides/barehttpd",
    "usr/share/man/man1/barehttpd.1.gz",
];

#[test]
fn the_package_holds_its_files_and_its_service_serves() {
    for program in ["dpkg-deb", "dpkg", "gzip"] {
        if !have(program) {
            eprintln!("skipped: {program} is not installed, so no Debian package is built");
            return;
        }
    }
    if emulated() {
        // dpkg-shlibdeps would look for the other architecture's libraries among this
        // machine's packages, and the package would be labelled with this machine's.
        eprintln!(
            "skipped: the server binary is for another machine (it runs under {runner:?})",
            runner = runner()
        );
        return;
    }
    if dynamically_linked(bin()) && !have("dpkg-shlibdeps") {
        eprintln!(
            "skipped: {} is linked dynamically and dpkg-shlibdeps (dpkg-dev) is not installed to find its Depends",
            bin()
        );
        return;
    }
    let tmp = TempRoot::new();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));

    // Build: the script prints the package's path last.
    let printed = output(
        Command::new("bash")
            .arg(manifest.join("dist/deb/build.sh"))
            .arg(bin())
            .arg(tmp.base.join("out"))
            .env("DEB_COMPRESS", "none"),
    );
    let deb = printed
        .lines()
        .last()
        .expect("build.sh printed the package");
    assert!(
        deb.ends_with(".deb") && Path::new(deb).is_file(),
        "{printed}"
    );

    // Control fields (Debian policy §5.3).
    let field = |name: &str| output(Command::new("dpkg-deb").args(["-f", deb, name]));
    assert_eq!(field("Package").trim(), "barehttpd");
    let version = field("Version");
    assert!(
        version.starts_with(&format!("{}-", env!("CARGO_PKG_VERSION"))),
        "Version: {version}"
    );
    assert_eq!(field("Section").trim(), "httpd");
    assert_eq!(field("Priority").trim(), "optional");
    let arch = output(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(field("Architecture").trim(), arch.trim());
    assert!(field("Maintainer").contains('@'));
    assert!(field("Description").lines().count() > 2);
    let depends = field("Depends");
    if dynamically_linked(bin()) {
        assert!(depends.contains("libc6"), "Depends: {depends:?}");
    } else {
        assert!(
            depends.trim().is_empty(),
            "a static binary needs nothing: {depends:?}"
        );
    }
    let conffiles = output(Command::new("dpkg-deb").args(["-I", deb, "conffiles"]));
    assert_eq!(conffiles.trim(), "/etc/barehttpd/barehttpd.toml");

    // The file list, every file owned by root.
    let listing = output(Command::new("dpkg-deb").args(["-c", deb]));
    let mut files = BTreeSet::new();
    for line in listing.lines() {
        assert!(line.contains(" root/root "), "not owned by root: {line}");
        let path = line.rsplit(' ').next().unwrap().trim_start_matches("./");
        if !line.starts_with('d') {
            files.insert(path.to_string());
        }
    }
    let expected: BTreeSet<String> = PACKAGE_FILES.iter().map(|f| f.to_string()).collect();
    assert_eq!(files, expected, "the package's files");

    // The maintainer scripts are shell that parses.
    let control = tmp.base.join("control");
    output(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control));
    for script in ["postinst", "prerm", "postrm"] {
        output(Command::new("sh").arg("-n").arg(control.join(script)));
    }

    // Unpacked: the binary is the one given, the man page the one in dist/.
    let root = tmp.base.join("root");
    output(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root));
    assert!(
        std::fs::read(root.join("usr/bin/barehttpd")).unwrap() == std::fs::read(bin()).unwrap(),
        "usr/bin/barehttpd is not the binary given to build.sh"
    );
    let man = output(
        Command::new("gzip")
            .arg("-dc")
            .arg(root.join("usr/share/man/man1/barehttpd.1.gz")),
    );
    assert_eq!(man, MAN_PAGE);

    // The service's command line, from the unit the package installs.
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/barehttpd.service")).unwrap();
    let exec_starts: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.trim_start_matches('#').strip_prefix("ExecStart="))
        .collect();
    let active = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("barehttpd.service has an ExecStart");
    assert_eq!(
        active,
        "/usr/bin/barehttpd --config /etc/barehttpd/barehttpd.toml"
    );
    let known = help_flags();
    assert!(known.contains("--check-config"), "{known:?}");
    // The shipped configuration, its site moved from /var/www/html (which the postinst
    // makes) to a temporary folder, is valid and serves: the unit's own command line.
    let conf = std::fs::read_to_string(root.join("etc/barehttpd/barehttpd.toml")).unwrap();
    assert!(conf.contains("root = \"/var/www/html\""), "{conf}");
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(
        postinst.contains("mkdir -p /var/www/html"),
        "the postinst makes the site's folder (not shipped: Debian policy)"
    );
    let state_dir = tmp.base.join("state-conf");
    let conf = conf
        .replace("/var/www/html", tmp.www.to_str().unwrap())
        .replace("/var/lib/barehttpd", state_dir.to_str().unwrap());
    let conf_path = tmp.outside("barehttpd.toml", conf.as_bytes());
    let (code, _, stderr) = run_cli(&["--check-config", conf_path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "the shipped configuration: {stderr}");
    tmp.file("hello.txt", HELLO);
    let mut cmd = Command::new(root.join("usr/bin/barehttpd"));
    cmd.args([
        "--config",
        conf_path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let server = Server::start_command(cmd);
    let resp = server.get("/hello.txt");
    assert_eq!(
        resp.status, 200,
        "{active} (site in a temporary folder): {resp:?}"
    );
    drop(server);
    // Served: the unit's alternative with the site as flags, since the configuration
    // file names its site by a system path (the file is checked above, once the binary
    // has --check-config).
    let runnable = exec_starts
        .iter()
        .find(|line| !line.contains("--config") && long_flags(line).is_subset(&known))
        .expect("an ExecStart line with the site as flags that this binary knows");
    let state = tmp.base.join("state");
    std::fs::create_dir(&state).unwrap();
    let mut args: Vec<String> = runnable
        .split_whitespace()
        .skip(1)
        .map(|word| match word {
            "${STATE_DIRECTORY}" => state.to_str().unwrap().to_string(),
            "/srv/www" => tmp.www.to_str().unwrap().to_string(),
            w => w.to_string(),
        })
        .collect();
    // systemd would pass the sockets; here the server binds an ephemeral loopback port.
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let mut cmd = Command::new(root.join("usr/bin/barehttpd"));
    cmd.args(&args);
    let server = Server::start_command(cmd);
    let resp = server.get("/hello.txt");
    assert_eq!(resp.status, 200, "{runnable}: {resp:?}");
    assert_eq!(resp.body, HELLO);
}
