//! Content-Type by file extension.
//!
//! A table of the types a web site actually serves, in the spirit of nginx's `mime.types` and
//! lighttpd's defaults (both carry about a hundred entries), written as one `match` so that it
//! compiles to code rather than to a table of pointers. The general-purpose MIME databases
//! hold over a thousand extensions; linked in, one cost about 190 KB of binary (its strings,
//! plus a dynamic relocation for every pointer in its table), a sixth of the whole server.
//! An extension missing here is served as `application/octet-stream`, as nginx does; a site
//! that needs more can name its files accordingly or front the server with its own mapping.
//!
//! What this module does not do: sniff content. The extension alone decides.

/// The MIME type for a file extension (without the dot), matched without regard to case.
pub fn by_extension(ext: &str) -> Option<&'static str> {
    // Longest extension below: "webmanifest" (11 bytes). Anything longer is unknown.
    let mut buf = [0u8; 11];
    let lower = buf.get_mut(..ext.len())?;
    lower.copy_from_slice(ext.as_bytes());
    lower.make_ascii_lowercase();
    Some(match &*lower {
        // Text and documents
        b"html" | b"htm" | b"shtml" => "text/html",
        b"css" => "text/css",
        b"js" | b"mjs" | b"cjs" => "text/javascript",
        b"txt" | b"text" | b"log" | b"conf" | b"ini" => "text/plain",
        b"md" | b"markdown" => "text/markdown",
        b"csv" => "text/csv",
        b"tsv" => "text/tab-separated-values",
        b"ics" => "text/calendar",
        b"vtt" => "text/vtt",
        b"xml" | b"xsl" | b"xsd" => "application/xml",
        b"xhtml" | b"xht" => "application/xhtml+xml",
        b"atom" => "application/atom+xml",
        b"rss" => "application/rss+xml",
        b"json" | b"map" => "application/json",
        b"jsonld" => "application/ld+json",
        b"webmanifest" => "application/manifest+json",
        b"yaml" | b"yml" => "application/yaml",
        b"toml" => "application/toml",
        b"pdf" => "application/pdf",
        b"rtf" => "application/rtf",
        b"ps" | b"eps" | b"ai" => "application/postscript",
        b"epub" => "application/epub+zip",
        b"doc" => "application/msword",
        b"xls" => "application/vnd.ms-excel",
        b"ppt" => "application/vnd.ms-powerpoint",
        b"docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        b"xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        b"pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        b"odt" => "application/vnd.oasis.opendocument.text",
        b"ods" => "application/vnd.oasis.opendocument.spreadsheet",
        b"odp" => "application/vnd.oasis.opendocument.presentation",
        b"odg" => "application/vnd.oasis.opendocument.graphics",
        b"kml" => "application/vnd.google-earth.kml+xml",
        b"kmz" => "application/vnd.google-earth.kmz",
        b"m3u8" => "application/vnd.apple.mpegurl",
        b"wasm" => "application/wasm",
        b"sh" => "application/x-sh",
        b"pem" | b"crt" | b"der" | b"cer" => "application/x-x509-ca-cert",
        // Images
        b"png" => "image/png",
        b"apng" => "image/apng",
        b"jpg" | b"jpeg" | b"jpe" => "image/jpeg",
        b"gif" => "image/gif",
        b"webp" => "image/webp",
        b"avif" => "image/avif",
        b"jxl" => "image/jxl",
        b"heic" => "image/heic",
        b"heif" => "image/heif",
        b"svg" | b"svgz" => "image/svg+xml",
        b"ico" => "image/vnd.microsoft.icon",
        b"bmp" => "image/bmp",
        b"tif" | b"tiff" => "image/tiff",
        // Fonts
        b"woff" => "font/woff",
        b"woff2" => "font/woff2",
        b"ttf" => "font/ttf",
        b"otf" => "font/otf",
        b"eot" => "application/vnd.ms-fontobject",
        // Audio
        b"mp3" => "audio/mpeg",
        b"m4a" => "audio/mp4",
        b"aac" => "audio/aac",
        b"ogg" | b"oga" => "audio/ogg",
        b"opus" => "audio/opus",
        b"flac" => "audio/flac",
        b"wav" => "audio/wav",
        b"weba" => "audio/webm",
        b"mid" | b"midi" | b"kar" => "audio/midi",
        // Video
        b"mp4" | b"m4v" => "video/mp4",
        b"webm" => "video/webm",
        b"ogv" => "video/ogg",
        b"mov" => "video/quicktime",
        b"mkv" => "video/x-matroska",
        b"avi" => "video/x-msvideo",
        b"mpeg" | b"mpg" => "video/mpeg",
        b"ts" => "video/mp2t",
        b"3gp" | b"3gpp" => "video/3gpp",
        b"flv" => "video/x-flv",
        b"wmv" => "video/x-ms-wmv",
        // Archives and binaries
        b"zip" => "application/zip",
        b"gz" | b"tgz" => "application/gzip",
        b"br" => "application/x-brotli",
        b"zst" => "application/zstd",
        b"bz2" => "application/x-bzip2",
        b"xz" => "application/x-xz",
        b"tar" => "application/x-tar",
        b"7z" => "application/x-7z-compressed",
        b"rar" => "application/vnd.rar",
        b"jar" | b"war" | b"ear" => "application/java-archive",
        b"deb" => "application/vnd.debian.binary-package",
        b"rpm" => "application/x-rpm",
        b"apk" => "application/vnd.android.package-archive",
        b"dmg" => "application/x-apple-diskimage",
        b"iso" => "application/x-iso9660-image",
        b"bin" | b"exe" | b"dll" | b"so" | b"img" | b"msi" => "application/octet-stream",
        _ => return None,
    })
}

/// Whether a type is text that gets `charset=utf-8` (so browsers do not guess): `text/*`,
/// and the JSON, XML and SVG types.
pub fn is_text(ty: &str) -> bool {
    ty.starts_with("text/")
        || matches!(
            ty,
            "application/json"
                | "application/xml"
                | "application/xhtml+xml"
                | "application/manifest+json"
                | "image/svg+xml"
        )
}

/// Content-Type from the file name's extension, and whether it is
/// a text type that gets `charset=utf-8`, so that browsers do not guess.
pub fn content_type(name: &[u8]) -> (&'static str, bool) {
    let name = std::str::from_utf8(name).unwrap_or("");
    let base = name.rsplit('/').next().unwrap_or(name);
    let ty = match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() || !ext.is_empty() => {
            by_extension(ext).unwrap_or("application/octet-stream")
        }
        _ => "application/octet-stream",
    };
    let texty = is_text(ty);
    (ty, texty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_extensions_in_any_case() {
        assert_eq!(by_extension("html"), Some("text/html"));
        assert_eq!(by_extension("HTML"), Some("text/html"));
        assert_eq!(by_extension("Js"), Some("text/javascript"));
        assert_eq!(by_extension("woff2"), Some("font/woff2"));
        assert_eq!(
            by_extension("webmanifest"),
            Some("application/manifest+json")
        );
    }

    #[test]
    fn unknown_long_or_empty_extensions_have_no_type() {
        assert_eq!(by_extension(""), None);
        assert_eq!(by_extension("nosuchext"), None);
        assert_eq!(by_extension("webmanifests"), None);
        assert_eq!(by_extension(&"x".repeat(4096)), None);
        assert_eq!(by_extension("htm\u{e9}"), None);
    }
}
