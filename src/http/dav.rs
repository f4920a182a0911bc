//! WebDAV's protocol rules (RFC 4918), with no I/O: the request bodies of PROPFIND,
//! PROPPATCH and LOCK read into what they ask for, the Depth, Overwrite, Destination,
//! Timeout and Lock-Token fields, and the pieces of a multistatus answer (§13) and of a
//! `lockdiscovery` written into a buffer. The `If` field is `if_header`'s.
//!
//! XML is read with quick-xml, a streaming reader that never expands an entity: only the
//! five predefined ones and character references are taken, a DOCTYPE (where entities
//! would be declared) is refused, and so is nesting deeper than `MAX_DEPTH`. A body is at
//! most `MAX_BODY` bytes (the connection enforces it before this runs), so what is built
//! from it is bounded too: an XML bomb or 10,000 nested elements is a 400 in bounded memory.
//! Namespaces are resolved as the Namespaces in XML recommendation says (an undeclared
//! prefix is an error), and a property is a (namespace URI, local name) pair, whatever
//! prefix the client chose. It does not know about files, xattrs or replies.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Largest PROPFIND or PROPPATCH body taken (413 past it): clients send a few hundred bytes
/// to a few KiB; 64 KiB leaves room for many properties and bounds what a request costs.
pub const MAX_BODY: usize = 64 * 1024;
/// Deepest element nesting in a request body: DAV bodies nest 4 levels, dead property
/// values a few more; a deep nesting is an attack, not a request.
pub const MAX_DEPTH: usize = 32;
/// Most properties one PROPFIND may name, or one PROPPATCH may set or remove.
pub const MAX_PROPS: usize = 256;

/// The namespace of WebDAV's own elements.
pub const DAV: &str = "DAV:";

/// A body that is not the XML it must be (400, RFC 4918 §8.2).
#[derive(Debug, PartialEq, Eq)]
pub struct BadXml;

/// A property's name: its namespace URI ("" for none) and local name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub ns: String,
    pub local: String,
}

impl Name {
    pub fn dav(local: &str) -> Name {
        Name {
            ns: DAV.to_string(),
            local: local.to_string(),
        }
    }

    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }
}

/// What a PROPFIND asks for (§9.1).
#[derive(Debug, PartialEq, Eq)]
pub enum Find {
    AllProp,
    PropName,
    Props(Vec<Name>),
}

/// One instruction of a PROPPATCH (§9.2), in document order: set a property to a value
/// (its content as XML, every namespace declared on each element, so that it reads alike
/// wherever it is written), or remove it.
#[derive(Debug, PartialEq, Eq)]
pub enum Patch {
    Set(Name, String),
    Remove(Name),
}

/// An element of a request body, as read.
#[derive(Debug)]
struct Element {
    name: Name,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }
}

