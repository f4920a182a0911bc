//! The config file (`--config FILE`, `--check-config FILE`): TOML, read with the `toml`
//! crate's spanned tables so that every message names the file, the line and the key.
//!
//! `[server]` holds what is not about one site, under the names of the flags (`listen`,
//! `max_body`, `auth_file`...; `_` or `-` alike): it is turned into those flags and read by
//! the same code as the command line, so a value means the same in both places. Each
//! `[[site]]` is a root, its host names, its certificate or ACME names, and its path rules
//! (`site.rs`); the site's own keys are its rule for "/", and `[[site.path]]` tables add
//! rules below it. A site's `hsts` and `redirect_https` override the server's keys of those
//! names (`SiteConfig::hsts_under`). The sites' certificates and ACME names become
//! `--tls-cert`/`--tls-key` pairs and `--acme` names too: the certificate store chooses by
//! SNI among all of them.
//!
//! It opens nothing but the file and checks the paths it names exist; opening the roots and
//! reading certificates is the server's, at start and at each reload.

use super::site::{self, MAX_NAMES, MAX_SITES, RuleDraft, SiteConfig};
use super::{ConfigError, valid_field_value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Largest config file read: far above any real one, and a bound on what a mistake (a log
/// file given as the config) makes the server parse.
const MAX_FILE: u64 = 1 << 20;

/// Flags that describe the one site of the command line: in the file they belong in a
/// `[[site]]` (the site's own keys), not in `[server]`.
pub const SITE_FLAGS: &[&str] = &[
    "index",
    "listing",
    "dotfiles",
    "header",
    "cache-control",
    "error-pages",
    "fallback",
    "write",
    "cgi",
    "tls-cert",
    "tls-key",
    "acme",
];

/// What the file says: `[server]` as flags, and the sites.
pub struct FileConfig {
    pub args: Vec<OsString>,
    pub sites: Vec<SiteConfig>,
    /// Per flag made from a key: the flag ("--listen") and where its key is ("FILE:LINE:
    /// server.listen"), to point an error of the flags' parser at its line.
    keys: Vec<(String, String)>,
    file: String,
}

impl FileConfig {
    /// An error of the flags' parser, pointed at the key it comes from.
    pub fn locate(&self, e: ConfigError) -> ConfigError {
        let msg = e.0;
        let first = msg.split([' ', ':', '=']).next().unwrap_or("");
        match self.keys.iter().find(|(flag, _)| flag == first) {
            Some((_, at)) => ConfigError(format!("{at}: {msg}")),
            None => ConfigError(format!("{}: {msg}", self.file)),
        }
    }
}

/// Read and check `path`.
pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
    let file = path.display().to_string();
    let text = read(path).map_err(|e| ConfigError(format!("{file}: {e}")))?;
    let doc = DeTable::parse(&text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(&text, s.start));
        let what = e.message().lines().next().unwrap_or("not TOML").to_string();
        ConfigError(format!("{file}:{line}: {what}"))
    })?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut r = Reader {
        file,
        text: &text,
        dir,
        out: FileConfig {
            args: Vec::new(),
            sites: Vec::new(),
            keys: Vec::new(),
            file: path.display().to_string(),
        },
    };
    r.document(doc.get_ref())?;
    Ok(r.out)
}

fn read(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| super::io_reason(&e))?;
    let mut text = String::new();
    f.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| super::io_reason(&e))?;
    if text.len() as u64 > MAX_FILE {
        return Err(format!(
            "larger than {} KiB: not a config file",
            MAX_FILE >> 10
        ));
    }
    Ok(text)
}

fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

type Value<'i> = Spanned<DeValue<'i>>;

struct Reader<'t> {
    file: String,
    text: &'t str,
    /// Relative paths in the file are relative to the file's folder.
    dir: PathBuf,
    out: FileConfig,
}

