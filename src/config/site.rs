//! Sites and their path rules, as validated settings: what the command line (one site) or
//! the config file (`file.rs`, several) asks to be served, before anything is opened.
//!
//! A site is a root folder and the host names it answers for. Inside it, rules by URL path
//! prefix say what is allowed there (listing, writes and by whom, CGI) and what answers
//! carry (extra headers, Cache-Control, a fallback file, error pages). The longest prefix
//! that a path starts with wins; a rule says only what differs from the rule around it, and
//! takes everything else from there, down to the site's own rule for "/". `materialize`
//! resolves that once, so that a request looks up one rule and reads its fields.

use super::{ConfigError, err};
use std::path::PathBuf;

/// Most sites one server holds: each has a file cache and a change watcher per worker
/// (inotify instances are limited per user, 128 by default on Linux), and a request finds
/// its site by a scan of their names.
pub const MAX_SITES: usize = 64;
/// Most path rules per site: a request scans them for the longest prefix.
pub const MAX_RULES: usize = 64;
/// Most host names per site (and so per scan).
pub const MAX_NAMES: usize = 64;

/// One site: its names, its root, and its rules (longest prefix first, "/" last).
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// Host names, lower case: exact (`example.com`) or a wildcard (`*.example.com`, any
    /// name ending in `.example.com`). Empty: the site answers every name (the flags' site).
    pub names: Vec<String>,
    /// Canonical path of the served folder.
    pub root: PathBuf,
    pub index: String,
    pub dotfiles: bool,
    /// The site for names no site lists (and for requests without a name).
    pub default: bool,
    pub rules: Vec<RuleConfig>,
    /// `hsts` as the site sets it: `Some(None)` (`hsts = false`) sends none, `None` leaves
    /// the server's `--hsts` (`hsts_under`).
    pub hsts: Option<Option<u64>>,
    /// `redirect_https` as the site sets it; `None` leaves the server's `--redirect-https`
    /// (`redirects_under`).
    pub redirect_https: Option<bool>,
    /// Where the site is described, for messages: "FILE:LINE" or "the command line".
    pub origin: String,
}

impl SiteConfig {
    /// The Strict-Transport-Security max-age of the site's HTTPS answers: its own `hsts`,
    /// else the server's, as nginx's `add_header` in a `server` block overrides `http`'s.
    pub fn hsts_under(&self, server: &super::Config) -> Option<u64> {
        self.hsts.unwrap_or(server.hsts)
    }

    /// Plain requests for the site are sent to https: its own `redirect_https`, else the
    /// server's.
    pub fn redirects_under(&self, server: &super::Config) -> bool {
        self.redirect_https.unwrap_or(server.redirect_https)
    }

    /// The key that asks for HTTPS (`redirect_https = true`, or an `hsts` max-age), for the
    /// refusal of a server with no TLS listener to answer it.
    pub fn https_key(&self) -> Option<&'static str> {
        if self.redirect_https == Some(true) {
            Some("redirect_https")
        } else if matches!(self.hsts, Some(Some(_))) {
            Some("hsts")
        } else {
            None
        }
    }
}

/// What one path prefix allows and adds, with everything inherited already filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleConfig {
    /// URL path prefix, decoded, starting and ending with '/'.
    pub prefix: String,
    pub listing: bool,
    /// PUT and DELETE allowed: the prefix where writing was turned on (a folder that a
    /// DELETE may not remove), or `None`.
    pub write: Option<String>,
    /// Programs run here: the prefix where CGI was turned on (scripts are found below it).
    pub cgi: Option<String>,
    pub headers: Vec<(String, String)>,
    pub cache_control: Option<String>,
    /// Relative to the root, no leading '/'.
    pub fallback: Option<String>,
    pub error_pages: Option<PathBuf>,
    /// Users (of the credentials file) who may read here; `None`: anyone may.
    pub readers: Option<Vec<String>>,
    /// Users who may write here; `None`: every user of the credentials file.
    pub writers: Option<Vec<String>>,
}

/// A rule as written: only what it sets.
#[derive(Clone, Debug, Default)]
pub struct RuleDraft {
    pub prefix: String,
    pub listing: Option<bool>,
    pub write: Option<bool>,
    pub cgi: Option<bool>,
    pub headers: Option<Vec<(String, String)>>,
    pub cache_control: Option<String>,
    pub fallback: Option<String>,
    pub error_pages: Option<PathBuf>,
    pub readers: Option<Vec<String>>,
    pub writers: Option<Vec<String>>,
    /// Where it is written, for messages.
    pub origin: String,
}