/// Read a whole body into its element tree (bounded by the body's size and `MAX_DEPTH`).
fn read_tree(body: &[u8]) -> Result<Element, BadXml> {
    let text = std::str::from_utf8(body).map_err(|_| BadXml)?;
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let (ns, ev) = reader.read_resolved_event().map_err(|_| BadXml)?;
        let ns = match ns {
            // The reader gives a namespace as written in its attribute: references in it
            // are resolved here (the predefined ones and characters only).
            ResolveResult::Bound(n) => Some(
                quick_xml::escape::unescape(n.0)
                    .map_err(|_| BadXml)?
                    .into_owned(),
            ),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(_) => return Err(BadXml),
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() || stack.len() >= MAX_DEPTH {
                    return Err(BadXml);
                }
                // Namespaces in XML §3: a prefix may not be bound to the empty name.
                for a in e.attributes() {
                    let a = a.map_err(|_| BadXml)?;
                    let key: &str = a.key.as_ref();
                    if key.starts_with("xmlns:") && a.value.is_empty() {
                        return Err(BadXml);
                    }
                }
                let local_name = e.local_name();
                let local: &str = local_name.as_ref();
                if !is_ncname(local) {
                    return Err(BadXml);
                }
                let el = Element {
                    name: Name {
                        ns: ns.unwrap_or_default(),
                        local: local.to_string(),
                    },
                    children: Vec::new(),
                };
                if matches!(ev, Event::Start(_)) {
                    stack.push(el);
                } else {
                    close(&mut stack, &mut root, el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or(BadXml)?;
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                push_text(&mut stack, &s)?;
            }
            Event::CData(t) => {
                let s = t.xml10_content();
                push_text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let c = if let Some(c) = r.resolve_char_ref().map_err(|_| BadXml)? {
                    c
                } else {
                    let name: &str = &r;
                    match name {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        // No entity is ever declared (DOCTYPE is refused): none expands.
                        _ => return Err(BadXml),
                    }
                };
                push_text(&mut stack, c.encode_utf8(&mut [0u8; 4]))?;
            }
            Event::DocType(_) => return Err(BadXml),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(BadXml);
    }
    root.ok_or(BadXml)
}

/// Namespaces in XML §3 (NCName) and XML 1.0 §2.3, in short: a name starts with a letter,
/// `_` or a non-ASCII character and goes on with those, digits, `-` and `.`; no colon. The
/// reader splits names at white space only, so `<a="x">` would otherwise name `a="x"`.
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let start = |c: char| c.is_ascii_alphabetic() || c == '_' || !c.is_ascii();
    chars.next().is_some_and(start)
        && chars.all(|c| start(c) || c.is_ascii_digit() || c == '-' || c == '.')
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

/// Text belongs inside the root; whitespace around it is allowed, nothing else is. XML 1.0
/// §2.2: no control character but tab, LF and CR, written or referenced (`&#0;`).
fn push_text(stack: &mut [Element], s: &str) -> Result<(), BadXml> {
    if s.chars().any(|c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{fffe}' || c == '\u{ffff}'
    }) {
        return Err(BadXml);
    }
    match stack.last_mut() {
        Some(el) => {
            if let Some(Node::Text(t)) = el.children.last_mut() {
                t.push_str(s);
            } else {
                el.children.push(Node::Text(s.to_string()));
            }
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(BadXml),
    }
}

/// A PROPFIND body (§9.1, §14.20): empty means allprop.
pub fn parse_propfind(body: &[u8]) -> Result<Find, BadXml> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Find::AllProp);
    }
    let root = read_tree(body)?;
    if !root.name.is(DAV, "propfind") {
        return Err(BadXml);
    }
    // §14.20: exactly one of propname, allprop (with an optional include), prop.
    for el in root.elements() {
        if el.name.ns != DAV {
            continue; // §17: unknown elements are ignored
        }
        match el.name.local.as_str() {
            "propname" => return Ok(Find::PropName),
            "allprop" => return Ok(Find::AllProp),
            "prop" => {
                let names: Vec<Name> = el.elements().map(|p| p.name.clone()).collect();
                if names.len() > MAX_PROPS {
                    return Err(BadXml);
                }
                return Ok(Find::Props(names));
            }
            _ => {}
        }
    }
    Err(BadXml)
}

