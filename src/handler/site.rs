//! Sites as served: each site's open root, its rules ready to read (`Rule`, with the
//! `Extras` its answers carry rendered once), and the choice of a site for a request by its
//! Host and the connection's SNI name (`pick`).
//!
//! Built from `config::SiteConfig` when the server starts and at each reload; read by the
//! router for every request. It owns no I/O after it is built.

use super::reply::Extras;
use crate::config::{Config, RuleConfig, SiteConfig};
use crate::sys::{self, OwnedFd};
use std::ffi::CString;
use std::path::PathBuf;

/// One site: names, open root, rules (longest prefix first, "/" last).
pub struct Site {
    pub names: Vec<String>,
    pub root: OwnedFd,
    pub root_path: PathBuf,
    pub index: CString,
    pub dotfiles: bool,
    pub rules: Vec<Rule>,
    /// Some rule allows writes (the router's question for every request, answered once).
    pub writes: bool,
    /// Plain requests are answered 308 to https (the site's `redirect_https`, else
    /// `--redirect-https`).
    pub redirect_https: bool,
}

/// What a path prefix allows, and what its answers carry over plain HTTP (`extras[0]`) and
/// HTTPS (`extras[1]`, with the site's `hsts` or `--hsts`).
pub struct Rule {
    pub prefix: String,
    pub listing: bool,
    /// With writes on: the length of the prefix where they were turned on (a DELETE of that
    /// folder itself is refused).
    pub write: Option<usize>,
    /// With CGI on: the length of the prefix where it was turned on.
    pub cgi: Option<usize>,
    pub readers: Option<Vec<String>>,
    pub writers: Option<Vec<String>>,
    pub extras: [Extras; 2],
}

impl Site {
    /// Open the root and render the rules' extras, with what the site takes from the
    /// server's settings (`server`). One-line errors.
    pub fn open(c: &SiteConfig, server: &Config) -> Result<Site, String> {
        let hsts = c.hsts_under(server);
        let root = sys::fs::open_root(&c.root).map_err(|e| {
            let why = std::io::Error::from_raw_os_error(e.raw_os_error());
            format!(
                "{}: cannot open: {}",
                c.root.display(),
                crate::config::io_reason(&why)
            )
        })?;
        let index = CString::new(c.index.clone()).map_err(|_| "index: NUL byte".to_string())?;
        let mut rules = Vec::with_capacity(c.rules.len());
        for r in &c.rules {
            rules.push(Rule::new(r, hsts)?);
        }
        Ok(Site {
            names: c.names.clone(),
            root,
            root_path: c.root.clone(),
            index,
            dotfiles: c.dotfiles,
            writes: rules.iter().any(|r: &Rule| r.write.is_some()),
            rules,
            redirect_https: c.redirects_under(server),
        })
    }

    /// The index of the rule of the longest prefix `path` (decoded) starts with; "/" at
    /// least.
    pub fn rule_at(&self, path: &[u8]) -> usize {
        self.rules
            .iter()
            .position(|r| path.starts_with(r.prefix.as_bytes()))
            .unwrap_or(self.rules.len() - 1)
    }

    /// The rule for "/": what answers carry before their path is known (a 400).
    pub fn base(&self) -> &Rule {
        self.rules.last().expect("a site has its rule for /")
    }

    /// The prefixes where writes begin, for the start-up sweep of unfinished uploads.
    pub fn write_prefixes(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for r in &self.rules {
            if let Some(n) = r.write {
                let p = &r.prefix[..n.min(r.prefix.len())];
                if !v.iter().any(|q| q == p) {
                    v.push(p.to_string());
                }
            }
        }
        v
    }
}

impl Rule {
    fn new(c: &RuleConfig, hsts: Option<u64>) -> Result<Rule, String> {
        let plain = Extras::new(c)?;
        let mut secure = plain.clone();
        if let Some(age) = hsts {
            crate::http::response::header(
                &mut secure.extra_headers,
                "Strict-Transport-Security",
                format!("max-age={age}").as_bytes(),
            );
        }
        Ok(Rule {
            prefix: c.prefix.clone(),
            listing: c.listing,
            write: c.write.as_ref().map(String::len),
            cgi: c.cgi.as_ref().map(String::len),
            readers: c.readers.clone(),
            writers: c.writers.clone(),
            extras: [plain, secure],
        })
    }
}

/// Which site answers: the one that lists the request's host name, else the one that lists
/// the connection's SNI name, else `default`. `Err` with the SNI name's site when both name
/// a site and they differ (RFC 9110 §15.5.20: 421, the connection is not for that host).
pub fn pick(
    sites: &[Site],
    default: usize,
    host: Option<&[u8]>,
    sni: Option<&str>,
) -> Result<usize, usize> {
    if sites.len() == 1 {
        return Ok(0);
    }
    let by_host = host.and_then(|h| find(sites, crate::http::host::name(h)));
    let by_sni = sni.and_then(|n| find(sites, n.as_bytes()));
    match (by_host, by_sni) {
        (Some(h), Some(s)) if h != s => Err(s),
        (Some(h), _) => Ok(h),
        (None, Some(s)) => Ok(s),
        (None, None) => Ok(default),
    }
}

/// The site that lists `name` (exactly, or under a wildcard), exact names first.
fn find(sites: &[Site], name: &[u8]) -> Option<usize> {
    use crate::http::host::matches;
    let exact = sites.iter().position(|s| {
        s.names
            .iter()
            .any(|n| !n.starts_with('*') && matches(n, name))
    });
    exact.or_else(|| {
        sites
            .iter()
            .position(|s| s.names.iter().any(|n| matches(n, name)))
    })
}