/// Resolve inheritance: each rule starts from the rule of the longest prefix around it (the
/// "/" rule, `drafts[0]`, around all), and sets what it says. Headers add to those around
/// them, a header of the same name replacing the outer one. The result is sorted longest
/// prefix first, as `rule_for` wants.
pub fn materialize(mut drafts: Vec<RuleDraft>) -> Result<Vec<RuleConfig>, ConfigError> {
    if drafts.len() > MAX_RULES {
        return err(format!(
            "{}: at most {MAX_RULES} path rules per site",
            drafts[0].origin
        ));
    }
    // Shortest prefix first, so that every rule's parent is resolved before it. By hand:
    // a few dozen rules at most, and a library sort would add kilobytes to the binary.
    let mut order: Vec<usize> = Vec::with_capacity(drafts.len());
    for (i, d) in drafts.iter().enumerate() {
        if order.iter().any(|&j| drafts[j].prefix == d.prefix) {
            return err(format!(
                "{}: the prefix {:?} has a rule already",
                d.origin, d.prefix
            ));
        }
        let at = order
            .iter()
            .position(|&j| drafts[j].prefix.len() > d.prefix.len())
            .unwrap_or(order.len());
        order.insert(at, i);
    }
    let mut out: Vec<RuleConfig> = Vec::with_capacity(drafts.len());
    for i in order {
        let d = std::mem::take(&mut drafts[i]);
        let parent = out
            .iter()
            .filter(|r| d.prefix.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
            .cloned();
        let mut r = parent.unwrap_or(RuleConfig {
            prefix: String::new(),
            listing: false,
            write: None,
            cgi: None,
            headers: Vec::new(),
            cache_control: None,
            fallback: None,
            error_pages: None,
            readers: None,
            writers: None,
        });
        r.prefix = d.prefix.clone();
        if let Some(v) = d.listing {
            r.listing = v;
        }
        match d.write {
            Some(true) if r.write.is_none() => r.write = Some(d.prefix.clone()),
            Some(false) => r.write = None,
            _ => {}
        }
        match d.cgi {
            Some(true) if r.cgi.is_none() => r.cgi = Some(d.prefix.clone()),
            Some(false) => r.cgi = None,
            _ => {}
        }
        for (name, value) in d.headers.unwrap_or_default() {
            r.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            r.headers.push((name, value));
        }
        r.cache_control = d.cache_control.or(r.cache_control);
        r.fallback = d.fallback.or(r.fallback);
        r.error_pages = d.error_pages.or(r.error_pages);
        r.readers = d.readers.or(r.readers);
        r.writers = d.writers.or(r.writers);
        out.push(r);
    }
    out.reverse();
    Ok(out)
}

/// The flags' one site: the root, and a rule for "/" plus one per `--write` and `--cgi`
/// prefix.
pub fn from_flags(c: &super::Config) -> Result<SiteConfig, ConfigError> {
    let base = RuleDraft {
        prefix: "/".into(),
        listing: Some(c.listing),
        headers: Some(c.headers.clone()),
        cache_control: c.cache_control.clone(),
        fallback: c.fallback.clone(),
        error_pages: c.error_pages.clone(),
        origin: "the command line".into(),
        ..RuleDraft::default()
    };
    let mut drafts = vec![base];
    let mut add = |prefix: &String, write: bool| {
        let d = match drafts.iter_mut().find(|d| &d.prefix == prefix) {
            Some(d) => d,
            None => {
                drafts.push(RuleDraft {
                    prefix: prefix.clone(),
                    origin: "the command line".into(),
                    ..RuleDraft::default()
                });
                drafts.last_mut().expect("just pushed")
            }
        };
        if write {
            d.write = Some(true);
        } else {
            d.cgi = Some(true);
        }
    };
    for p in &c.write {
        add(p, true);
    }
    for p in &c.cgi {
        add(p, false);
    }
    Ok(SiteConfig {
        names: Vec::new(),
        root: c.root.clone(),
        index: c.index.clone(),
        dotfiles: c.dotfiles,
        default: true,
        rules: materialize(drafts)?,
        // The flags' `--hsts` and `--redirect-https` are the server's, and so the site's.
        hsts: None,
        redirect_https: None,
        origin: "the command line".into(),
    })
}

/// A host name a site may list: a DNS name (letters, digits, '-', '.'), an IP address, or
/// `*.` and a DNS name. Why not, if it is not.
pub fn host_name_problem(n: &str) -> Option<&'static str> {
    let name = n.strip_prefix("*.").unwrap_or(n);
    if name.is_empty() || name.len() > 253 {
        return Some("empty or longer than 253 bytes");
    }
    if name.parse::<std::net::IpAddr>().is_ok() && !n.starts_with('*') {
        return None;
    }
    let label_ok = |l: &str| {
        !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !name.split('.').all(label_ok) {
        return Some("labels of letters, digits and '-', separated by '.'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(prefix: &str) -> RuleDraft {
        RuleDraft {
            prefix: prefix.into(),
            origin: "test".into(),
            ..RuleDraft::default()
        }
    }

    #[test]
    fn the_longest_prefix_inherits_from_those_around_it() {
        let mut root = draft("/");
        root.listing = Some(true);
        root.headers = Some(vec![("X-A".into(), "1".into())]);
        let mut up = draft("/up/");
        up.write = Some(true);
        up.headers = Some(vec![("x-a".into(), "2".into())]);
        let mut deep = draft("/up/deep/");
        deep.cache_control = Some("no-store".into());
        let mut ro = draft("/up/ro/");
        ro.write = Some(false);
        let rules = materialize(vec![ro, deep, root, up]).unwrap();
        let names: Vec<_> = rules.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(names, ["/up/deep/", "/up/ro/", "/up/", "/"]);
        let deep = &rules[0];
        assert!(deep.listing);
        assert_eq!(
            deep.write.as_deref(),
            Some("/up/"),
            "writing begins at /up/"
        );
        assert_eq!(deep.headers, vec![("x-a".to_string(), "2".to_string())]);
        assert_eq!(deep.cache_control.as_deref(), Some("no-store"));
        assert_eq!(rules[1].write, None, "write = false turns it off below");
        assert_eq!(rules[3].write, None);
    }

    #[test]
    fn a_prefix_has_one_rule() {
        let e = materialize(vec![draft("/"), draft("/a/"), draft("/a/")]).unwrap_err();
        assert!(e.0.contains("has a rule already"), "{e}");
    }

    #[test]
    fn host_names() {
        for ok in [
            "example.com",
            "*.example.com",
            "localhost",
            "127.0.0.1",
            "::1",
            "a-b.c",
        ] {
            assert_eq!(host_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "*.", "a..b", "a_b.com", "*.*.a", "a b", "*.1.2.3.4:80"] {
            assert!(host_name_problem(bad).is_some(), "{bad}");
        }
    }
}
