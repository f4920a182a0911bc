//! A folder's README, shown below its listing: `README.md` or `readme.md` as Markdown
//! (CommonMark, by pulldown-cmark, feature `readme`), `README` as plain text.
//!
//! A README is written by whoever can put a file in the folder, so it is treated as hostile:
//! raw HTML in it is shown as text, not passed through; a link or an image whose URL has a
//! scheme other than http, https or mailto (`javascript:`, `data:`, `vbscript:`...) leads
//! nowhere; and the page's Content-Security-Policy (`page::csp`) would stop a script that
//! got past both. It is read only up to `MAX_README_BYTES`, only as a regular file inside the
//! folder itself, and rendered once with the listing it belongs to (`cache` keeps them
//! together, and drops them together when the folder changes).
//!
//! A leaf, like `listing`: it reads one file of the directory it is given and returns HTML.

use crate::sys::{BorrowedFd, fs};
use std::ffi::CStr;

/// The names of a README, in the order they are looked for; the first present is shown.
pub const NAMES: [&CStr; 3] = [c"README.md", c"readme.md", c"README"];

/// A README larger than this is not shown: a page is a listing first, and 64 KiB of
/// Markdown is a long document already (rendering it costs about 1 ms, once per version).
pub const MAX_README_BYTES: u64 = 64 * 1024;

/// The README `name` of `dir` as an `<article>`, or nothing when it is not a regular file
/// of at most `MAX_README_BYTES` inside the folder.
pub fn render(dir: BorrowedFd, name: &CStr) -> Vec<u8> {
    let Some(bytes) = read(dir, name) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::with_capacity(64 + bytes.len() * 2);
    out.extend_from_slice(b"<article class=\"readme\">\n");
    if name.to_bytes().ends_with(b".md") {
        markdown(&mut out, &text);
    } else {
        plain(&mut out, &text);
    }
    out.extend_from_slice(b"</article>\n");
    out
}

fn read(dir: BorrowedFd, name: &CStr) -> Option<Vec<u8>> {
    // Resolved beneath the folder: a README that is a symlink to elsewhere is not shown.
    let file = fs::open_beneath(dir, name).ok()?;
    let st = fs::fstat(&file).ok()?;
    let size = u64::try_from(st.st_size).ok()?;
    if fs::FileType::from_raw_mode(st.st_mode) != fs::FileType::RegularFile
        || size > MAX_README_BYTES
    {
        return None;
    }
    let mut buf = vec![0; size as usize];
    let n = fs::pread_full(&file, &mut buf, 0);
    buf.truncate(n);
    Some(buf)
}

fn plain(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"<pre>");
    super::listing::escape_html(out, text.as_bytes());
    out.extend_from_slice(b"</pre>\n");
}

#[cfg(not(feature = "readme"))]
fn markdown(out: &mut Vec<u8>, text: &str) {
    plain(out, text);
}

/// CommonMark to HTML with raw HTML as text and URLs of other schemes neutralised.
#[cfg(feature = "readme")]
fn markdown(out: &mut Vec<u8>, text: &str) {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let events = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH).map(|ev| match ev {
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        ev => ev,
    });
    let mut html = String::with_capacity(text.len() * 2);
    pulldown_cmark::html::push_html(&mut html, events);
    out.extend_from_slice(html.as_bytes());
}

/// `url` if it is relative or its scheme is http, https or mailto; otherwise `#`. The scheme
/// is read as a browser reads it, with the whitespace and control characters it skips left
/// out (`java\tscript:` is `javascript:` to a browser).
#[cfg(feature = "readme")]
fn safe_url(url: pulldown_cmark::CowStr<'_>) -> pulldown_cmark::CowStr<'_> {
    if scheme_allowed(&url) {
        url
    } else {
        pulldown_cmark::CowStr::Borrowed("#")
    }
}

/// Whether `url` has no scheme, or one a README may link to.
pub fn scheme_allowed(url: &str) -> bool {
    let mut scheme = String::new();
    for c in url.chars() {
        match c {
            ':' => {
                return matches!(scheme.as_str(), "http" | "https" | "mailto");
            }
            // Before any of these, a ':' is no longer a scheme's end.
            '/' | '?' | '#' => return true,
            c if c.is_ascii_control() || c == ' ' => {}
            c => scheme.push(c.to_ascii_lowercase()),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        for ok in [
            "a.txt",
            "./b/c",
            "../x?y:z",
            "#top",
            "http://e",
            "HTTPS://e",
            "mailto:a@b",
            "/p:q",
        ] {
            assert!(scheme_allowed(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:x",
            "java\tscript:x",
            "java\nscript:x",
            "data:text/html,x",
            "vbscript:x",
            "file:///etc/passwd",
        ] {
            assert!(!scheme_allowed(bad), "{bad:?}");
        }
    }

    #[cfg(feature = "readme")]
    #[test]
    fn markdown_escapes_raw_html_and_neutralises_links() {
        let mut out = Vec::new();
        markdown(
            &mut out,
            "# Hi\n\n<script>alert(1)</script>\n\nx <img src=x onerror=alert(1)> \
             [a](javascript:alert(1)) [b](https://e/) <javascript:alert(2)>\n",
        );
        let html = String::from_utf8(out).unwrap();
        assert!(html.contains("<h1>Hi</h1>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            !html.to_ascii_lowercase().contains("href=\"javascript"),
            "{html}"
        );
        assert!(html.contains("href=\"https://e/\""), "{html}");
    }
}
