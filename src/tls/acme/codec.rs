//! The text encodings ACME speaks: base64 (url-safe without padding for JWS, standard for
//! PEM) and JSON (a reader for the CA's objects and string quoting for the few we send).
//!
//! Hand-written because the objects are small and few: a JSON crate would add more code
//! to the binary than this whole file, and ACME needs no numbers beyond what a `f64` holds.
//! The reader accepts RFC 8259 JSON and nothing else, with a nesting limit; it answers None
//! on anything malformed. Numbers are kept as their text: ACME reads none it must compute
//! with, and a float parser would cost the binary ~20 KB.

use crate::base64::{STD, URL, encode};

/// base64url without padding (RFC 7515 §2), for JWS and ACME's identifiers.
pub fn b64url(data: &[u8]) -> String {
    encode(data, URL, false)
}

/// Standard base64 with padding, for PEM bodies.
pub fn b64(data: &[u8]) -> String {
    encode(data, STD, true)
}

/// A PEM block of `der` under `label`, lines of 64 characters.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = b64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// `s` as a JSON string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value. Objects keep their members in order (ACME's are small: a linear search
/// is as fast as a map).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A number as written (checked against RFC 8259 §6's grammar).
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// How deep objects and arrays may nest: ACME's go four levels deep at most, and a limit
/// keeps a hostile answer from exhausting the stack.
const MAX_DEPTH: usize = 32;

impl Json {
    pub fn parse(text: &[u8]) -> Option<Json> {
        let mut p = Reader { s: text, i: 0 };
        let v = p.value(0)?;
        p.ws();
        (p.i == text.len()).then_some(v)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string member `key`, or "".
    pub fn text(&self, key: &str) -> &str {
        self.get(key).and_then(Json::str).unwrap_or("")
    }

    pub fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            _ => &[],
        }
    }
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        let ok = self.s[self.i..].starts_with(lit);
        if ok {
            self.i += lit.len();
        }
        ok
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Some(Json::Obj(members));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return None;
                    }
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    self.ws();
                    if self.eat(b"}") {
                        return Some(Json::Obj(members));
                    }
                    if !self.eat(b",") {
                        return None;
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Some(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b"]") {
                        return Some(Json::Arr(items));
                    }
                    if !self.eat(b",") {
                        return None;
                    }
                }
            }
            b'"' => self.string().map(Json::Str),
            b't' => self.eat(b"true").then_some(Json::Bool(true)),
            b'f' => self.eat(b"false").then_some(Json::Bool(false)),
            b'n' => self.eat(b"null").then_some(Json::Null),
            _ => self.number(),
        }
    }

    /// Skip ASCII digits; how many.
    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    /// `[ "-" ] int [ frac ] [ exp ]` (RFC 8259 §6).
    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        self.eat(b"-");
        let int_start = self.i;
        let int = self.digits();
        if int == 0 || (int > 1 && self.s[int_start] == b'0') {
            return None;
        }
        if self.eat(b".") && self.digits() == 0 {
            return None;
        }
        if self.eat(b"e") || self.eat(b"E") {
            let _ = self.eat(b"+") || self.eat(b"-");
            if self.digits() == 0 {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        Some(Json::Num(text.to_string()))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        if !self.eat(b"\"") {
            return None;
        }
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let simple = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => 0,
                        _ => return None,
                    };
                    if e != b'u' {
                        out.push(simple);
                        continue;
                    }
                    let mut cp = self.hex4()?;
                    if (0xd800..0xdc00).contains(&cp) {
                        if !self.eat(b"\\u") {
                            return None;
                        }
                        let lo = self.hex4()?;
                        if !(0xdc00..0xe000).contains(&lo) {
                            return None;
                        }
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    }
                    let ch = char::from_u32(cp)?;
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                0..0x20 => return None,
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_10_test_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in cases {
            assert_eq!(b64(plain.as_bytes()), coded);
            assert_eq!(b64url(plain.as_bytes()), coded.trim_end_matches('='));
        }
        // RFC 4648 §5: the url alphabet uses - and _ for 62 and 63.
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let p = pem("X", &[7; 100]);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines[0], "-----BEGIN X-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END X-----"));
    }

    #[test]
    fn an_acme_order_is_read() {
        let text = br#"{
          "status": "pending",
          "expires": "2016-01-05T14:09:07.99Z",
          "identifiers": [ { "type": "dns", "value": "www.example.org" } ],
          "authorizations": ["https://example.com/acme/authz/PAniVnsZcis"],
          "finalize": "https://example.com/acme/order/TOlocE8rfgo/finalize",
          "n": -1.5e2, "t": true, "z": null, "esc": "a\"\\\/\u00e9\ud83d\ude00\n"
        }"#;
        let v = Json::parse(text).expect("valid JSON");
        assert_eq!(v.text("status"), "pending");
        assert_eq!(v.get("authorizations").map(|a| a.arr().len()), Some(1));
        assert_eq!(
            v.get("identifiers").unwrap().arr()[0].text("value"),
            "www.example.org"
        );
        assert_eq!(v.get("n"), Some(&Json::Num("-1.5e2".into())));
        assert_eq!(v.get("t"), Some(&Json::Bool(true)));
        assert_eq!(v.get("z"), Some(&Json::Null));
        assert_eq!(v.text("esc"), "a\"\\/é😀\n");
        assert_eq!(v.text("missing"), "");
    }

    #[test]
    fn malformed_json_is_refused_without_panic() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\" 1}",
            b"[1,]",
            b"\"\\ud800\"",
            b"\"a\nb\"",
            b"+1",
            b"1.",
            b"01",
            b"-",
            b"1e",
            b".5",
            b"{} x",
            b"\"\\u12",
        ] {
            assert_eq!(Json::parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        assert_eq!(Json::parse(deep.as_bytes()), None);
    }

    #[test]
    fn quoting_round_trips() {
        let s = "mailto:\"a\\b\"\u{1}é";
        assert_eq!(Json::parse(quote(s).as_bytes()), Some(Json::Str(s.into())));
    }
}