impl Reader<'_> {
    fn at(&self, v: &Value, key: &str) -> String {
        format!(
            "{}:{}: {key}",
            self.file,
            line_of(self.text, v.span().start)
        )
    }

    fn fail<T>(
        &self,
        v: &Value,
        key: &str,
        what: impl std::fmt::Display,
    ) -> Result<T, ConfigError> {
        Err(ConfigError(format!("{}: {what}", self.at(v, key))))
    }

    fn document(&mut self, doc: &DeTable) -> Result<(), ConfigError> {
        for (k, v) in doc.iter() {
            match k.get_ref().as_ref() {
                "server" => self.server(v)?,
                "site" => {
                    let Some(list) = v.get_ref().as_array() else {
                        return self.fail(v, "site", "expected [[site]] tables");
                    };
                    if list.len() > MAX_SITES {
                        return self.fail(v, "site", format!("at most {MAX_SITES} sites"));
                    }
                    for s in list.iter() {
                        let site = self.site(s)?;
                        self.out.sites.push(site);
                    }
                }
                other => {
                    return self.fail(v, other, "unknown section (expected [server] or [[site]])");
                }
            }
        }
        if self.out.sites.is_empty() {
            return Err(ConfigError(format!(
                "{}: no [[site]]: say at least which folder to serve",
                self.file
            )));
        }
        let defaults: Vec<&SiteConfig> = self.out.sites.iter().filter(|s| s.default).collect();
        if defaults.len() > 1 {
            return Err(ConfigError(format!(
                "{}: default: only one site may be the default (also {})",
                defaults[1].origin, defaults[0].origin
            )));
        }
        if defaults.is_empty() {
            self.out.sites[0].default = true;
        }
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for s in &self.out.sites {
            for n in &s.names {
                if let Some((_, other)) = seen.iter().find(|(m, _)| *m == n.as_str()) {
                    return Err(ConfigError(format!(
                        "{}: names: {n} is a name of the site at {other} too",
                        s.origin
                    )));
                }
                seen.push((n, &s.origin));
            }
        }
        // The default site's root is the server's first argument (what `--check-config`
        // and the start-up line name).
        let root = self
            .out
            .sites
            .iter()
            .find(|s| s.default)
            .map(|s| s.root.clone());
        if let Some(root) = root {
            self.out.args.push(root.into_os_string());
        }
        Ok(())
    }

    /// `[server]`: each key is the flag of its name.
    fn server(&mut self, v: &Value) -> Result<(), ConfigError> {
        let Some(table) = v.get_ref().as_table() else {
            return self.fail(v, "server", "expected a table");
        };
        for (k, v) in table.iter() {
            let key = k.get_ref().replace('_', "-");
            let name = format!("server.{}", k.get_ref());
            if SITE_FLAGS.contains(&key.as_str()) {
                return self.fail(v, &name, "belongs in a [[site]] (it is about one site)");
            }
            if ["config", "check-config", "help", "version"].contains(&key.as_str()) {
                return self.fail(v, &name, "not a setting");
            }
            let flag = format!("--{key}");
            let path_like = key.ends_with("file") || key.ends_with("dir") || key.ends_with("ca");
            let mut values = Vec::new();
            match v.get_ref() {
                DeValue::Boolean(true) => {}
                DeValue::Boolean(false) => continue,
                DeValue::Array(list) => {
                    for item in list.iter() {
                        values.push(self.scalar(item, &name)?);
                    }
                }
                _ => values.push(self.scalar(v, &name)?),
            }
            let at = self.at(v, &name);
            self.out.keys.push((flag.clone(), at));
            if values.is_empty() {
                self.out.args.push(flag.into());
                continue;
            }
            for value in values {
                self.out.args.push(flag.clone().into());
                let value = if path_like && !value.starts_with("https://") {
                    self.path(&value).into_os_string()
                } else {
                    value.into()
                };
                self.out.args.push(value);
            }
        }
        Ok(())
    }

    fn scalar(&self, v: &Value, key: &str) -> Result<String, ConfigError> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            DeValue::Integer(i) if i.radix() == 10 => Ok(i.as_str().replace('_', "")),
            DeValue::Boolean(_) => self.fail(v, key, "true or false only as the whole value"),
            _ => self.fail(v, key, "expected a string or a number"),
        }
    }

    /// A path as written in the file: relative ones are relative to the file's folder.
    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    fn string(&self, v: &Value, key: &str) -> Result<String, ConfigError> {
        match v.get_ref().as_str() {
            Some(s) => Ok(s.to_string()),
            None => self.fail(v, key, "expected a string"),
        }
    }

    fn bool(&self, v: &Value, key: &str) -> Result<bool, ConfigError> {
        match v.get_ref().as_bool() {
            Some(b) => Ok(b),
            None => self.fail(v, key, "expected true or false"),
        }
    }

    fn strings(&self, v: &Value, key: &str) -> Result<Vec<String>, ConfigError> {
        let Some(list) = v.get_ref().as_array() else {
            return self.fail(v, key, "expected a list of strings, such as [\"a\", \"b\"]");
        };
        list.iter().map(|item| self.string(item, key)).collect()
    }

    fn site(&mut self, v: &Value) -> Result<SiteConfig, ConfigError> {
        let Some(table) = v.get_ref().as_table() else {
            return self.fail(v, "site", "expected a table");
        };
        let origin = format!("{}:{}", self.file, line_of(self.text, v.span().start));
        let mut names = Vec::new();
        let mut root = None;
        let mut index = "index.html".to_string();
        let mut dotfiles = false;
        let mut default = false;
        let (mut cert, mut key) = (None, None);
        let mut acme = None;
        // Set only in builds with HTTPS; others refuse the keys.
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let (mut hsts, mut redirect_https) = (None, None);
        let mut base = RuleDraft {
            prefix: "/".into(),
            origin: origin.clone(),
            ..RuleDraft::default()
        };
        let mut paths = Vec::new();
        for (k, v) in table.iter() {
            let name = format!("site.{}", k.get_ref());
            match k.get_ref().as_ref() {
                "names" => {
                    names = self.strings(v, &name)?;
                    if names.len() > MAX_NAMES {
                        return self.fail(v, &name, format!("at most {MAX_NAMES} names"));
                    }
                    for n in names.iter_mut() {
                        *n = n.to_ascii_lowercase();
                        if let Some(why) = site::host_name_problem(n) {
                            return self.fail(v, &name, format!("{n:?}: {why}"));
                        }
                    }
                }
                "root" => root = Some((self.string(v, &name)?, v.span())),
                "index" => {
                    index = self.string(v, &name)?;
                    if index.is_empty() || index.contains('/') || index == "." || index == ".." {
                        return self.fail(v, &name, "must be a plain file name");
                    }
                }
                "dotfiles" => dotfiles = self.bool(v, &name)?,
                "default" => default = self.bool(v, &name)?,
                "tls_cert" => cert = Some(self.path(&self.string(v, &name)?)),
                "tls_key" => key = Some(self.path(&self.string(v, &name)?)),
                "acme" => acme = Some((self.bool(v, &name)?, v)),
                // The server's keys of the same names, for this site only: the same values
                // and the same messages as `--hsts` and `--redirect-https`.
                #[cfg(feature = "tls")]
                "hsts" => {
                    hsts = Some(match v.get_ref() {
                        DeValue::Boolean(false) => None,
                        DeValue::Boolean(true) => {
                            return self.fail(v, &name, super::parse_hsts("true").unwrap_err());
                        }
                        _ => match super::parse_hsts(&self.scalar(v, &name)?) {
                            Ok(age) => Some(age),
                            Err(why) => return self.fail(v, &name, why),
                        },
                    });
                }
                #[cfg(feature = "tls")]
                "redirect_https" => redirect_https = Some(self.bool(v, &name)?),
                #[cfg(not(feature = "tls"))]
                "hsts" | "redirect_https" => {
                    return self.fail(
                        v,
                        &name,
                        "this barehttpd was built without HTTPS (cargo feature `tls`)",
                    );
                }
                "path" => {
                    let Some(list) = v.get_ref().as_array() else {
                        return self.fail(v, &name, "expected [[site.path]] tables");
                    };
                    for p in list.iter() {
                        paths.push(self.path_rule(p, &origin)?);
                    }
                }
                _ => {
                    if !self.rule_key(&mut base, k.get_ref(), v, &name)? {
                        return self.fail(v, &name, "unknown key");
                    }
                }
            }
        }
        let Some((root, span)) = root else {
            return Err(ConfigError(format!(
                "{origin}: site: no root (the folder to serve)"
            )));
        };
        let root_at = format!(
            "{}:{}: site.root",
            self.file,
            line_of(self.text, span.start)
        );
        let root_path = self.path(&root);
        let root = match std::fs::metadata(&root_path) {
            Ok(m) if m.is_dir() => std::fs::canonicalize(&root_path)
                .map_err(|e| ConfigError(format!("{root_at}: {root}: {}", super::io_reason(&e))))?,
            Ok(_) => return Err(ConfigError(format!("{root_at}: {root}: not a directory"))),
            Err(e) => {
                return Err(ConfigError(format!(
                    "{root_at}: {root}: {}",
                    super::io_reason(&e)
                )));
            }
        };
        if names.is_empty() && !default {
            return Err(ConfigError(format!(
                "{origin}: site: no names (give names = [\"example.com\"], or default = true)"
            )));
        }
        match (cert, key) {
            (Some(c), Some(k)) => {
                self.out
                    .keys
                    .push(("--tls-cert".into(), format!("{origin}: site.tls_cert")));
                self.out
                    .args
                    .extend(["--tls-cert".into(), c.into_os_string()]);
                self.out
                    .args
                    .extend(["--tls-key".into(), k.into_os_string()]);
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError(format!(
                    "{origin}: site: tls_cert and tls_key go together"
                )));
            }
        }
        if let Some((true, v)) = acme {
            let plain: Vec<&String> = names.iter().filter(|n| !n.starts_with("*.")).collect();
            if plain.is_empty() {
                return self.fail(
                    v,
                    "site.acme",
                    "the site has no names to get a certificate for",
                );
            }
            for n in plain {
                self.out.args.extend(["--acme".into(), n.into()]);
            }
            let at = self.at(v, "site.acme");
            self.out.keys.push(("--acme".into(), at));
        }
        let mut drafts = vec![base];
        drafts.extend(paths);
        let mut rules = site::materialize(drafts)?;
        for r in &mut rules {
            if let Some(f) = &r.fallback {
                let rel = f.trim_start_matches('/');
                if rel.is_empty() || super::has_dot_segment(rel) || !root.join(rel).is_file() {
                    return Err(ConfigError(format!(
                        "{origin}: fallback {f:?}: not a file inside {}",
                        root.display()
                    )));
                }
                r.fallback = Some(rel.to_string());
            }
        }
        Ok(SiteConfig {
            names,
            root,
            index,
            dotfiles,
            default,
            rules,
            hsts,
            redirect_https,
            origin,
        })
    }

    fn path_rule(&self, v: &Value, site: &str) -> Result<RuleDraft, ConfigError> {
        let Some(table) = v.get_ref().as_table() else {
            return self.fail(v, "site.path", "expected a table");
        };
        let origin = format!("{}:{}", self.file, line_of(self.text, v.span().start));
        let mut d = RuleDraft {
            origin: origin.clone(),
            ..RuleDraft::default()
        };
        for (k, v) in table.iter() {
            let name = format!("site.path.{}", k.get_ref());
            if k.get_ref() == "prefix" {
                let p = self.string(v, &name)?;
                match super::check_prefix(&p) {
                    Some(p) => d.prefix = p,
                    None => {
                        return self.fail(v, &name, "expected a URL path prefix such as /files/");
                    }
                }
            } else if !self.rule_key(&mut d, k.get_ref(), v, &name)? {
                return self.fail(v, &name, "unknown key");
            }
        }
        if d.prefix.is_empty() {
            return Err(ConfigError(format!(
                "{origin}: site.path: no prefix (in the site at {site})"
            )));
        }
        Ok(d)
    }

    /// A key a rule may have (the site's own, or a `[[site.path]]`'s); false if `key` is
    /// not one.
    fn rule_key(
        &self,
        d: &mut RuleDraft,
        key: &str,
        v: &Value,
        name: &str,
    ) -> Result<bool, ConfigError> {
        match key {
            "listing" => d.listing = Some(self.bool(v, name)?),
            "write" => d.write = Some(self.bool(v, name)?),
            "cgi" => d.cgi = Some(self.bool(v, name)?),
            "headers" => {
                let Some(t) = v.get_ref().as_table() else {
                    return self.fail(
                        v,
                        name,
                        "expected a table, such as { \"X-Frame-Options\" = \"DENY\" }",
                    );
                };
                let mut list = Vec::new();
                for (hn, hv) in t.iter() {
                    let value = self.string(hv, name)?;
                    let line = format!("{}: {value}", hn.get_ref());
                    match super::parse_header_flag(&line) {
                        Ok(h) => list.push(h),
                        Err(e) => {
                            let why = e.0.replacen("--header ", "", 1);
                            return self.fail(hv, name, why);
                        }
                    }
                }
                d.headers = Some(list);
            }
            "cache_control" => {
                let s = self.string(v, name)?;
                if s.is_empty() || !valid_field_value(&s) {
                    return self.fail(v, name, "not a valid header value");
                }
                d.cache_control = Some(s);
            }
            "fallback" => d.fallback = Some(self.string(v, name)?),
            "error_pages" => {
                let dir = self.path(&self.string(v, name)?);
                if !dir.is_dir() {
                    return self.fail(v, name, format!("{}: not a directory", dir.display()));
                }
                d.error_pages = Some(dir);
            }
            "readers" | "writers" => {
                let list = self.strings(v, name)?;
                if let Some(bad) = list
                    .iter()
                    .find(|u| u.is_empty() || u.contains([':', '\n']))
                {
                    return self.fail(v, name, format!("{bad:?}: not a user name"));
                }
                if key == "readers" {
                    d.readers = Some(list);
                } else {
                    d.writers = Some(list);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