/// A PROPPATCH body (§9.2, §14.19): its sets and removes, in order.
pub fn parse_proppatch(body: &[u8]) -> Result<Vec<Patch>, BadXml> {
    let root = read_tree(body)?;
    if !root.name.is(DAV, "propertyupdate") {
        return Err(BadXml);
    }
    let mut out = Vec::new();
    for op in root.elements() {
        let set = match (op.name.ns.as_str(), op.name.local.as_str()) {
            (DAV, "set") => true,
            (DAV, "remove") => false,
            _ => continue,
        };
        for prop in op.elements().filter(|e| e.name.is(DAV, "prop")) {
            for p in prop.elements() {
                if set {
                    let mut value = String::new();
                    for c in &p.children {
                        write_node(c, &mut value);
                    }
                    out.push(Patch::Set(p.name.clone(), value));
                } else {
                    out.push(Patch::Remove(p.name.clone()));
                }
                if out.len() > MAX_PROPS {
                    return Err(BadXml);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(BadXml);
    }
    Ok(out)
}

/// What a LOCK body asks for (§9.10, §14.11): the lock's scope and its owner (the `owner`
/// element's content as XML, written as `write_node` writes property values).
#[derive(Debug, PartialEq, Eq)]
pub struct LockInfo {
    pub exclusive: bool,
    pub owner: Option<String>,
}

/// A LOCK body (§14.11): `lockscope` (exclusive or shared) and `locktype` (write, the only
/// one there is) are required; `owner` is kept as sent.
pub fn parse_lockinfo(body: &[u8]) -> Result<LockInfo, BadXml> {
    let root = read_tree(body)?;
    if !root.name.is(DAV, "lockinfo") {
        return Err(BadXml);
    }
    let mut exclusive = None;
    let mut write = false;
    let mut owner = None;
    for el in root.elements().filter(|e| e.name.ns == DAV) {
        match el.name.local.as_str() {
            "lockscope" => {
                for s in el.elements() {
                    if s.name.is(DAV, "exclusive") {
                        exclusive = Some(true);
                    } else if s.name.is(DAV, "shared") {
                        exclusive = Some(false);
                    }
                }
            }
            "locktype" => write |= el.elements().any(|t| t.name.is(DAV, "write")),
            "owner" => {
                let mut v = String::new();
                for c in &el.children {
                    write_node(c, &mut v);
                }
                owner = Some(v);
            }
            _ => {}
        }
    }
    match (exclusive, write) {
        (Some(exclusive), true) => Ok(LockInfo { exclusive, owner }),
        _ => Err(BadXml),
    }
}

/// The Timeout field (§10.7): the first value understood, in seconds (`Infinite`:
/// `u64::MAX`); `None` when absent or when no value is understood (the server chooses).
pub fn timeout(value: Option<&[u8]>) -> Option<u64> {
    value?.split(|&b| b == b',').find_map(|v| {
        let v = v.trim_ascii();
        if v.eq_ignore_ascii_case(b"Infinite") {
            return Some(u64::MAX);
        }
        let n = v.get(..7).filter(|p| p.eq_ignore_ascii_case(b"Second-"))?;
        let digits = &v[n.len()..];
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    })
}

/// The Lock-Token field (§10.5): the Coded-URL's token, without its angle brackets.
pub fn lock_token(value: &[u8]) -> Option<&[u8]> {
    let t = value.trim_ascii().strip_prefix(b"<")?.strip_suffix(b">")?;
    (!t.is_empty()
        && t.iter()
            .all(|&b| b > b' ' && b != b'<' && b != b'>' && b < 0x7f))
    .then_some(t)
}

/// An active lock as `lockdiscovery` shows it (§15.8, §14.1).
pub struct ActiveLock<'a> {
    pub exclusive: bool,
    pub deep: bool,
    pub owner: Option<&'a str>,
    pub timeout: u64,
    pub token: &'a str,
    /// The lock's root, percent-encoded.
    pub root: &'a [u8],
}

/// `<D:activelock>…</D:activelock>`.
pub fn activelock(out: &mut Vec<u8>, l: &ActiveLock) {
    out.extend_from_slice(b"<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope>");
    out.extend_from_slice(if l.exclusive {
        b"<D:exclusive/>"
    } else {
        b"<D:shared/>"
    });
    out.extend_from_slice(b"</D:lockscope><D:depth>");
    out.extend_from_slice(if l.deep { b"infinity" } else { b"0" });
    out.extend_from_slice(b"</D:depth>");
    if let Some(o) = l.owner {
        out.extend_from_slice(b"<D:owner>");
        out.extend_from_slice(o.as_bytes());
        out.extend_from_slice(b"</D:owner>");
    }
    out.extend_from_slice(b"<D:timeout>Second-");
    super::response::push_u64(out, l.timeout);
    out.extend_from_slice(b"</D:timeout><D:locktoken><D:href>");
    push_escaped(out, l.token.as_bytes());
    out.extend_from_slice(b"</D:href></D:locktoken><D:lockroot><D:href>");
    push_escaped(out, l.root);
    out.extend_from_slice(b"</D:href></D:lockroot></D:activelock>");
}

/// The value of `supportedlock` (§15.10): exclusive and shared write locks.
pub const SUPPORTED_LOCK: &[u8] = b"<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry><D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>";

/// The body of a LOCK's answer (§9.10.1): the `lockdiscovery` property of the lock.
pub fn lock_answer(l: &ActiveLock) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery>",
    );
    activelock(&mut out, l);
    out.extend_from_slice(b"</D:lockdiscovery></D:prop>\n");
    out
}

