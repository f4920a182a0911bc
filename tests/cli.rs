//! The command line: `--help`, and start-up errors as one line on stderr with exit code 2.
//! (No RFC governs this; the rules are the project's own, stated in `src/config.rs`.)

mod common;

use common::*;

/// A start-up error: exit code 2, exactly one line on stderr, starting `barehttpd:`, naming
/// what was wrong (`mentions`), and never a panic.
fn assert_one_line_error(args: &[&str], mentions: &str) {
    let (code, stdout, stderr) = run_cli(args);
    assert_eq!(code, Some(2), "{args:?}: exit code (stderr: {stderr:?})");
    assert!(
        !stderr.contains("panicked"),
        "{args:?} panicked: {stderr:?}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: expected exactly one line on stderr, got {stderr:?}"
    );
    assert!(lines[0].starts_with("barehttpd:"), "{args:?}: {stderr:?}");
    assert!(
        lines[0].contains(mentions),
        "{args:?}: the message does not mention {mentions:?}: {stderr:?}"
    );
    assert!(stdout.is_empty(), "{args:?}: unexpected stdout {stdout:?}");
}

#[test]
fn help_exits_0_with_usage_and_examples() {
    let (code, stdout, stderr) = run_cli(&["--help"]);
    assert_eq!(code, Some(0), "stderr: {stderr:?}");
    assert!(stdout.contains("Usage:"), "{stdout}");
    assert!(stdout.contains("Examples:"), "{stdout}");
    for flag in [
        "--listen",
        "--listing",
        "--header-timeout",
        "--max-connections",
    ] {
        assert!(stdout.contains(flag), "--help does not mention {flag}");
    }
    let (code, short, _) = run_cli(&["-h"]);
    assert_eq!((code, short), (Some(0), stdout));
}

#[test]
fn unknown_flag_is_a_one_line_error() {
    let root = TempRoot::new();
    assert_one_line_error(&["--bogus", root.www.to_str().unwrap()], "--bogus");
}

#[test]
fn missing_directory_is_a_one_line_error() {
    let root = TempRoot::new();
    let missing = root.base.join("does-not-exist");
    assert_one_line_error(
        &[missing.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        "does-not-exist",
    );
}

#[test]
fn file_given_as_directory_is_a_one_line_error() {
    let root = TempRoot::new();
    let file = root.outside("plain.txt", b"not a dir\n");
    assert_one_line_error(
        &[file.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        "plain.txt",
    );
}

#[test]
fn port_in_use_is_a_one_line_error() {
    let root = TempRoot::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_one_line_error(
        &[
            root.www.to_str().unwrap(),
            "--listen",
            &addr,
            "--access-log",
            "off",
        ],
        &addr,
    );
}

#[test]
fn bad_flag_values_are_one_line_errors() {
    let root = TempRoot::new();
    let dir = root.www.to_str().unwrap();
    assert_one_line_error(&[dir, "--workers", "0"], "--workers");
    assert_one_line_error(&[dir, "--header-timeout", "soon"], "--header-timeout");
    assert_one_line_error(&[dir, "--max-connections", "-1"], "--max-connections");
    assert_one_line_error(&[dir, "--listen", "nowhere"], "--listen");
    assert_one_line_error(&[dir, "--listen"], "--listen");
    assert_one_line_error(&[dir, dir], "one DIR");
}

#[test]
fn unwritable_access_log_is_a_one_line_error() {
    let root = TempRoot::new();
    let log = root.base.join("no-such-dir/access.log");
    assert_one_line_error(
        &[
            root.www.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--access-log",
            log.to_str().unwrap(),
        ],
        "access.log",
    );
}
