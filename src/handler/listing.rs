//! Directory listings, HTML or JSON: folders first, then files, with sizes in KiB/MiB and
//! modification dates and a parent link. The page (`Format::Html`) is in the order its query
//! asks for (`Sort`: name in natural order, size or date, either direction), with
//! breadcrumbs, column headers that link to the other orders, an icon per row, and the
//! folder's README below the list (`readme`); its style, script and icons are `page`'s, and
//! work on top of a page that is whole without them. The JSON is in one order (by bytes of
//! the name), as it always was. Names are HTML-escaped and links percent-encoded wherever
//! they appear, so no file name can inject markup; rows carry only numbers in their data
//! attributes.
//!
//! A render allocates a few growing buffers, not one thing per name (`Names`, rows written in
//! place): 17 allocations for 10,000 entries, where it was 4 per entry.
//!
//! A listing is bounded whatever the directory holds: it shows at most `MAX_LISTING_ENTRIES`
//! entries (the first in its order), says how many more there are (a line in the page,
//! `truncated` and `not_shown` in the JSON), and reads at most `NAMES_READ_PER_ENTRY` names
//! per entry it may show. Names past the cap are counted, never stat'd or kept, so one
//! listing costs at most that many stats and rows in CPU and memory, on a worker that
//! answers nobody else meanwhile.
//!
//! A leaf renderer: it reads the directory it is given and returns the body. It imports no
//! handler; whether a directory is listed at all, its index file, the answer's headers and
//! validators, and keeping the rendered body for the next request (`cache`) are
//! `static_file`'s. Names never served (`names::hidden_name`) are not listed.

use super::error::Error;
use super::{names, page, readme};
use crate::http::response::push_u64;
use crate::http::target::encode_path;
use crate::sys::{AsFd, BorrowedFd, fs};
use std::cmp::Ordering;
use std::ffi::CStr;

/// Entries a listing shows at most: more than anyone reads on one page, and what bounds one
/// listing's cost however large the directory (at 10,000 entries with names of 16 bytes:
/// about 20 ms of stats and rows, 1.3 MB of HTML). Debug builds take a lower value from
/// `BAREHTTPD_TEST_LISTING_MAX` (`max_entries`).
pub const MAX_LISTING_ENTRIES: usize = 10_000;

/// Names read per entry a listing may show, at most: a name past the cap is only counted,
/// which costs about a sixth of listing one (0.3 us of getdents on ext4 against 2 us of
/// lstat and row), so a listing costs at most about 2.5 times a full one (50 ms) whatever
/// the directory holds. Past that many names, the count of those not shown is a lower bound.
pub const NAMES_READ_PER_ENTRY: usize = 10;

struct Entry<'n> {
    name: &'n [u8],
    is_dir: bool,
    size: u64,
    mtime: u64,
}

/// What a listing leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Omitted {
    /// Names read and not shown.
    count: u64,
    /// Every name was read, so `count` is exact rather than a lower bound.
    exact: bool,
}

/// `MAX_LISTING_ENTRIES`; in debug builds, `BAREHTTPD_TEST_LISTING_MAX` when it holds a
/// number (read once, at least 1). A test hook like `BAREHTTPD_TEST_PANIC`: tests reach the
/// cap with a few files instead of 10,000. Release builds have no trace of it, and no flag
/// sets it: raising the cap gives back the cost it bounds.
fn max_entries() -> usize {
    #[cfg(debug_assertions)]
    {
        static MAX: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
        let max = MAX.get_or_init(|| {
            let v = std::env::var("BAREHTTPD_TEST_LISTING_MAX").ok()?;
            v.parse::<usize>().ok().map(|n| n.max(1))
        });
        if let Some(n) = *max {
            return n;
        }
    }
    MAX_LISTING_ENTRIES
}

/// How the page's rows are ordered: by `?sort=name|size|date&order=asc|desc`. Folders come
/// first in every order; ties (same size or date) go by name. The query is read strictly:
/// any other value of either parameter gives the default, by name ascending, so that a link
/// cannot make a variant of the page the cache does not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub desc: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Natural order (`natural_cmp`): file2 before file10, case set aside.
    #[default]
    Name,
    Size,
    Date,
}

impl SortKey {
    const ALL: [SortKey; 3] = [SortKey::Name, SortKey::Size, SortKey::Date];

    fn param(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Date => "date",
        }
    }
}

