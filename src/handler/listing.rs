//! Directory listings, HTML or JSON: folders first, then files, each sorted by name, with
//! sizes in KiB/MiB and modification dates, a parent link, and a layout that reads well on a
//! phone. Names are HTML-escaped and links percent-encoded, so no file name can inject markup.
//!
//! A leaf renderer: it reads the directory it is given and returns the body. It imports no
//! handler; whether a directory is listed at all, its index file, the answer's headers and
//! validators are `static_file`'s. Names never served (`names::hidden_name`) are not listed.

use super::error::Error;
use super::names;
use crate::http::target::encode_path;
use crate::sys::{AsFd, BorrowedFd, fs};
use std::ffi::CString;

struct Entry {
    name: Vec<u8>,
    is_dir: bool,
    size: u64,
    mtime: u64,
}

/// Render the listing of the open directory `dir`, whose URL path (decoded) is `path`, below
/// the document root `root`.
pub fn render(
    root: BorrowedFd,
    dir: impl AsFd,
    path: &[u8],
    dotfiles: bool,
    json: bool,
) -> Result<Vec<u8>, Error> {
    let dir = dir.as_fd();
    let mut entries = Vec::new();
    for (name, is_dir) in fs::read_dir(dir)? {
        if names::hidden_name(&name, dotfiles) {
            continue;
        }
        let Ok(cname) = CString::new(name.clone()) else {
            continue;
        };
        let (size, mtime, stat_dir) = match status_as_served(root, dir, path, &cname) {
            Ok(st) => (
                st.st_size.max(0) as u64,
                st.st_mtime.max(0) as u64,
                fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory,
            ),
            // GET would answer 404: not listed, as if absent.
            Err(e) if e.status() == 404 => continue,
            // GET would refuse it otherwise (403...): listed, without size or date.
            Err(_) => (0, 0, is_dir.unwrap_or(false)),
        };
        entries.push(Entry {
            name,
            is_dir: stat_dir,
            size,
            mtime,
        });
    }
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    if json {
        return Ok(render_json(path, &entries));
    }

    let mut h = Vec::with_capacity(1024 + entries.len() * 200);
    let title = String::from_utf8_lossy(path);
    h.extend_from_slice(b"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    h.extend_from_slice(b"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Index of ");
    escape_html(&mut h, title.as_bytes());
    h.extend_from_slice(STYLE.as_bytes());
    h.extend_from_slice(b"</head><body>\n<h1>Index of ");
    escape_html(&mut h, title.as_bytes());
    h.extend_from_slice(b"</h1>\n<table>\n<thead><tr><th>Name</th><th class=\"s\">Size</th><th class=\"d\">Modified</th></tr></thead>\n<tbody>\n");
    if path != b"/" {
        h.extend_from_slice(b"<tr><td><a href=\"../\">&#8617; Parent directory</a></td><td class=\"s\"></td><td class=\"d\"></td></tr>\n");
    }
    for e in &entries {
        h.extend_from_slice(b"<tr><td><a href=\"./");
        let mut href = Vec::with_capacity(e.name.len() * 3);
        encode_path(&e.name, &mut href);
        // A leading "./" keeps a name such as "a:b" from reading as a URL scheme.
        escape_html(&mut h, &href);
        if e.is_dir {
            h.push(b'/');
        }
        h.extend_from_slice(if e.is_dir {
            b"\" class=\"dir\">"
        } else {
            b"\">"
        });
        escape_html(&mut h, String::from_utf8_lossy(&e.name).as_bytes());
        if e.is_dir {
            h.push(b'/');
        }
        h.extend_from_slice(b"</a></td><td class=\"s\">");
        if e.is_dir {
            h.extend_from_slice(b"&mdash;");
        } else {
            h.extend_from_slice(human_size(e.size).as_bytes());
        }
        h.extend_from_slice(b"</td><td class=\"d\">");
        h.extend_from_slice(crate::http::date::short(e.mtime).as_bytes());
        h.extend_from_slice(b"</td></tr>\n");
    }
    h.extend_from_slice(b"</tbody></table>\n<footer>");
    let n = entries.len();
    h.extend_from_slice(format!("{n} item{}", if n == 1 { "" } else { "s" }).as_bytes());
    h.extend_from_slice(b" &middot; barehttpd</footer>\n</body></html>\n");
    Ok(h)
}

/// The status of the entry `name` of `dir` (URL `dir_path`) as GET would see it: the entry
/// itself, not followed; a symlink only as `open_beneath` resolves it from the root, which
/// follows it only with `--follow-symlinks` and only while it stays inside the root. So a
/// listing shows nothing (not even a size or a date) of a file GET will not serve.
fn status_as_served(
    root: BorrowedFd,
    dir: BorrowedFd,
    dir_path: &[u8],
    name: &CString,
) -> Result<fs::Stat, Error> {
    let st = fs::lstat_in(dir, name)?;
    if fs::FileType::from_raw_mode(st.st_mode) != fs::FileType::Symlink {
        return Ok(st);
    }
    let mut rel = dir_path[1..].to_vec();
    rel.extend_from_slice(name.as_bytes());
    let rel = CString::new(rel).map_err(|_| Error::BadRequest)?;
    let file = fs::open_beneath(root, &rel)?;
    Ok(fs::fstat(&file)?)
}

/// The same listing for scripts: `{"path": ..., "entries": [{"name", "type", "size",
/// "mtime", "modified"}]}`, names as JSON strings (invalid UTF-8 replaced).
fn render_json(path: &[u8], entries: &[Entry]) -> Vec<u8> {
    let mut j = Vec::with_capacity(64 + entries.len() * 120);
    j.extend_from_slice(b"{\"path\":");
    json_string(&mut j, &String::from_utf8_lossy(path));
    j.extend_from_slice(b",\"entries\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            j.push(b',');
        }
        j.extend_from_slice(b"\n{\"name\":");
        json_string(&mut j, &String::from_utf8_lossy(&e.name));
        let kind = if e.is_dir { "dir" } else { "file" };
        let modified = crate::http::date::iso8601(e.mtime);
        j.extend_from_slice(
            format!(
                ",\"type\":\"{kind}\",\"size\":{},\"mtime\":{},\"modified\":\"{modified}\"}}",
                e.size, e.mtime
            )
            .as_bytes(),
        );
    }
    j.extend_from_slice(b"\n]}\n");
    j
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            // Keep the output safe to embed in HTML too.
            '<' | '>' | '&' => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

const STYLE: &str = "</title>\n<style>
:root{color-scheme:light dark;--fg:#1d232a;--mut:#6a7580;--line:#e3e7eb;--link:#0b61c4;--bg:#fff}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ec;--mut:#93a0ab;--line:#2c3339;--link:#6cb2ff;--bg:#14181c}}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:960px;padding:1.2rem}
h1{font-size:1.25rem;font-weight:600;word-break:break-all;margin:0 0 1rem}
table{width:100%;border-collapse:collapse}
th{text-align:left;color:var(--mut);font-weight:500;font-size:.85rem;border-bottom:1px solid var(--line);padding:.4rem .5rem}
td{padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
td:first-child{word-break:break-all}
.s,.d{text-align:right;white-space:nowrap;color:var(--mut);font-variant-numeric:tabular-nums}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
a.dir{font-weight:600}
footer{color:var(--mut);font-size:.8rem;margin-top:1rem}
@media (max-width:560px){.d{display:none}body{padding:.8rem}}
</style>\n";

/// 1536 → "1.5 KiB": one decimal below 10 of a unit, whole units above, rounded.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let n = u128::from(n);
    let mut unit = 1024u128;
    let mut u = 0;
    while n >= unit * 1024 && u < UNITS.len() - 1 {
        unit *= 1024;
        u += 1;
    }
    let tenths = (n * 10 + unit / 2) / unit;
    if tenths < 100 {
        format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[u])
    } else {
        format!("{} {}", (n + unit / 2) / unit, UNITS[u])
    }
}

pub fn escape_html(out: &mut Vec<u8>, s: &[u8]) {
    for &c in s {
        match c {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(8 * 1024 * 1024), "8.0 MiB");
        assert_eq!(human_size(300 * 1024 * 1024), "300 MiB");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(10189), "10 KiB");
        assert_eq!(human_size(10240), "10 KiB");
        assert_eq!(human_size(1024 * 1024 - 1), "1024 KiB");
        assert_eq!(human_size(u64::MAX), "16384 PiB");
    }

    #[test]
    fn json_strings_escaped() {
        let mut v = Vec::new();
        json_string(&mut v, "a\"b\\c\n<é");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "\"a\\\"b\\\\c\\u000a\\u003cé\""
        );
    }

    #[test]
    fn html_escaped() {
        let mut v = Vec::new();
        escape_html(&mut v, b"<a href='x'>&\"");
        assert_eq!(v, b"&lt;a href=&#39;x&#39;&gt;&amp;&quot;");
    }
}
