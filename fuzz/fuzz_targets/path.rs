//! Fuzz `http::target::split` and `decode_path` with an arbitrary request target.
//!
//! `split`: the asterisk form has no path and no query; otherwise the path starts with `/`
//! and holds no `?`, and neither path nor query holds a `#` (a request target has no
//! fragment, RFC 9112 §3.2).
//!
//! `decode_path` on every path `split` accepts: the result starts with `/`, has no `.` or
//! `..` segment, no `//`, no NUL, and is valid UTF-8 (these make it safe to hand to
//! `open_beneath`). It also equals a plain reference model (decode each `/`-separated segment,
//! then resolve `.` and `..` with a stack, RFC 3986 §5.2.4), error for error, and it is a
//! fixed point: encoding the result with `encode_path` and decoding again gives it back.
#![no_main]

use barehttpd::http::target::{self, PathError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let Ok(t) = target::split(raw) else {
        return;
    };
    if t.asterisk {
        assert!(t.path.is_empty() && t.query.is_none(), "{t:?}");
        return;
    }
    assert!(t.path.starts_with(b"/"), "path {:?} of {raw:?}", t.path);
    assert!(!t.path.contains(&b'?'), "path {:?} of {raw:?}", t.path);
    assert!(!t.path.contains(&b'#'), "fragment in path {:?}", t.path);
    assert!(
        !t.query.is_some_and(|q| q.contains(&b'#')),
        "fragment in query of {raw:?}"
    );

    let mut out = Vec::new();
    let got = target::decode_path(t.path, &mut out).map(|()| out.clone());
    assert_eq!(
        got,
        model(t.path),
        "decode_path({:?}) differs from the model",
        t.path
    );
    let Ok(path) = got else {
        return;
    };
    assert!(path.starts_with(b"/"), "{path:?}");
    assert!(
        !path.split(|&b| b == b'/').any(|s| s == b"." || s == b".."),
        "dot segment in {path:?}"
    );
    assert!(
        !path.windows(2).any(|w| w == b"//"),
        "empty segment in {path:?}"
    );
    assert!(!path.contains(&0), "NUL in {path:?} from {:?}", t.path);
    assert!(
        std::str::from_utf8(&path).is_ok(),
        "invalid UTF-8 in {path:?}"
    );

    let mut encoded = Vec::new();
    target::encode_path(&path, &mut encoded);
    let mut again = Vec::new();
    assert_eq!(
        target::decode_path(&encoded, &mut again),
        Ok(()),
        "{encoded:?}"
    );
    assert_eq!(again, path, "decode(encode(p)) != p via {encoded:?}");
});

/// The path as a plain reading of RFC 3986 gives it: percent-decode each segment (refusing
/// bad escapes and NUL, and an encoded `/` as not found), drop empty and `.` segments, let
/// `..` remove the segment before it (and refuse it at the root), keep a trailing `/` when
/// the last segment was empty, `.` or `..`, and require UTF-8 of the result.
fn model(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let raw = raw.strip_prefix(b"/").unwrap_or(raw);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut trailing_slash = false;
    for seg in raw.split(|&b| b == b'/') {
        let seg = percent_decode(seg)?;
        trailing_slash = matches!(&seg[..], b"" | b"." | b"..");
        match &seg[..] {
            b"" | b"." => {}
            b".." => {
                stack.pop().ok_or(PathError::BadRequest)?;
            }
            _ => stack.push(seg),
        }
    }
    let mut out = b"/".to_vec();
    out.extend_from_slice(&stack.join(&b'/'));
    if trailing_slash && !stack.is_empty() {
        out.push(b'/');
    }
    std::str::from_utf8(&out).map_err(|_| PathError::BadRequest)?;
    Ok(out)
}

fn percent_decode(s: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == 0 {
            return Err(PathError::BadRequest);
        }
        if s[i] != b'%' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let hex = |j: usize| s.get(j).and_then(|&c| (c as char).to_digit(16));
        let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) else {
            return Err(PathError::BadRequest);
        };
        match (h << 4 | l) as u8 {
            0 => return Err(PathError::BadRequest),
            b'/' => return Err(PathError::NotFound),
            c => out.push(c),
        }
        i += 3;
    }
    Ok(out)
}