impl Sort {
    /// The order a listing's query asks for.
    pub fn from_query(query: Option<&[u8]>) -> Sort {
        let mut s = Sort::default();
        for kv in query.unwrap_or_default().split(|&b| b == b'&') {
            let (k, v) = match kv.iter().position(|&b| b == b'=') {
                Some(i) => (&kv[..i], &kv[i + 1..]),
                None => (kv, &b""[..]),
            };
            match (k, v) {
                (b"sort", b"name") => s.key = SortKey::Name,
                (b"sort", b"size") => s.key = SortKey::Size,
                (b"sort", b"date") => s.key = SortKey::Date,
                (b"order", b"asc") => s.desc = false,
                (b"order", b"desc") => s.desc = true,
                (b"sort" | b"order", _) => return Sort::default(),
                _ => {}
            }
        }
        s
    }
}

/// What a listing is rendered as: JSON (in its one order), or the page in one of its orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Html(Sort),
}

impl Format {
    /// How many formats there are: JSON, and the page in 3 keys times 2 directions.
    pub const COUNT: usize = 7;

    /// A number below `COUNT` for each format, as the cache keeps them apart.
    pub fn index(self) -> usize {
        match self {
            Format::Json => 0,
            Format::Html(s) => 1 + s.key as usize * 2 + usize::from(s.desc),
        }
    }
}

/// The writes a listing page offers, by the folder's rule: the page's script shows the
/// controls for them (`<body data-w>`), and none without it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Writes {
    None,
    /// PUT, PATCH (resumable uploads) and DELETE: uploads of files, and deletes.
    Files,
    /// Those and WebDAV's MKCOL and MOVE (feature `dav`): folders and renames too.
    Dav,
}