/// Write a node of a property's value as XML, each element declaring its own namespace.
fn write_node(n: &Node, out: &mut String) {
    match n {
        Node::Text(t) => escape_into(t, out),
        Node::Element(e) => {
            out.push('<');
            out.push_str(&e.name.local);
            out.push_str(" xmlns=\"");
            escape_into(&e.name.ns, out);
            out.push('"');
            if e.children.is_empty() {
                out.push_str("/>");
                return;
            }
            out.push('>');
            for c in &e.children {
                write_node(c, out);
            }
            out.push_str("</");
            out.push_str(&e.name.local);
            out.push('>');
        }
    }
}

/// Escape text for XML content or a double-quoted attribute.
pub fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// The Depth field (§10.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    Zero,
    One,
    Infinity,
}

/// Depth's value, `default` when absent; `Err` for any other value (400).
pub fn depth(value: Option<&[u8]>, default: Depth) -> Result<Depth, BadXml> {
    match value.map(|v| v.trim_ascii()) {
        None => Ok(default),
        Some(b"0") => Ok(Depth::Zero),
        Some(b"1") => Ok(Depth::One),
        Some(v) if v.eq_ignore_ascii_case(b"infinity") => Ok(Depth::Infinity),
        Some(_) => Err(BadXml),
    }
}

/// The Overwrite field (§10.6): true unless "F"; `Err` for any other value than T or F.
pub fn overwrite(value: Option<&[u8]>) -> Result<bool, BadXml> {
    match value.map(|v| v.trim_ascii()) {
        None => Ok(true),
        Some(b"T" | b"t") => Ok(true),
        Some(b"F" | b"f") => Ok(false),
        Some(_) => Err(BadXml),
    }
}

/// A Destination field (§10.3) split: the authority it names (`None` for an absolute
/// path), and its path as sent (still percent-encoded, query and fragment cut off).
pub fn destination(value: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let v = value.trim_ascii();
    let (authority, path) = if v.starts_with(b"/") {
        (None, v)
    } else {
        let colon = v.iter().position(|&b| b == b':')?;
        let scheme = &v[..colon];
        if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
            return None;
        }
        let rest = v[colon + 1..].strip_prefix(b"//")?;
        let slash = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        let path = if slash == rest.len() {
            &b"/"[..]
        } else {
            &rest[slash..]
        };
        (Some(&rest[..slash]), path)
    };
    let end = path
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(path.len());
    Some((authority, &path[..end]))
}

/// Whether a Destination's authority names the host the request was sent to (its Host
/// field): alike but for case and the scheme's default port (`secure`: 443, else 80).
pub fn same_authority(authority: &[u8], host: &[u8], secure: bool) -> bool {
    let default: &[u8] = if secure { b":443" } else { b":80" };
    let bare = |a: &[u8]| -> Vec<u8> {
        let a = a.strip_suffix(default).unwrap_or(a);
        a.to_ascii_lowercase()
    };
    bare(authority) == bare(host)
}

/// The start of a multistatus body (§14.16); DAV's elements take the prefix `D`, and no
/// default namespace is declared, so that property values can declare their own.
pub fn multistatus_start(out: &mut Vec<u8>) {
    out.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\n",
    );
}

pub fn multistatus_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"</D:multistatus>\n");
}

/// `<D:response><D:href>HREF</D:href>` (the href percent-encoded already).
pub fn response_start(out: &mut Vec<u8>, href: &[u8]) {
    out.extend_from_slice(b"<D:response><D:href>");
    push_escaped(out, href);
    out.extend_from_slice(b"</D:href>");
}

pub fn response_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"</D:response>\n");
}

/// A response that is a status alone (§14.24).
pub fn response_status(out: &mut Vec<u8>, href: &[u8], status: u16) {
    response_start(out, href);
    status_line(out, status);
    response_end(out);
}

/// `<D:status>HTTP/1.1 NNN Reason</D:status>`.
pub fn status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"<D:status>HTTP/1.1 ");
    super::response::push_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(super::response::reason(status).as_bytes());
    out.extend_from_slice(b"</D:status>");
}

pub fn propstat_start(out: &mut Vec<u8>) {
    out.extend_from_slice(b"<D:propstat><D:prop>");
}

