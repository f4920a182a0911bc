//! The listing page's static parts: its style sheet and script (`page/listing.css`,
//! `page/listing.js`, embedded in the binary), its icons, and the Content-Security-Policy
//! that allows exactly them.
//!
//! Style and script are inline in every page, and the policy names them by their SHA-256
//! (CSP Level 3 hash sources) rather than by a URL of their own: nothing in the page is
//! fetched, no path of the server is reserved (a reserved path would shadow a user's file of
//! that name), and no inline block that is not byte for byte ours can run, names and README
//! included. The hashes are computed once, by the first listing (`csp`): the build without
//! `tls` has no crypto library, so SHA-256 is here in plain Rust (FIPS 180-4), for these two
//! constants only.
//!
//! It knows nothing of directories or requests: `listing` renders the page around it and
//! `static_file` sends the header.

use std::sync::OnceLock;

/// The page's style sheet, the body of its one `<style>` element.
pub const STYLE: &str = include_str!("page/listing.css");
/// The page's script (sorting, filter, keyboard, writes), the body of its one `<script>`
/// element: `page/listing.js` without comments and indentation (build.rs).
pub const SCRIPT: &str = include_str!(concat!(env!("OUT_DIR"), "/listing.js"));

/// The icons, defined once per page as SVG symbols and drawn by `<use href="#…">` per row:
/// about 30 bytes a row, no request, no external asset.
pub const SPRITE: &str = concat!(
    "<svg class=\"sprite\" aria-hidden=\"true\">",
    "<symbol id=\"d\" viewBox=\"0 0 16 16\"><path d=\"M1.5 3.5h4.5l1.5 1.5h7v8h-13z\"/></symbol>",
    "<symbol id=\"f\" viewBox=\"0 0 16 16\"><path d=\"M3.5 1.5h6l3 3v10h-9z\"/></symbol>",
    "<symbol id=\"t\" viewBox=\"0 0 16 16\"><path d=\"M3.5 1.5h6l3 3v10h-9zM5.5 7h5M5.5 9h5M5.5 11h3\"/></symbol>",
    "<symbol id=\"i\" viewBox=\"0 0 16 16\"><path d=\"M1.5 2.5h13v11h-13zM1.5 11l4-4 3 3 2-2 4 4\"/><circle cx=\"10.5\" cy=\"5.5\" r=\"1\"/></symbol>",
    "<symbol id=\"a\" viewBox=\"0 0 16 16\"><path d=\"M6 12V3.5l7-1.5V10.5\"/><circle cx=\"4.5\" cy=\"12\" r=\"1.5\"/><circle cx=\"11.5\" cy=\"10.5\" r=\"1.5\"/></symbol>",
    "<symbol id=\"v\" viewBox=\"0 0 16 16\"><path d=\"M1.5 3.5h13v9h-13zM6.5 6v4l3.5-2z\"/></symbol>",
    "<symbol id=\"z\" viewBox=\"0 0 16 16\"><path d=\"M3.5 1.5h9v13h-9zM8 1.5v1M8 3.5v1M8 5.5v1M7 8h2v2H7z\"/></symbol>",
    "<symbol id=\"c\" viewBox=\"0 0 16 16\"><path d=\"M5.5 4.5 1.5 8l4 3.5M10.5 4.5l4 3.5-4 3.5\"/></symbol>",
    "<symbol id=\"p\" viewBox=\"0 0 16 16\"><path d=\"M3.5 1.5h6l3 3v10h-9zM5 9.5h6v3H5z\"/></symbol>",
    "</svg>\n"
);

/// The icon (a symbol id of `SPRITE`) of a file by its name's extension.
pub fn icon(name: &[u8], is_dir: bool) -> &'static str {
    if is_dir {
        return "d";
    }
    let Some(dot) = name.iter().rposition(|&b| b == b'.') else {
        return "f";
    };
    let ext = &name[dot + 1..];
    if ext.len() > 5 {
        return "f";
    }
    let mut lower = [0u8; 5];
    for (l, b) in lower.iter_mut().zip(ext) {
        *l = b.to_ascii_lowercase();
    }
    match &lower[..ext.len()] {
        b"txt" | b"md" | b"rst" | b"log" | b"csv" | b"tsv" | b"org" | b"ini" | b"conf" => "t",
        b"png" | b"jpg" | b"jpeg" | b"gif" | b"webp" | b"avif" | b"svg" | b"bmp" | b"ico"
        | b"tif" | b"tiff" | b"heic" => "i",
        b"mp3" | b"ogg" | b"oga" | b"opus" | b"flac" | b"wav" | b"m4a" | b"aac" => "a",
        b"mp4" | b"m4v" | b"webm" | b"mkv" | b"mov" | b"avi" | b"ogv" => "v",
        b"zip" | b"tar" | b"gz" | b"tgz" | b"bz2" | b"xz" | b"zst" | b"7z" | b"rar" | b"br"
        | b"deb" | b"rpm" | b"iso" => "z",
        b"rs" | b"c" | b"h" | b"cc" | b"cpp" | b"hpp" | b"go" | b"py" | b"js" | b"mjs" | b"ts"
        | b"java" | b"kt" | b"rb" | b"php" | b"sh" | b"html" | b"htm" | b"css" | b"json"
        | b"toml" | b"yaml" | b"yml" | b"xml" | b"sql" | b"lua" | b"swift" => "c",
        b"pdf" => "p",
        _ => "f",
    }
}

/// The Content-Security-Policy of a listing page: nothing but its own style and script (by
/// hash), images from the server itself (a README's pictures) or inline, requests from the
/// script to the server itself only (uploads, renames, the list's refresh), no `<base>`, no
/// form submission, no framing (so no clickjacking either).
pub fn csp() -> &'static [u8] {
    static CSP: OnceLock<Vec<u8>> = OnceLock::new();
    CSP.get_or_init(|| {
        let mut v = b"default-src 'none'; img-src 'self' data:; style-src 'sha256-".to_vec();
        v.extend_from_slice(hash_source(STYLE).as_bytes());
        v.extend_from_slice(b"'; script-src 'sha256-");
        v.extend_from_slice(hash_source(SCRIPT).as_bytes());
        v.extend_from_slice(
            b"'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        );
        v
    })
}

/// The base64 of `text`'s SHA-256, as a CSP hash source writes it.
fn hash_source(text: &str) -> String {
    crate::base64::encode(&sha256(text.as_bytes()), crate::base64::STD, true)
}

/// SHA-256 (FIPS 180-4 §6.2) of `data` (also the staging names of resumable uploads).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    // The message, a 1 bit, zeros, and its length in bits: a whole number of 64-byte blocks.
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-4's examples (NIST CSRC "SHA256.pdf"): "abc", the empty message and the
    /// two-block message.
    #[test]
    fn sha256_vectors() {
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn icons_by_extension() {
        assert_eq!(icon(b"x", true), "d");
        assert_eq!(icon(b"photo.JPG", false), "i");
        assert_eq!(icon(b"a.tar.gz", false), "z");
        assert_eq!(icon(b"main.rs", false), "c");
        assert_eq!(icon(b"paper.pdf", false), "p");
        assert_eq!(icon(b"noext", false), "f");
        assert_eq!(icon(b"x.verylongext", false), "f");
    }
}