/// Render the listing of the open directory `dir`, whose URL path (decoded) is `path`, below
/// the document root `root`; the HTML page offers `writes`.
pub fn render(
    root: BorrowedFd,
    dir: impl AsFd,
    path: &[u8],
    dotfiles: bool,
    format: Format,
    writes: Writes,
) -> Result<Vec<u8>, Error> {
    let dir = dir.as_fd();
    let max = max_entries();
    let (names, omitted) = choose(dir, dotfiles, max)?;
    let mut entries = Vec::with_capacity(names.keys.len());
    let mut cname = Vec::new();
    for (file, name) in names.iter() {
        cname.clear();
        cname.extend_from_slice(name);
        cname.push(0);
        // A directory entry's name has no NUL.
        let Ok(c) = CStr::from_bytes_with_nul(&cname) else {
            continue;
        };
        let (size, mtime, is_dir) = match status_as_served(root, dir, path, c) {
            Ok(st) => (
                st.st_size.max(0) as u64,
                st.st_mtime.max(0) as u64,
                fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory,
            ),
            // GET would answer 404: not listed, as if absent.
            Err(e) if e.status() == 404 => continue,
            // GET would refuse it otherwise (403...): listed, without size or date.
            Err(_) => (0, 0, !file),
        };
        entries.push(Entry {
            name,
            is_dir,
            size,
            mtime,
        });
    }
    // Again, now that stats tell: a symlink to a directory goes among the folders. One sort
    // call for every format: each use of the standard sort adds about 10 KB to the binary.
    let sort = match format {
        Format::Json => None,
        Format::Html(sort) => Some(sort),
    };
    entries.sort_unstable_by(|a, b| {
        let o = match sort {
            None => a.name.cmp(b.name),
            Some(sort) => {
                let o = match sort.key {
                    SortKey::Name => Ordering::Equal,
                    SortKey::Size => a.sort_size().cmp(&b.sort_size()),
                    SortKey::Date => a.mtime.cmp(&b.mtime),
                };
                let o = o.then_with(|| natural_cmp(a.name, b.name));
                if sort.desc { o.reverse() } else { o }
            }
        };
        b.is_dir.cmp(&a.is_dir).then(o)
    });
    let Some(sort) = sort else {
        return Ok(render_json(path, &entries, omitted));
    };
    let readme = readme::NAMES
        .iter()
        .find(|n| {
            let n = n.to_bytes();
            entries.iter().any(|e| !e.is_dir && e.name == n)
        })
        .map(|n| readme::render(dir, n))
        .unwrap_or_default();

    let mut h = Vec::with_capacity(
        4096 + page::STYLE.len() + page::SCRIPT.len() + entries.len() * 200 + readme.len(),
    );
    let title = String::from_utf8_lossy(path);
    h.extend_from_slice(b"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    h.extend_from_slice(b"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Index of ");
    escape_html(&mut h, title.as_bytes());
    h.extend_from_slice(b"</title>\n<style>");
    h.extend_from_slice(page::STYLE.as_bytes());
    h.extend_from_slice(match writes {
        Writes::None => &b"</style>\n</head><body>\n"[..],
        Writes::Files => &b"</style>\n</head><body data-w=\"1\">\n"[..],
        Writes::Dav => &b"</style>\n</head><body data-w=\"2\">\n"[..],
    });
    h.extend_from_slice(page::SPRITE.as_bytes());
    h.extend_from_slice(b"<h1>Index of ");
    breadcrumbs(&mut h, &title);
    h.extend_from_slice(b"</h1>\n<div class=\"bar\"><input id=\"filter\" type=\"search\" placeholder=\"Filter (press /)\" aria-label=\"Filter names\" autocomplete=\"off\" hidden>\n<span>Download <a href=\"?download=zip\">.zip</a> &middot; <a href=\"?download=tar\">.tar</a></span></div>\n");
    let n = entries.len();
    let more = omitted.count;
    if more > 0 {
        // Above the table, where it is seen before a long scroll.
        let at_least = if omitted.exact { "" } else { "At least " };
        let noun = if more == 1 { "entry" } else { "entries" };
        let line = format!(
            "<p class=\"more\">{at_least}{more} more {noun} not shown: a listing shows at \
             most {max} (folders first, then by name).</p>\n"
        );
        h.extend_from_slice(line.as_bytes());
    }
    h.extend_from_slice(b"<table id=\"list\">\n<thead><tr>");
    for key in SortKey::ALL {
        header_cell(&mut h, key, sort);
    }
    h.extend_from_slice(b"</tr></thead>\n<tbody>\n");
    if path != b"/" {
        h.extend_from_slice(b"<tr><td><a href=\"../\"><svg><use href=\"#d\"/></svg>Parent directory</a></td><td class=\"s\"></td><td class=\"d\"></td></tr>\n");
    }
    let mut href = Vec::new();
    for e in &entries {
        h.extend_from_slice(b"<tr data-s=\"");
        push_u64(&mut h, e.sort_size());
        h.extend_from_slice(b"\" data-t=\"");
        push_u64(&mut h, e.mtime);
        // A leading "./" keeps a name such as "a:b" from reading as a URL scheme.
        h.extend_from_slice(if e.is_dir {
            b"\" class=\"dir\"><td><a href=\"./"
        } else {
            b"\"><td><a href=\"./"
        });
        href.clear();
        encode_path(e.name, &mut href);
        // Percent-encoding leaves '&' and '\'' as they are: escaped too.
        escape_html(&mut h, &href);
        if e.is_dir {
            h.push(b'/');
        }
        h.extend_from_slice(b"\"><svg><use href=\"#");
        h.extend_from_slice(page::icon(e.name, e.is_dir).as_bytes());
        h.extend_from_slice(b"\"/></svg>");
        escape_html(&mut h, String::from_utf8_lossy(e.name).as_bytes());
        if e.is_dir {
            h.push(b'/');
        }
        h.extend_from_slice(b"</a></td><td class=\"s\">");
        if e.is_dir {
            h.extend_from_slice(b"&mdash;");
        } else {
            push_size(&mut h, e.size);
        }
        h.extend_from_slice(b"</td><td class=\"d\">");
        crate::http::date::push_short(&mut h, e.mtime);
        h.extend_from_slice(b"</td></tr>\n");
    }
    h.extend_from_slice(b"</tbody></table>\n");
    h.extend_from_slice(&readme);
    h.extend_from_slice(b"<footer>");
    let count = match (more, omitted.exact) {
        (0, _) => format!("{n} item{}", plural(n as u64)),
        (_, true) => format!("{n} of {} items", n as u64 + more),
        (_, false) => format!("{n} of at least {} items", n as u64 + more),
    };
    h.extend_from_slice(count.as_bytes());
    h.extend_from_slice(b" &middot; barehttpd</footer>\n<script>");
    h.extend_from_slice(page::SCRIPT.as_bytes());
    h.extend_from_slice(b"</script>\n</body></html>\n");
    Ok(h)
}

impl Entry<'_> {
    /// The size a listing sorts by: a folder's own size (a few KiB of entries on most file
    /// systems) says nothing, so folders sort as 0, by name.
    fn sort_size(&self) -> u64 {
        if self.is_dir { 0 } else { self.size }
    }
}