pub fn propstat_end(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"</D:prop>");
    status_line(out, status);
    out.extend_from_slice(b"</D:propstat>");
}

/// A property element with `value` (XML already) as its content; empty when `None`.
pub fn prop(out: &mut Vec<u8>, name: &Name, value: Option<&[u8]>) {
    let dav = name.ns == DAV;
    out.push(b'<');
    if dav {
        out.extend_from_slice(b"D:");
        out.extend_from_slice(name.local.as_bytes());
    } else if name.ns.is_empty() {
        out.extend_from_slice(name.local.as_bytes());
        out.extend_from_slice(b" xmlns=\"\"");
    } else {
        out.extend_from_slice(b"P:");
        out.extend_from_slice(name.local.as_bytes());
        out.extend_from_slice(b" xmlns:P=\"");
        push_attr(out, name.ns.as_bytes());
        out.push(b'"');
    }
    match value {
        None => out.extend_from_slice(b"/>"),
        Some(v) => {
            out.push(b'>');
            out.extend_from_slice(v);
            out.extend_from_slice(b"</");
            if dav {
                out.extend_from_slice(b"D:");
            } else if !name.ns.is_empty() {
                out.extend_from_slice(b"P:");
            }
            out.extend_from_slice(name.local.as_bytes());
            out.push(b'>');
        }
    }
}

/// An error body (§16) whose precondition names a resource (`lock-token-submitted`: the
/// root of the lock whose token was not submitted), its href percent-encoded already.
pub fn error_body_href(condition: &str, href: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + href.len());
    out.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:",
    );
    out.extend_from_slice(condition.as_bytes());
    out.extend_from_slice(b"><D:href>");
    push_escaped(&mut out, href);
    out.extend_from_slice(b"</D:href></D:");
    out.extend_from_slice(condition.as_bytes());
    out.extend_from_slice(b"></D:error>\n");
    out
}

/// An error body (§16) with one precondition element of DAV:.
pub fn error_body(condition: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:{condition}/></D:error>\n"
    )
    .into_bytes()
}

/// Escape bytes for XML content (quotes stay as they are: an ETag reads as sent).
pub fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            _ => out.push(b),
        }
    }
}