/// The path `/a/b/` as links to each folder on the way: `/` to `../../`, `a/` to `../`, `b/`
/// to `./`. Relative links, so that the page also works below a proxy's path prefix.
fn breadcrumbs(h: &mut Vec<u8>, path: &str) {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let up = |h: &mut Vec<u8>, n: usize| {
        if n == 0 {
            h.extend_from_slice(b"./");
        }
        for _ in 0..n {
            h.extend_from_slice(b"../");
        }
    };
    h.extend_from_slice(b"<a href=\"");
    up(h, parts.len());
    h.extend_from_slice(b"\">/</a>");
    for (i, part) in parts.iter().enumerate() {
        h.extend_from_slice(b"<a href=\"");
        up(h, parts.len() - 1 - i);
        h.extend_from_slice(b"\">");
        escape_html(h, part.as_bytes());
        h.extend_from_slice(b"</a>/");
    }
}

/// A column header: a link to this column's order, ascending, or descending when the page is
/// already in its ascending order.
fn header_cell(h: &mut Vec<u8>, key: SortKey, sort: Sort) {
    h.extend_from_slice(match key {
        SortKey::Name => b"<th",
        SortKey::Size => b"<th class=\"s\"",
        SortKey::Date => b"<th class=\"d\"",
    });
    let on = sort.key == key;
    if on {
        h.extend_from_slice(if sort.desc {
            b" aria-sort=\"descending\""
        } else {
            b" aria-sort=\"ascending\""
        });
    }
    h.extend_from_slice(b"><a data-k=\"");
    h.extend_from_slice(key.param().as_bytes());
    h.extend_from_slice(b"\" href=\"?sort=");
    h.extend_from_slice(key.param().as_bytes());
    h.extend_from_slice(if on && !sort.desc {
        b"&amp;order=desc\">"
    } else {
        b"&amp;order=asc\">"
    });
    h.extend_from_slice(match key {
        SortKey::Name => b"Name",
        SortKey::Size => b"Size",
        SortKey::Date => b"Modified",
    });
    h.extend_from_slice(b"</a></th>");
}

/// Natural order of names: runs of digits compare as numbers (file2 before file10, 007 as 7),
/// the rest byte by byte with ASCII case set aside; names still equal (file07 and file7,
/// Read and read) then compare by their bytes, so that the order is total.
pub fn natural_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let x = trim_zeros(&a[si..i]);
            let y = trim_zeros(&b[sj..j]);
            let o = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = a[i].to_ascii_lowercase().cmp(&b[j].to_ascii_lowercase());
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j)).then_with(|| a.cmp(b))
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let z = digits.iter().take_while(|&&d| d == b'0').count();
    &digits[z..]
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The names `choose` keeps, without an allocation each: their bytes one after another in
/// `bytes`, and for each, whether it is a file (so that folders come first) and where its
/// bytes are. A 10,000-name listing allocates a few growing buffers, not 10,000 names.
struct Names {
    bytes: Vec<u8>,
    keys: Vec<(bool, usize, usize)>,
    /// Where `trim` copies the names it keeps (kept across trims, as `bytes` is).
    spare: Vec<u8>,
}

impl Names {
    fn name(&self, k: (bool, usize, usize)) -> &[u8] {
        &self.bytes[k.1..k.2]
    }

    /// (is a file, name), in the listing's first order: folders first, then by bytes.
    fn iter(&self) -> impl Iterator<Item = (bool, &[u8])> {
        self.keys.iter().map(|&k| (k.0, self.name(k)))
    }

    /// Keep the first `max` names in the listing's order, sorted, and the bytes of those only.
    fn trim(&mut self, max: usize) {
        let bytes = &self.bytes;
        let order = |a: &(bool, usize, usize), b: &(bool, usize, usize)| {
            (a.0, &bytes[a.1..a.2]).cmp(&(b.0, &bytes[b.1..b.2]))
        };
        // A whole sort rather than select_nth_unstable: as fast here, and no second sorting
        // routine in the binary (the static build has a size budget).
        self.keys.sort_unstable_by(order);
        self.keys.truncate(max);
        self.spare.clear();
        for k in &mut self.keys {
            let start = self.spare.len();
            self.spare.extend_from_slice(&self.bytes[k.1..k.2]);
            *k = (k.0, start, self.spare.len());
        }
        std::mem::swap(&mut self.bytes, &mut self.spare);
    }
}