/// Escape bytes for a double-quoted attribute value.
fn push_attr(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => push_escaped(out, &[b]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4918_9_1_propfind_bodies() {
        assert_eq!(parse_propfind(b""), Ok(Find::AllProp));
        let b = br#"<?xml version="1.0"?><a:propfind xmlns:a="DAV:"><a:prop><x:foo xmlns:x="urn:x"/><getetag xmlns="DAV:"/></a:prop></a:propfind>"#;
        assert_eq!(
            parse_propfind(b),
            Ok(Find::Props(vec![
                Name {
                    ns: "urn:x".into(),
                    local: "foo".into()
                },
                Name::dav("getetag")
            ]))
        );
        let b = br#"<propfind xmlns="DAV:"><propname/></propfind>"#;
        assert_eq!(parse_propfind(b), Ok(Find::PropName));
    }

    #[test]
    fn malformed_and_hostile_bodies_are_refused() {
        for b in [
            &b"<D:propfind xmlns:D=\"DAV:\"><D:prop></D:propfind>"[..],
            b"<propfind xmlns=\"DAV:\"><prop><bar:foo xmlns:bar=\"\"/></prop></propfind>",
            b"<x:propfind/>",
            b"<!DOCTYPE d [<!ENTITY a \"aaaa\">]><propfind xmlns=\"DAV:\">&a;</propfind>",
            b"<propfind xmlns=\"DAV:\"><allprop/></propfind><second/>",
            b"\xff\xfe",
            b"<a:b:c xmlns:a=\"urn:a\"/>",
            b"<propfind xmlns=\"DAV:&undefined;\"/>",
            b"<propfind xmlns=\"DAV:\">&#0;<allprop/></propfind>",
            b"<propfind xmlns=\"DAV:\"><f=\"x\"/></propfind>",
            b"<propfind xmlns=\"DAV:\">\x02<allprop/></propfind>",
        ] {
            assert_eq!(
                parse_propfind(b),
                Err(BadXml),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
        let deep = format!(
            "<propfind xmlns=\"DAV:\">{}{}</propfind>",
            "<a>".repeat(10_000),
            "</a>".repeat(10_000)
        );
        assert_eq!(parse_propfind(deep.as_bytes()), Err(BadXml));
    }

    #[test]
    fn rfc4918_9_2_proppatch_values_keep_their_namespaces() {
        let b = br#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:a>x &amp; &#x1F600;</Z:a><Z:b><foo xmlns='bar'/></Z:b></D:prop></D:set><D:remove><D:prop><Z:c/></D:prop></D:remove></D:propertyupdate>"#;
        let z = |l: &str| Name {
            ns: "urn:z".into(),
            local: l.into(),
        };
        assert_eq!(
            parse_proppatch(b),
            Ok(vec![
                Patch::Set(z("a"), "x &amp; \u{1F600}".into()),
                Patch::Set(z("b"), "<foo xmlns=\"bar\"/>".into()),
                Patch::Remove(z("c")),
            ])
        );
        // A namespace is compared and written unescaped once (fuzz finding).
        let b = br#"<D:propertyupdate xmlns:D="DA&#86;:"><D:set><D:prop><x xmlns="a&amp;b"><y xmlns="c&lt;"/></x></D:prop></D:set></D:propertyupdate>"#;
        assert_eq!(
            parse_proppatch(b),
            Ok(vec![Patch::Set(
                Name {
                    ns: "a&b".into(),
                    local: "x".into()
                },
                "<y xmlns=\"c&lt;\"/>".into()
            )])
        );
    }

    #[test]
    fn rfc4918_9_10_lock_bodies_and_fields() {
        let b = br#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>http://example.org/~ejw/contact.html</D:href></D:owner></D:lockinfo>"#;
        assert_eq!(
            parse_lockinfo(b),
            Ok(LockInfo {
                exclusive: true,
                owner: Some(
                    "<href xmlns=\"DAV:\">http://example.org/~ejw/contact.html</href>".into()
                )
            })
        );
        let b = br#"<lockinfo xmlns="DAV:"><lockscope><shared/></lockscope><locktype><write/></locktype></lockinfo>"#;
        assert_eq!(
            parse_lockinfo(b),
            Ok(LockInfo {
                exclusive: false,
                owner: None
            })
        );
        let no_type = br#"<lockinfo xmlns="DAV:"><lockscope><shared/></lockscope></lockinfo>"#;
        assert_eq!(parse_lockinfo(no_type), Err(BadXml));
        assert_eq!(parse_lockinfo(b"<propfind xmlns=\"DAV:\"/>"), Err(BadXml));
        assert_eq!(
            timeout(Some(b"Infinite, Second-4100000000")),
            Some(u64::MAX)
        );
        assert_eq!(timeout(Some(b"Second-x, second-60")), Some(60));
        assert_eq!(timeout(Some(b"Minute-5")), None);
        assert_eq!(timeout(None), None);
        assert_eq!(lock_token(b" <urn:uuid:a> "), Some(&b"urn:uuid:a"[..]));
        assert_eq!(lock_token(b"urn:uuid:a"), None);
        assert_eq!(lock_token(b"<>"), None);
    }

    #[test]
    fn rfc4918_10_fields() {
        assert_eq!(depth(None, Depth::Infinity), Ok(Depth::Infinity));
        assert_eq!(depth(Some(b"1"), Depth::Zero), Ok(Depth::One));
        assert_eq!(depth(Some(b"Infinity"), Depth::Zero), Ok(Depth::Infinity));
        assert!(depth(Some(b"2"), Depth::Zero).is_err());
        assert_eq!(overwrite(Some(b"F")), Ok(false));
        assert!(overwrite(Some(b"x")).is_err());
        assert_eq!(
            destination(b"http://h:8/a%20b?q"),
            Some((Some(&b"h:8"[..]), &b"/a%20b"[..]))
        );
        assert_eq!(destination(b"/x/y"), Some((None, &b"/x/y"[..])));
        assert_eq!(destination(b"ftp://h/x"), None);
        assert!(same_authority(b"Example.org:80", b"example.org", false));
        assert!(same_authority(b"h:443", b"H", true));
        assert!(!same_authority(b"h:443", b"h", false));
        assert!(!same_authority(b"other", b"h", false));
    }
}