/// The names a listing shows, in its order (folders first, as the directory entries tell,
/// then by name): the first `max` of the first `max * NAMES_READ_PER_ENTRY` names the
/// directory gives, names never served left out; and how many others were read. Whatever
/// the directory's size, it keeps at most `2 * max` names at once (trimmed to the first
/// `max` whenever it reaches that: amortised, each name is sorted a bounded number of
/// times) and stats none.
fn choose(dir: BorrowedFd, dotfiles: bool, max: usize) -> Result<(Names, Omitted), Error> {
    let limit = max.saturating_mul(NAMES_READ_PER_ENTRY);
    let room = max.min(1024);
    let mut kept = Names {
        bytes: Vec::with_capacity(room * 32),
        keys: Vec::with_capacity(room * 2),
        spare: Vec::new(),
    };
    let mut read = 0usize;
    let mut exact = true;
    fs::read_dir(dir, |name, is_dir| {
        if names::hidden_name(name, dotfiles) {
            return true;
        }
        if read == limit {
            exact = false;
            return false;
        }
        read += 1;
        // A symlink, or an entry that does not say, sorts as a file until a stat tells.
        let file = is_dir != Some(true);
        let start = kept.bytes.len();
        kept.bytes.extend_from_slice(name);
        kept.keys.push((file, start, kept.bytes.len()));
        if kept.keys.len() >= max.saturating_mul(2) {
            kept.trim(max);
        }
        true
    })?;
    kept.trim(max);
    let count = (read - kept.keys.len()) as u64;
    Ok((kept, Omitted { count, exact }))
}

/// The status of the entry `name` of `dir` (URL `dir_path`) as GET would see it: the entry
/// itself, not followed; a symlink only as `open_beneath` resolves it from the root, which
/// follows it only with `--follow-symlinks` and only while it stays inside the root. So a
/// listing shows nothing (not even a size or a date) of a file GET will not serve.
fn status_as_served(
    root: BorrowedFd,
    dir: BorrowedFd,
    dir_path: &[u8],
    name: &CStr,
) -> Result<fs::Stat, Error> {
    let st = fs::lstat_in(dir, name)?;
    if fs::FileType::from_raw_mode(st.st_mode) != fs::FileType::Symlink {
        return Ok(st);
    }
    let mut rel = dir_path[1..].to_vec();
    rel.extend_from_slice(name.to_bytes());
    let rel = std::ffi::CString::new(rel).map_err(|_| Error::BadRequest)?;
    let file = fs::open_beneath(root, &rel)?;
    Ok(fs::fstat(&file)?)
}

/// The same listing for scripts: `{"path": ..., "truncated": ..., "not_shown": ...,
/// "not_shown_exact": ..., "entries": [{"name", "type", "size", "mtime", "modified"}]}`,
/// names as JSON strings (invalid UTF-8 replaced). `truncated` says whether entries were
/// left out (the cap); `not_shown` counts them, exactly or, when `not_shown_exact` is false,
/// as a lower bound (the directory was not read to its end).
fn render_json(path: &[u8], entries: &[Entry], omitted: Omitted) -> Vec<u8> {
    let mut j = Vec::with_capacity(128 + entries.len() * 120);
    j.extend_from_slice(b"{\"path\":");
    json_string(&mut j, &String::from_utf8_lossy(path));
    let head = format!(
        ",\"truncated\":{},\"not_shown\":{},\"not_shown_exact\":{},\"entries\":[",
        omitted.count > 0,
        omitted.count,
        omitted.exact
    );
    j.extend_from_slice(head.as_bytes());
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            j.push(b',');
        }
        j.extend_from_slice(b"\n{\"name\":");
        json_string(&mut j, &String::from_utf8_lossy(e.name));
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

/// 1536 → "1.5 KiB": one decimal below 10 of a unit, whole units above, rounded.
pub fn human_size(n: u64) -> String {
    let mut v = Vec::with_capacity(12);
    push_size(&mut v, n);
    String::from_utf8(v).unwrap_or_default()
}

/// `human_size`, written at the end of `out` (no allocation of its own: once per row).
fn push_size(out: &mut Vec<u8>, n: u64) {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        push_u64(out, n);
        out.extend_from_slice(b" B");
        return;
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
        // Below 100 tenths: both fit a u64.
        push_u64(out, (tenths / 10) as u64);
        out.push(b'.');
        push_u64(out, (tenths % 10) as u64);
    } else {
        push_u64(out, ((n + unit / 2) / unit) as u64);
    }
    out.push(b' ');
    out.extend_from_slice(UNITS[u].as_bytes());
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

    /// A directory of 12 folders and 300 files made in a scrambled order, and names never
    /// served; `choose` keeps the first `max` in the listing's order, counts the rest, and
    /// stops reading at `max * NAMES_READ_PER_ENTRY` names.
    #[test]
    fn choose_keeps_the_first_names_in_order_and_counts_the_rest() {
        let base = std::env::temp_dir().join(format!("barehttpd-choose-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let mut names: Vec<String> = (0..300)
            .map(|i| format!("f{:03}", (i * 7919) % 300))
            .collect();
        for i in 0..12 {
            std::fs::create_dir(base.join(format!("z{i:02}"))).unwrap();
        }
        for n in &names {
            std::fs::write(base.join(n), b"x").unwrap();
        }
        std::fs::write(base.join(".hidden"), b"x").unwrap();
        let root = fs::open_root(&base).unwrap();
        let dir = fs::open_dir_beneath(&root, c".").unwrap();
        names.sort();
        let order: Vec<Vec<u8>> = (0..12)
            .map(|i| format!("z{i:02}"))
            .chain(names)
            .map(String::into_bytes)
            .collect();
        for max in [1, 5, 12, 13, 40, 312, 400] {
            let (kept, omitted) = choose(dir.as_fd(), false, max).unwrap();
            let read = 312.min(max * NAMES_READ_PER_ENTRY);
            let kept: Vec<Vec<u8>> = kept.iter().map(|(_, n)| n.to_vec()).collect();
            if read == 312 {
                assert_eq!(kept, order[..max.min(312)], "max {max}");
            } else {
                assert_eq!(kept.len(), max);
                assert!(
                    kept.is_sorted_by(|a, b| order.iter().position(|o| o == a)
                        < order.iter().position(|o| o == b))
                );
            }
            let count = (read - max.min(312)) as u64;
            let exact = read == 312;
            assert_eq!(omitted, Omitted { count, exact }, "max {max}");
        }
        let (kept, _) = choose(dir.as_fd(), true, 400).unwrap();
        assert_eq!(kept.keys.len(), 313, "with --dotfiles");
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// Each form has its own place in the cache: seven indices, all below `Format::COUNT`.
    #[test]
    fn formats_have_distinct_indices() {
        let mut seen = [false; Format::COUNT];
        let pages = SortKey::ALL
            .into_iter()
            .flat_map(|key| [false, true].map(|desc| Format::Html(Sort { key, desc })));
        for f in pages.chain([Format::Json]) {
            assert!(!std::mem::replace(&mut seen[f.index()], true), "{f:?}");
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn sort_from_query_is_strict() {
        let q = |s: &str| Sort::from_query(Some(s.as_bytes()));
        let size_desc = Sort {
            key: SortKey::Size,
            desc: true,
        };
        assert_eq!(q("sort=size&order=desc"), size_desc);
        assert_eq!(q("order=desc&x=1&sort=size"), size_desc);
        assert_eq!(Sort::from_query(None), Sort::default());
        for bad in [
            "sort=size&order=DESC",
            "sort=sizes",
            "sort",
            "order=",
            "sort=size&order",
        ] {
            assert_eq!(q(bad), Sort::default(), "{bad}");
        }
    }

    #[test]
    fn natural_order() {
        let mut v = [
            "file10", "file2", "File1", "file02", "a", "B", "file", "x9y10", "x9y9", "10", "9",
        ];
        v.sort_by(|a, b| natural_cmp(a.as_bytes(), b.as_bytes()));
        assert_eq!(
            v,
            [
                "9", "10", "a", "B", "file", "File1", "file02", "file2", "file10", "x9y9", "x9y10"
            ]
        );
        // Total: names equal but for case or leading zeros still have an order.
        assert_eq!(
            natural_cmp(b"a", b"A"),
            b"a".cmp(b"A").then(Ordering::Greater)
        );
        assert_ne!(natural_cmp(b"f07", b"f7"), Ordering::Equal);
    }

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
