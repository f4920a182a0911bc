//! Command-line flags and the config file → a validated `Config`.
//!
//! Every mistake a user can make at start-up ends here as one line naming the problem and
//! exit code 2; nothing later has to re-check what this module accepted. The flags describe
//! one site; the config file (`file.rs`) several, each with path rules (`site.rs`). Either
//! way what is served is `Config::sites`.

#[cfg(feature = "ops")]
pub mod file;
pub mod site;
pub use site::{RuleConfig, SiteConfig};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Largest chunked request body spooled to a temporary file for a CGI program, unless
/// `--cgi-max-body` says otherwise. The body sits on the server's disk until it is whole,
/// before any program runs, so `--max-body` (1 GiB, sized for uploads) would let a few
/// connections fill /tmp; 64 MiB still takes the form posts and file uploads CGI programs
/// usually get, and a client that knows its length sends Content-Length, which streams.
pub const CGI_MAX_BODY: u64 = 64 << 20;

/// Where access-log lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    Stdout,
    File(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub root: PathBuf,
    pub listen: Vec<SocketAddr>,
    pub workers: usize,
    pub index: String,
    pub listing: bool,
    pub dotfiles: bool,
    pub follow_symlinks: bool,
    pub access_log: AccessLog,
    pub quiet: bool,
    /// Time allowed to receive a whole request head, from its first byte (then 408).
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection is kept open.
    pub keepalive_timeout: Duration,
    /// Time a response may make no progress because the client does not read.
    pub send_timeout: Duration,
    /// Open client connections, all workers together.
    pub max_connections: usize,
    /// Extra response header lines (`--header`), already validated.
    pub headers: Vec<(String, String)>,
    /// Cache-Control for files (`--cache-control`).
    pub cache_control: Option<String>,
    /// Directory of custom error pages (`404.html`, ...).
    pub error_pages: Option<PathBuf>,
    /// File (inside the root) answered for paths that do not exist, for single-page apps.
    pub fallback: Option<String>,
    /// URL prefixes under which PUT and DELETE are allowed (each ends with '/').
    pub write: Vec<String>,
    /// htpasswd-style file; when set, writes need HTTP Basic credentials.
    pub auth_file: Option<PathBuf>,
    /// Writes without credentials on a non-loopback address were asked for.
    pub write_without_auth: bool,
    /// Largest request body accepted for PUT.
    pub max_body: u64,
    /// Largest chunked body spooled for a CGI program (`--cgi-max-body`, at most
    /// `max_body`).
    pub cgi_max_body: u64,
    /// URL prefixes under which executables run as CGI programs (each ends with '/').
    pub cgi: Vec<String>,
    /// Longest a CGI program may run.
    pub cgi_timeout: Duration,
    /// CGI programs running at once, all workers together.
    pub cgi_max: usize,
    /// Pass the Authorization header to CGI programs.
    pub cgi_pass_auth: bool,
    /// Print the syscalls of each request (`--trace`), to a file or stderr.
    pub trace: bool,
    pub trace_file: Option<PathBuf>,
    /// Only trace requests whose path starts with this.
    pub trace_filter: Option<String>,
    /// HTTPS listening addresses (`--tls-listen`).
    pub tls_listen: Vec<SocketAddr>,
    /// Certificate chain and key files (`--tls-cert`, `--tls-key`), in the order given: the
    /// first answers clients that name no host or an unknown one.
    pub tls_pairs: Vec<(PathBuf, PathBuf)>,
    /// CA whose client certificates are required (`--tls-client-ca`).
    pub tls_client_ca: Option<PathBuf>,
    /// Plain listeners answer 308 to the https URL (`--redirect-https`).
    pub redirect_https: bool,
    /// Plain listeners take HTTP/2 with prior knowledge (`--h2c`): a connection that
    /// begins with the HTTP/2 preface speaks HTTP/2 (RFC 9113 §3.3).
    pub h2c: bool,
    /// Strict-Transport-Security max-age on HTTPS answers (`--hsts`).
    pub hsts: Option<u64>,
    /// Names to obtain a certificate for by ACME (`--acme`), and how.
    pub acme: Vec<String>,
    pub acme_ca: String,
    pub acme_ca_cert: Option<PathBuf>,
    pub acme_email: Option<String>,
    /// Where the ACME account and certificates are kept (`--state-dir`).
    pub state_dir: Option<PathBuf>,
    /// Listening sockets the service manager passed (systemd socket activation), by
    /// descriptor number; taken in `Server::bind`.
    pub activated: Vec<Activated>,
    /// The user to become once the sockets are open and the files read (`--user`).
    pub user: Option<String>,
    /// Plain listeners that require a PROXY protocol header (`--proxy-protocol-listen`).
    #[cfg(feature = "ops")]
    pub proxy_listen: Vec<SocketAddr>,
    /// TLS listeners that require one before the handshake (`--proxy-protocol-tls-listen`).
    #[cfg(feature = "ops")]
    pub proxy_tls_listen: Vec<SocketAddr>,
    /// Peers believed about the client's address: in a PROXY header, in `Forwarded` and
    /// `X-Forwarded-For` (`--trusted-proxy`). Empty: nobody, and no header is looked at.
    #[cfg(feature = "ops")]
    pub trusted_proxies: Vec<crate::http::forwarded::Cidr>,
    /// URL path answered 200 while serving, 503 while draining (`--health`).
    pub health: Option<String>,
    /// URL path of the Prometheus metrics page (`--metrics`), and whether clients other than
    /// loopback may read it (`--metrics-from-anywhere`).
    pub metrics: Option<String>,
    pub metrics_anywhere: bool,
    /// What is served: the flags' one site, or the config file's sites (at least one, and
    /// exactly one of them `default`).
    pub sites: Vec<SiteConfig>,
    /// `--config`: the file the sites come from (read again on SIGHUP).
    pub config_file: Option<PathBuf>,
    /// Compress text files on the fly for clients that accept it (off with `--no-compress`).
    #[cfg(feature = "compress")]
    pub compress: bool,
}

impl Config {
    /// Every plain listening address: `--listen`'s and those that require a PROXY header.
    pub fn plain_listen(&self) -> impl Iterator<Item = &SocketAddr> {
        #[cfg(feature = "ops")]
        return self.listen.iter().chain(&self.proxy_listen);
        #[cfg(not(feature = "ops"))]
        self.listen.iter()
    }

    /// Whether any listener speaks TLS: one given by `--tls-listen`, or one passed by systemd
    /// under a TLS name.
    pub fn serves_tls(&self) -> bool {
        #[cfg(feature = "ops")]
        if !self.proxy_tls_listen.is_empty() {
            return true;
        }
        !self.tls_listen.is_empty() || self.activated.iter().any(|a| a.tls)
    }
}

/// A listening socket passed by the service manager (or by the barehttpd it replaces, on
/// SIGUSR2): descriptor `fd`, of the kind its name says (`LISTEN_FDNAMES`,
/// `FileDescriptorName=` in the socket unit). A name beginning with `proxy` requires a PROXY
/// protocol header on every connection (as `--proxy-protocol-listen` does); what follows
/// `proxy-`, or the whole name without that prefix, is TLS when it is `https` or starts with
/// `tls`, else plain HTTP. So `http` (or any other name, or none), `https`, `proxy` and
/// `proxy-tls`: the four names an upgrade passes.
#[derive(Clone, Debug, PartialEq)]
pub struct Activated {
    pub fd: i32,
    pub tls: bool,
    pub proxy: bool,
}

impl Activated {
    fn named(fd: i32, name: &str) -> Activated {
        let (proxy, kind) = match name.strip_prefix("proxy") {
            Some(rest) => (true, rest.strip_prefix('-').unwrap_or(rest)),
            None => (false, name),
        };
        Activated {
            fd,
            tls: kind == "https" || kind.starts_with("tls"),
            proxy,
        }
    }
}

/// The first descriptor systemd passes (after stdin, stdout and stderr).
const LISTEN_FDS_START: i32 = 3;

/// The sockets passed by socket activation, from the values of `LISTEN_PID`, `LISTEN_FDS`
/// and `LISTEN_FDNAMES` and this process's id. As `sd_listen_fds(3)` does, the variables are
/// ignored (none passed) unless `LISTEN_PID` names this process: they were meant for another.
/// Malformed values refuse the start, since a unit that meant to pass sockets would
/// otherwise have the server bind its own default address.
pub fn activation(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    names: Option<&str>,
    pid: u32,
) -> Result<Vec<Activated>, ConfigError> {
    if listen_pid.and_then(|p| p.trim().parse::<u32>().ok()) != Some(pid) {
        return Ok(Vec::new());
    }
    let Some(n) = listen_fds else {
        return Ok(Vec::new());
    };
    let n: usize = n
        .trim()
        .parse()
        .ok()
        .filter(|&n| n <= MAX_LISTENERS)
        .ok_or_else(|| {
            ConfigError(format!(
                "LISTEN_FDS={n:?}: expected a number of sockets from 0 to {MAX_LISTENERS}"
            ))
        })?;
    let names: Vec<&str> = match names {
        Some(v) => v.split(':').collect(),
        None => vec![""; n],
    };
    if names.len() != n {
        return err(format!(
            "LISTEN_FDNAMES has {} names for LISTEN_FDS={n} sockets",
            names.len()
        ));
    }
    Ok(names
        .iter()
        .zip(LISTEN_FDS_START..)
        .map(|(name, fd)| Activated::named(fd, name))
        .collect())
}

/// `activation` for this process's environment.
#[cfg(feature = "ops")]
fn activation_from_env() -> Result<Vec<Activated>, ConfigError> {
    let var = |k: &str| std::env::var(k).ok();
    activation(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )
}

/// Refuse writes open to the network without credentials: `addrs` are the listening
/// addresses (checked again once systemd's sockets are known).
pub fn check_write_exposure<'a>(
    cfg: &Config,
    mut addrs: impl Iterator<Item = &'a SocketAddr>,
) -> Result<(), ConfigError> {
    let writes = cfg
        .sites
        .iter()
        .any(|s| s.rules.iter().any(|r| r.write.is_some()));
    if writes
        && cfg.auth_file.is_none()
        && !cfg.write_without_auth
        && let Some(a) = addrs.find(|a| !a.ip().is_loopback())
    {
        return err(format!(
            "--write without --auth-file on {a} would let anyone change files; add --auth-file FILE or --write-without-auth"
        ));
    }
    Ok(())
}

/// Let's Encrypt's production ACME directory, the default `--acme-ca`.
pub const ACME_DEFAULT_CA: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// `--help`, HTTPS included when the build has it.
pub fn help() -> String {
    let mut text = HELP.to_string();
    if cfg!(feature = "tls") {
        let at = text.find("\nExamples:").unwrap_or(text.len());
        text.insert_str(at, HELP_TLS);
    }
    if cfg!(feature = "ops") {
        let at = text.find("\nExamples:").unwrap_or(text.len());
        text.insert_str(at, HELP_PROXY);
    }
    if cfg!(feature = "h2") {
        let at = text.find("\nExamples:").unwrap_or(text.len());
        text.insert_str(at, HELP_H2);
    }
    #[cfg(feature = "compress")]
    {
        let at = text.find("      --follow-symlinks").unwrap_or(text.len());
        text.insert_str(at, HELP_COMPRESS);
    }
    text
}

/// The HTTP/2 part of `--help` (builds with the `h2` feature).
const HELP_H2: &str = "
HTTP/2:
      --h2c                   plain listeners also speak HTTP/2 to clients that begin with
                              its preface (prior knowledge, RFC 9113 3.3); HTTPS listeners
                              offer h2 by ALPN whenever the build has HTTP/2
";

/// The compression flag's line of `--help` (builds with the `compress` feature).
#[cfg(feature = "compress")]
const HELP_COMPRESS: &str =
    "      --no-compress           send text files as they are, not compressed on the fly for
                              clients that accept gzip, br or zstd (files that have a
                              .br or .gz sibling are served from it either way)
";

/// The load-balancer flags' part of `--help` (builds with the `ops` feature).
const HELP_PROXY: &str = "
Several sites (a config file):
      --config FILE           read [server] settings (the flags' names as keys), [[site]]
                              tables (names, root, certificate or acme, hsts and
                              redirect_https over the server's, and the rules of the
                              site) and [[site.path]] rules by URL prefix (listing,
                              write, writers, readers, cgi, headers, cache_control,
                              fallback, error_pages) from a TOML file; flags beside it that
                              are not about a site win over the file. SIGHUP reads it again
                              without dropping a connection
      --check-config FILE     check FILE and what it names (roots, certificates, auth
                              file), then exit: 0 if it is valid, else 2 and the problem
                              with its file, line and key

Behind a load balancer:
      --proxy-protocol-listen ADDR:PORT  plain HTTP on ADDR:PORT after a PROXY protocol
                              header (v1 or v2), which is required; repeatable. A connection
                              from an untrusted peer, with a malformed header or none, is
                              closed unanswered
      --proxy-protocol-tls-listen ADDR:PORT  the same, with HTTPS after the header
      --trusted-proxy CIDR    believe this peer or range (e.g. 10.0.0.0/8, 2001:db8::/32)
                              about the client's address: its PROXY header, and its
                              Forwarded (for=) or X-Forwarded-For, read from the right;
                              repeatable. Without it those headers are ignored
  For example, behind HAProxy with `send-proxy-v2`:
    barehttpd --proxy-protocol-listen 0.0.0.0:8080 --trusted-proxy 10.0.0.5 /srv/www
";

/// The HTTPS flags' part of `--help` (builds with the `tls` feature).
#[cfg(feature = "tls")]
const HELP_TLS: &str = "
HTTPS:
      --tls-listen ADDR:PORT  serve HTTPS on ADDR:PORT; repeatable (--listen stays plain)
      --tls-cert FILE         PEM certificate chain; give with --tls-key, repeatable in
      --tls-key FILE          pairs: the certificate is chosen by the name the client asks
                              for (SNI), the first pair for others. Files replaced on disk
                              are used for new connections within a second
      --tls-client-ca FILE    require client certificates signed by this CA (mutual TLS)
      --redirect-https        plain listeners answer 308 to the same URL on https
                              (ACME challenge paths excepted)
      --hsts SECONDS          add Strict-Transport-Security: max-age=SECONDS to HTTPS answers
      --acme DOMAIN           obtain and renew a certificate for DOMAIN (repeatable: one
                              certificate for all) from an ACME CA; needs the plain
                              listener on port 80 or the TLS one on 443 reachable by the CA
      --acme-ca URL           ACME directory [default: Let's Encrypt production]
      --acme-ca-cert FILE     trust this root for the ACME CA's own HTTPS (private CAs)
      --acme-email ADDRESS    contact address for the ACME account
      --state-dir DIR         where the ACME account key and certificates are kept
                              [default: $XDG_STATE_HOME/barehttpd or ~/.local/state/barehttpd]
  For example, HTTPS with a certificate that renews itself:
    barehttpd -l 0.0.0.0:80 --tls-listen 0.0.0.0:443 --acme example.com --redirect-https /srv/www
";
#[cfg(not(feature = "tls"))]
const HELP_TLS: &str = "";

pub const HELP: &str = "\
barehttpd: a static-file HTTP/1.1 server that talks to the kernel and nothing else.

Usage: barehttpd [OPTIONS] [DIR]

Serves DIR (default: the current directory) on http://127.0.0.1:8080/.

Options:
  -l, --listen ADDR:PORT      address to listen on; repeat for more (IPv4 or [IPv6]),
                              a bare PORT means 127.0.0.1:PORT [default: 127.0.0.1:8080]
  -w, --workers N             event-loop threads [default: number of CPUs]
      --index NAME            file served for a directory [default: index.html]
      --listing               list directories that have no index file (default: 403)
      --dotfiles              serve files and directories whose names start with '.'
      --follow-symlinks       follow symlinks that stay inside DIR (default: a path
                              through any symlink is 404; one leading out always is)
      --access-log FILE|-|off Combined Log Format access log; '-' is stdout
                              [default: '-', or 'off' with --quiet]
  -q, --quiet                 no start-up banner and no access log on stdout
      --header-timeout SECS   time to receive a request head, then 408 [default: 10]
      --keepalive-timeout SECS  idle keep-alive connections close after this [default: 5]
      --send-timeout SECS     close a connection whose client stops reading [default: 30]
      --max-connections N     open connections; when full, idle ones are closed first,
                              then new ones get 503 [default: 10000]
      --header 'NAME: VALUE'  add a header to every response; repeatable (CORS, HSTS...)
      --cache-control VALUE   Cache-Control for files, e.g. 'max-age=3600' [default: none]
      --error-pages DIR       use DIR/404.html, DIR/500.html... instead of built-in pages
      --fallback FILE         answer paths that do not exist with FILE (relative to DIR)
                              and 200, for single-page apps
      --write PREFIX          allow writes (PUT, PATCH, DELETE) under the URL PREFIX
                              (e.g. /dav/); repeatable; off by default
      --auth-file FILE        require HTTP Basic credentials for writes; FILE has
                              'user:hash' lines (bcrypt or argon2 hashes, e.g. from
                              'htpasswd -nB user')
      --write-without-auth    allow --write without --auth-file on a non-loopback address
      --user NAME             once the sockets are open and certificates and the auth file
                              read, become NAME (its uid, gid and groups); needs root
      --max-body SIZE         largest PUT body, e.g. 10M or 2G [default: 1G]
      --cgi PREFIX            run executables under the URL PREFIX (e.g. /cgi-bin/) as
                              CGI/1.1 programs; repeatable; off by default
      --cgi-timeout SECS      kill a CGI program (and its process group) after this
                              [default: 30]
      --cgi-max N             CGI programs running at once, then 503 [default: 64]
      --cgi-max-body SIZE     largest chunked request body buffered for a CGI program
                              (it must be whole before the program starts), then 413
                              [default: 64M, at most --max-body]
      --cgi-pass-auth         give CGI programs the Authorization header
      --health PATH           200 at PATH (e.g. /healthz); 503 once shutting down
      --metrics PATH          Prometheus metrics at PATH; 403 but to loopback clients
      --metrics-from-anywhere   unless this is given
      --trace                 after each response, print the syscalls it caused (with
                              arguments, results and durations) and their totals
      --trace-file FILE       write --trace output to FILE instead of stderr
      --trace-filter PREFIX   trace only requests whose path starts with PREFIX
  -h, --help                  this text
  -V, --version               the version

Examples:
  barehttpd                                   serve the current directory on :8080
  barehttpd --listing ~/Downloads             browse a folder from your browser
  barehttpd -l 0.0.0.0:80 -l [::]:80 /srv/www serve a site on every interface
  barehttpd --access-log off -w 2 site/       benchmark setting: no log, two workers
  barehttpd --write /uploads/ --auth-file users.htpasswd site/
                                              accept uploads under /uploads/ with a password
  barehttpd --fallback index.html --header 'Access-Control-Allow-Origin: *' dist/
                                              a single-page app with CORS open
";

/// Listening addresses a server may have: each has a poller token of its own, and those sit
/// in a fixed range below the waker's (`worker::Token`).
pub const MAX_LISTENERS: usize = 1000;

/// What the command line asked for.
pub enum Command {
    Run(Box<Config>),
    /// `--check-config FILE`: the file is valid; say so and exit.
    #[cfg(feature = "ops")]
    CheckConfig(Box<Config>),
    Help,
    Version,
}

/// A start-up error: printed as one line, exit code 2.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

pub fn parse_args<I: IntoIterator<Item = std::ffi::OsString>>(
    args: I,
) -> Result<Command, ConfigError> {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let (file, check) = match config_file_arg(&args)? {
        Some((path, check)) => (Some(path), check),
        None => (None, false),
    };
    let Some(path) = file else {
        return match parse_flags(args)? {
            Command::Run(mut config) => {
                config.sites = vec![site::from_flags(&config)?];
                check_write_exposure(&config, config.plain_listen())?;
                Ok(Command::Run(config))
            }
            other => Ok(other),
        };
    };
    let config = from_file(&path, &args)?;
    #[cfg(feature = "ops")]
    if check {
        return Ok(Command::CheckConfig(config));
    }
    let _ = check;
    Ok(Command::Run(config))
}

/// `--config FILE` or `--check-config FILE` among the arguments: the file, and whether it
/// is only to be checked. With one, the command line may only add what is not about a site
/// (`--workers`, `--quiet`, `--trace`...): the sites are the file's.
fn config_file_arg(args: &[std::ffi::OsString]) -> Result<Option<(PathBuf, bool)>, ConfigError> {
    let mut found = None;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        for (flag, check) in [("--config", false), ("--check-config", true)] {
            let value = if a == flag {
                i += 1;
                Some(
                    args.get(i)
                        .map(PathBuf::from)
                        .ok_or_else(|| ConfigError(format!("{flag} needs a FILE (see --help)")))?,
                )
            } else {
                a.strip_prefix(flag)
                    .and_then(|r| r.strip_prefix('='))
                    .map(PathBuf::from)
            };
            if let Some(v) = value {
                if found.is_some() {
                    return err("--config and --check-config: give one file, once");
                }
                found = Some((v, check));
            }
        }
        i += 1;
    }
    Ok(found)
}

#[cfg(not(feature = "ops"))]
fn from_file(_: &std::path::Path, _: &[std::ffi::OsString]) -> Result<Box<Config>, ConfigError> {
    err("--config: this barehttpd was built without the cargo feature `ops`")
}

/// The config file's settings, then the command line's other flags (which win where both
/// set one value).
#[cfg(feature = "ops")]
fn from_file(
    path: &std::path::Path,
    args: &[std::ffi::OsString],
) -> Result<Box<Config>, ConfigError> {
    let f = file::load(path)?;
    let mut all = vec![args.first().cloned().unwrap_or_default()];
    all.extend(f.args.iter().cloned());
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--config" || a == "--check-config" {
            i += 2;
            continue;
        }
        if a.starts_with("--config=") || a.starts_with("--check-config=") {
            i += 1;
            continue;
        }
        // A DIR beside the file's is refused by the flags' parser (one DIR only).
        let name = a.trim_start_matches('-').split('=').next().unwrap_or("");
        if a.starts_with("--") && file::SITE_FLAGS.contains(&name) {
            return err(format!(
                "{a}: with --config, sites are described in the file ({})",
                path.display()
            ));
        }
        all.push(args[i].clone());
        i += 1;
    }
    let mut config = match parse_flags(all).map_err(|e| f.locate(e))? {
        Command::Run(c) => c,
        _ => return err("--help and --version take no --config"),
    };
    config.sites = f.sites;
    config.config_file = Some(std::fs::canonicalize(path).unwrap_or(path.to_path_buf()));
    // As `--redirect-https` and `--hsts` without `--tls-listen`: a site cannot be sent to,
    // or promise, an HTTPS the server does not serve.
    #[cfg(feature = "tls")]
    let https = !config.tls_listen.is_empty()
        || !config.proxy_tls_listen.is_empty()
        || config.activated.iter().any(|a| a.tls);
    #[cfg(feature = "tls")]
    if !https && let Some((s, key)) = config.sites.iter().find_map(|s| Some((s, s.https_key()?))) {
        return err(format!(
            "{}: site.{key}: needs tls_listen = [\"ADDR:PORT\"] in [server] (or --tls-listen) to serve HTTPS on",
            s.origin
        ));
    }
    let users = config
        .sites
        .iter()
        .flat_map(|s| &s.rules)
        .any(|r| r.readers.is_some() || r.writers.is_some());
    if users && config.auth_file.is_none() {
        return err(format!(
            "{}: readers and writers are users of the credentials file: set auth_file in [server]",
            path.display()
        ));
    }
    check_write_exposure(&config, config.plain_listen())
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    Ok(config)
}

// Without the `tls` feature the HTTPS flags are refused, so their variables keep their
// defaults.
#[cfg_attr(not(feature = "tls"), allow(unused_mut))]
fn parse_flags(args: Vec<std::ffi::OsString>) -> Result<Command, ConfigError> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_iter(args);
    let mut root: Option<PathBuf> = None;
    let mut listen = Vec::new();
    let mut workers = None;
    let mut index = "index.html".to_string();
    let mut listing = false;
    let mut dotfiles = false;
    #[cfg(feature = "compress")]
    let mut compress = true;
    let mut follow_symlinks = false;
    let mut access_log = None;
    let mut quiet = false;
    let mut header_timeout = Duration::from_secs(10);
    let mut keepalive_timeout = Duration::from_secs(5);
    let mut send_timeout = Duration::from_secs(30);
    let mut max_connections = 10_000;
    let mut headers = Vec::new();
    let mut cache_control = None;
    let mut error_pages = None;
    let mut fallback = None;
    let mut write = Vec::new();
    let mut auth_file = None;
    let mut write_without_auth = false;
    let mut max_body: u64 = 1 << 30;
    let mut cgi = Vec::new();
    let mut cgi_timeout = Duration::from_secs(30);
    let mut cgi_max = 64;
    let mut cgi_max_body = CGI_MAX_BODY;
    let mut cgi_pass_auth = false;
    let mut trace = false;
    let mut trace_file = None;
    let mut trace_filter = None;
    let mut tls_listen = Vec::new();
    let mut tls_certs: Vec<PathBuf> = Vec::new();
    let mut tls_keys: Vec<PathBuf> = Vec::new();
    let mut tls_client_ca = None;
    let mut redirect_https = false;
    let mut h2c = false;
    let mut hsts = None;
    let mut acme = Vec::new();
    let mut acme_ca = None;
    let mut acme_ca_cert = None;
    let mut acme_email = None;
    let mut state_dir = None;
    let mut user = None;
    #[cfg(feature = "ops")]
    let (mut proxy_listen, mut proxy_tls_listen) = (Vec::new(), Vec::new());
    #[cfg(feature = "ops")]
    let mut trusted_proxies = Vec::new();
    #[cfg(not(feature = "ops"))]
    let (proxy_listen, proxy_tls_listen) = ([(); 0], [(); 0]);
    let mut health = None;
    let mut metrics = None;
    let mut metrics_anywhere = false;

    while let Some(arg) = p.next().map_err(lex)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('l') | Long("listen") => {
                let v = string_value(&mut p)?;
                listen.extend(parse_listen(&v)?);
            }
            Short('w') | Long("workers") => {
                let n = parse_count(&string_value(&mut p)?, "--workers")?;
                if n > 1024 {
                    return err("--workers must be between 1 and 1024");
                }
                workers = Some(n);
            }
            Long("index") => {
                let v = string_value(&mut p)?;
                if v.is_empty() || v.contains('/') || v == "." || v == ".." {
                    return err(format!("--index {v:?}: must be a plain file name"));
                }
                index = v;
            }
            Long("listing") => listing = true,
            Long("dotfiles") => dotfiles = true,
            #[cfg(feature = "compress")]
            Long("no-compress") => compress = false,
            Long("follow-symlinks") => follow_symlinks = true,
            Long("access-log") => {
                let v = p.value().map_err(lex)?;
                access_log = Some(match v.to_str() {
                    Some("off") => AccessLog::Off,
                    Some("-") => AccessLog::Stdout,
                    _ => AccessLog::File(PathBuf::from(v)),
                });
            }
            Short('q') | Long("quiet") => quiet = true,
            Long("header-timeout") => header_timeout = parse_secs(&mut p, "--header-timeout")?,
            Long("keepalive-timeout") => {
                keepalive_timeout = parse_secs(&mut p, "--keepalive-timeout")?;
            }
            Long("send-timeout") => send_timeout = parse_secs(&mut p, "--send-timeout")?,
            Long("max-connections") => {
                let v = string_value(&mut p)?;
                max_connections = parse_count(&v, "--max-connections")?;
            }
            Long("header") => {
                let v = string_value(&mut p)?;
                headers.push(parse_header_flag(&v)?);
            }
            Long("cache-control") => {
                let v = string_value(&mut p)?;
                if v.is_empty() || !valid_field_value(&v) {
                    return err(format!("--cache-control {v:?}: not a valid header value"));
                }
                cache_control = Some(v);
            }
            Long("error-pages") => error_pages = Some(PathBuf::from(p.value().map_err(lex)?)),
            Long("fallback") => {
                let v = string_value(&mut p)?;
                fallback = Some(v);
            }
            Long("write") => write.push(url_prefix(&mut p, "--write", "/dav/")?),
            Long("cgi") => cgi.push(url_prefix(&mut p, "--cgi", "/cgi-bin/")?),
            Long("cgi-timeout") => cgi_timeout = parse_secs(&mut p, "--cgi-timeout")?,
            Long("cgi-max") => {
                let v = string_value(&mut p)?;
                cgi_max = parse_count(&v, "--cgi-max")?;
            }
            Long("cgi-max-body") => {
                let v = string_value(&mut p)?;
                cgi_max_body = parse_size(&v).ok_or_else(|| {
                    ConfigError(format!(
                        "--cgi-max-body {v:?}: expected a size such as 500K or 10M"
                    ))
                })?;
            }
            Long("cgi-pass-auth") => cgi_pass_auth = true,
            #[cfg(not(feature = "ops"))]
            Long(
                f @ ("health"
                | "metrics"
                | "metrics-from-anywhere"
                | "user"
                | "proxy-protocol-listen"
                | "proxy-protocol-tls-listen"
                | "trusted-proxy"),
            ) => {
                return err(format!(
                    "--{f}: this barehttpd was built without the cargo feature `ops`"
                ));
            }
            #[cfg(feature = "ops")]
            Long("health") => health = Some(exact_path(&mut p, "--health", "/healthz")?),
            #[cfg(feature = "ops")]
            Long("metrics") => metrics = Some(exact_path(&mut p, "--metrics", "/metrics")?),
            #[cfg(feature = "ops")]
            Long("metrics-from-anywhere") => metrics_anywhere = true,
            Long("trace") => trace = true,
            Long("trace-file") => {
                trace = true;
                trace_file = Some(PathBuf::from(p.value().map_err(lex)?));
            }
            Long("trace-filter") => {
                trace = true;
                let v = string_value(&mut p)?;
                if !v.starts_with('/') {
                    return err(format!(
                        "--trace-filter {v:?}: expected a URL path prefix such as /api/"
                    ));
                }
                trace_filter = Some(v);
            }
            #[cfg(feature = "tls")]
            Long("tls-listen") => {
                let v = string_value(&mut p)?;
                tls_listen.extend(
                    parse_listen(&v)
                        .map_err(|e| ConfigError(e.0.replacen("--listen", "--tls-listen", 1)))?,
                );
            }
            #[cfg(feature = "tls")]
            Long("tls-cert") => tls_certs.push(PathBuf::from(p.value().map_err(lex)?)),
            #[cfg(feature = "tls")]
            Long("tls-key") => tls_keys.push(PathBuf::from(p.value().map_err(lex)?)),
            #[cfg(feature = "tls")]
            Long("tls-client-ca") => tls_client_ca = Some(PathBuf::from(p.value().map_err(lex)?)),
            #[cfg(feature = "tls")]
            Long("redirect-https") => redirect_https = true,
            #[cfg(feature = "h2")]
            Long("h2c") => h2c = true,
            #[cfg(feature = "tls")]
            Long("hsts") => {
                let v = string_value(&mut p)?;
                hsts = Some(parse_hsts(&v).map_err(|why| ConfigError(format!("--hsts {why}")))?);
            }
            #[cfg(feature = "tls")]
            Long("acme") => {
                let v = string_value(&mut p)?.to_ascii_lowercase();
                if let Some(why) = acme_name_problem(&v) {
                    return err(format!(
                        "--acme {v:?}: expected a domain name such as example.com ({why})"
                    ));
                }
                acme.push(v);
            }
            #[cfg(feature = "tls")]
            Long("acme-ca") => {
                let v = string_value(&mut p)?;
                if !v.starts_with("https://") {
                    return err(format!("--acme-ca {v:?}: expected an https:// URL"));
                }
                acme_ca = Some(v);
            }
            #[cfg(feature = "tls")]
            Long("acme-ca-cert") => acme_ca_cert = Some(PathBuf::from(p.value().map_err(lex)?)),
            #[cfg(feature = "tls")]
            Long("acme-email") => {
                let v = string_value(&mut p)?;
                if !v.contains('@') || v.bytes().any(|b| b <= b' ' || b == b',') {
                    return err(format!(
                        "--acme-email {v:?}: expected an address such as me@example.com"
                    ));
                }
                acme_email = Some(v);
            }
            #[cfg(feature = "tls")]
            Long("state-dir") => state_dir = Some(PathBuf::from(p.value().map_err(lex)?)),
            #[cfg(not(feature = "tls"))]
            Long(
                f @ ("tls-listen" | "tls-cert" | "tls-key" | "tls-client-ca" | "redirect-https"
                | "hsts" | "acme" | "acme-ca" | "acme-ca-cert" | "acme-email" | "state-dir"),
            ) => {
                return err(format!(
                    "--{f}: this barehttpd was built without HTTPS (cargo feature `tls`)"
                ));
            }
            Long("auth-file") => auth_file = Some(PathBuf::from(p.value().map_err(lex)?)),
            Long("write-without-auth") => write_without_auth = true,
            #[cfg(feature = "ops")]
            Long(f @ ("proxy-protocol-listen" | "proxy-protocol-tls-listen")) => {
                let (flag, tls) = (format!("--{f}"), f.contains("tls"));
                let v = string_value(&mut p)?;
                let addrs = parse_listen(&v)
                    .map_err(|e| ConfigError(e.0.replacen("--listen", &flag, 1)))?;
                if tls {
                    proxy_tls_listen.extend(addrs);
                } else {
                    proxy_listen.extend(addrs);
                }
            }
            #[cfg(feature = "ops")]
            Long("trusted-proxy") => {
                let v = string_value(&mut p)?;
                let range = crate::http::forwarded::Cidr::parse(&v).ok_or_else(|| {
                    ConfigError(format!(
                        "--trusted-proxy {v:?}: expected an address or range, for example 10.0.0.0/8, 192.0.2.1 or 2001:db8::/32"
                    ))
                })?;
                trusted_proxies.push(range);
            }
            #[cfg(feature = "ops")]
            Long("user") => {
                let v = string_value(&mut p)?;
                if v.is_empty() || v.contains([':', '\n', '/']) {
                    return err(format!("--user {v:?}: expected a user name"));
                }
                user = Some(v);
            }
            Long("max-body") => {
                let v = string_value(&mut p)?;
                max_body = parse_size(&v).ok_or_else(|| {
                    ConfigError(format!(
                        "--max-body {v:?}: expected a size such as 500M or 2G"
                    ))
                })?;
            }
            Value(v) if root.is_none() => root = Some(PathBuf::from(v)),
            Value(v) => {
                return err(format!(
                    "unexpected argument {:?}: only one DIR may be given",
                    v
                ));
            }
            _ => return Err(lex(arg.unexpected())),
        }
    }

    let root = root.unwrap_or_else(|| PathBuf::from("."));
    match std::fs::metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return err(format!("{}: not a directory", root.display())),
        Err(e) => return err(format!("{}: {}", root.display(), io_reason(&e))),
    }
    let root = std::fs::canonicalize(&root)
        .map_err(|e| ConfigError(format!("{}: {}", root.display(), io_reason(&e))))?;
    if listen.len() > MAX_LISTENERS {
        return err(format!("--listen: at most {} addresses", MAX_LISTENERS));
    }
    #[cfg(feature = "ops")]
    let activated = activation_from_env()?;
    #[cfg(not(feature = "ops"))]
    let activated: Vec<Activated> = Vec::new();
    // Sockets passed by systemd replace the default address; addresses given with --listen
    // are still bound unless one of the passed sockets is bound there.
    // A server given only PROXY protocol listeners sits behind a balancer: no default
    // plain listener beside them.
    if listen.is_empty()
        && activated.is_empty()
        && proxy_listen.is_empty()
        && proxy_tls_listen.is_empty()
    {
        listen = parse_listen(DEFAULT_LISTEN)?;
    }
    #[cfg(feature = "ops")]
    if !(proxy_listen.is_empty()
        && proxy_tls_listen.is_empty()
        && !activated.iter().any(|a| a.proxy))
        && trusted_proxies.is_empty()
    {
        return err(
            "--proxy-protocol-listen needs --trusted-proxy CIDR: the balancers whose PROXY headers are believed (every other connection is closed)",
        );
    }
    #[cfg(all(feature = "ops", not(feature = "tls")))]
    if !proxy_tls_listen.is_empty() {
        return err(
            "--proxy-protocol-tls-listen: this barehttpd was built without HTTPS (cargo feature `tls`)",
        );
    }
    #[cfg(not(feature = "tls"))]
    if activated.iter().any(|a| a.tls) {
        return err(
            "LISTEN_FDNAMES names a TLS socket, but this barehttpd was built without HTTPS (cargo feature `tls`)",
        );
    }
    #[cfg(feature = "tls")]
    let tls_activated = activated.iter().any(|a| a.tls);
    if let Some(dir) = &error_pages
        && !dir.is_dir()
    {
        return err(format!("--error-pages {}: not a directory", dir.display()));
    }
    if let Some(f) = &fallback {
        let rel = f.trim_start_matches('/');
        let inside = !rel.is_empty() && !has_dot_segment(rel);
        if !inside || !root.join(rel).is_file() {
            return err(format!(
                "--fallback {f:?}: not a file inside {}",
                root.display()
            ));
        }
        fallback = Some(rel.to_string());
    }
    if tls_certs.len() != tls_keys.len() {
        return err("--tls-cert and --tls-key go in pairs: give as many of one as of the other");
    }
    let tls_pairs: Vec<_> = tls_certs.into_iter().zip(tls_keys).collect();
    if listen.len() + tls_listen.len() + proxy_listen.len() + proxy_tls_listen.len() > MAX_LISTENERS
    {
        return err(format!(
            "--listen, --tls-listen and the PROXY protocol listeners: at most {} addresses",
            MAX_LISTENERS
        ));
    }
    #[cfg(feature = "tls")]
    if tls_listen.is_empty() && proxy_tls_listen.is_empty() && !tls_activated {
        let needs = [
            (!tls_pairs.is_empty(), "--tls-cert"),
            (tls_client_ca.is_some(), "--tls-client-ca"),
            (redirect_https, "--redirect-https"),
            (hsts.is_some(), "--hsts"),
            (!acme.is_empty(), "--acme"),
        ];
        if let Some((_, flag)) = needs.iter().find(|(given, _)| *given) {
            return err(format!(
                "{flag} needs --tls-listen ADDR:PORT to serve HTTPS on"
            ));
        }
    } else if tls_pairs.is_empty() && acme.is_empty() {
        let what = if !tls_listen.is_empty() {
            "--tls-listen"
        } else if !proxy_tls_listen.is_empty() {
            "--proxy-protocol-tls-listen"
        } else {
            "the TLS socket systemd passed (LISTEN_FDNAMES)"
        };
        return err(format!(
            "{what} needs a certificate: --tls-cert FILE --tls-key FILE, or --acme DOMAIN"
        ));
    }
    #[cfg(feature = "tls")]
    if !acme.is_empty() && state_dir.is_none() {
        state_dir = default_state_dir();
        if state_dir.is_none() {
            return err("--acme needs --state-dir DIR (no $XDG_STATE_HOME or $HOME to put it in)");
        }
    }
    let access_log = access_log.unwrap_or(if quiet {
        AccessLog::Off
    } else {
        AccessLog::Stdout
    });
    let config = Config {
        root,
        listen,
        workers: workers.unwrap_or_else(crate::sys::cpu_count),
        index,
        listing,
        dotfiles,
        #[cfg(feature = "compress")]
        compress,
        follow_symlinks,
        access_log,
        quiet,
        header_timeout,
        keepalive_timeout,
        send_timeout,
        max_connections,
        headers,
        cache_control,
        error_pages,
        fallback,
        write,
        auth_file,
        write_without_auth,
        max_body,
        cgi_max_body: cgi_max_body.min(max_body),
        cgi,
        cgi_timeout,
        cgi_max,
        cgi_pass_auth,
        trace,
        trace_file,
        trace_filter,
        tls_listen,
        tls_pairs,
        tls_client_ca,
        redirect_https,
        h2c,
        hsts,
        acme,
        acme_ca: acme_ca.unwrap_or_else(|| ACME_DEFAULT_CA.to_string()),
        acme_ca_cert,
        acme_email,
        state_dir,
        activated,
        user,
        #[cfg(feature = "ops")]
        proxy_listen,
        #[cfg(feature = "ops")]
        proxy_tls_listen,
        #[cfg(feature = "ops")]
        trusted_proxies,
        health,
        metrics,
        metrics_anywhere,
        sites: Vec::new(),
        config_file: None,
    };
    Ok(Command::Run(Box::new(config)))
}

#[cfg(feature = "tls")]
/// Where ACME state goes by default: `$XDG_STATE_HOME/barehttpd`, else
/// `~/.local/state/barehttpd` (the XDG base directory specification's default).
fn default_state_dir() -> Option<PathBuf> {
    let non_empty = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    non_empty("XDG_STATE_HOME")
        .or_else(|| non_empty("HOME").map(|h| h.join(".local/state")))
        .map(|d| d.join("barehttpd"))
}

/// Why `d` is not a name the ACME client can get a certificate for (None: it is): a DNS
/// name is dot-separated labels of letters, digits and hyphens, at most 253 bytes, and a
/// wildcard needs the DNS-01 challenge, which is not answered. The one rule for `--acme`,
/// here and in `tls::acme`.
#[cfg(feature = "tls")]
pub fn acme_name_problem(d: &str) -> Option<&'static str> {
    if d.starts_with("*.") {
        return Some("wildcard names need the DNS-01 challenge, which barehttpd does not answer");
    }
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (d.len() > 253 || !d.contains('.') || !d.split('.').all(label)).then_some("not a DNS name")
}

/// The max-age of `--hsts` and of a site's `hsts`; the error names the value, for its
/// caller to put the flag or the key before it. RFC 6797 §6.1.1: delta-seconds; 0 tells
/// browsers to forget the policy.
#[cfg(feature = "tls")]
pub fn parse_hsts(v: &str) -> Result<u64, String> {
    v.parse::<u32>()
        .map(u64::from)
        .map_err(|_| format!("{v:?}: expected a number of seconds, e.g. 31536000 (a year)"))
}

/// `Name: value` for `--header`: a token name and a value without control characters.
fn parse_header_flag(v: &str) -> Result<(String, String), ConfigError> {
    let bad = || ConfigError(format!("--header {v:?}: expected 'Name: value'"));
    let (name, value) = v.split_once(':').ok_or_else(bad)?;
    let value = value.trim();
    if name.is_empty()
        || !name.bytes().all(crate::http::parse::is_tchar)
        || !valid_field_value(value)
    {
        return Err(bad());
    }
    if crate::http::response::server_sets(name.as_bytes()) {
        return err(format!(
            "--header {name}: set by the server itself, cannot be overridden"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

fn valid_field_value(v: &str) -> bool {
    v.bytes().all(crate::http::parse::is_field_byte)
}

/// `ADDR:PORT`, `[V6]:PORT`, `localhost:PORT` or a bare `PORT` (on 127.0.0.1).
/// Other host names are not looked up: a listening address should not depend on DNS at
/// start-up, and leaving the resolver out keeps it out of a static build.
fn parse_listen(v: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    if let Ok(port) = v.parse::<u16>() {
        return Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]);
    }
    if let Ok(a) = v.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let Some((host, port)) = v.rsplit_once(':') else {
        return err(format!(
            "--listen {v:?}: expected ADDR:PORT, for example 127.0.0.1:8080"
        ));
    };
    let Ok(port) = port.parse::<u16>() else {
        return err(format!(
            "--listen {v:?}: the port must be a number from 0 to 65535"
        ));
    };
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(vec![
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
        ]);
    }
    err(format!(
        "--listen {v:?}: give an IP address, for example 0.0.0.0:{port} or [::]:{port}; \
         host names other than localhost are not looked up"
    ))
}

/// A command-line error from lexopt, in our one-line form.
fn lex(e: lexopt::Error) -> ConfigError {
    ConfigError(format!("{e} (see --help)"))
}

/// The flag's value as a string (a one-line error if it is missing or not UTF-8).
fn string_value(p: &mut lexopt::Parser) -> Result<String, ConfigError> {
    use lexopt::ValueExt;
    p.value().map_err(lex)?.string().map_err(lex)
}

/// A `--write` or `--cgi` URL path prefix: absolute, no dot segments, nothing encoded,
/// ending in '/'.
fn url_prefix(p: &mut lexopt::Parser, flag: &str, example: &str) -> Result<String, ConfigError> {
    let v = string_value(p)?;
    check_prefix(&v).ok_or_else(|| {
        ConfigError(format!(
            "{flag} {v:?}: expected a URL path prefix such as {example}"
        ))
    })
}

/// A URL path prefix as given, made to end in '/'; `None` if it is not absolute, has a dot
/// segment or anything encoded.
fn check_prefix(v: &str) -> Option<String> {
    if !v.starts_with('/') || has_dot_segment(v) || v.contains(['%', '?', '#', '\\']) {
        return None;
    }
    Some(if v.ends_with('/') {
        v.to_string()
    } else {
        format!("{v}/")
    })
}

/// A `--health` or `--metrics` URL path, matched exactly: absolute, nothing encoded, no
/// query.
#[cfg(feature = "ops")]
fn exact_path(p: &mut lexopt::Parser, flag: &str, example: &str) -> Result<String, ConfigError> {
    let v = string_value(p)?;
    if !v.starts_with('/')
        || !v
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"%?#\\".contains(&b))
    {
        return err(format!(
            "{flag} {v:?}: expected a URL path such as {example}"
        ));
    }
    Ok(v)
}

/// Whether a '/'-separated path has a `.` or `..` segment.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| s == ".." || s == ".")
}

/// `1024`, `10K`, `500M`, `2G` (powers of 1024; an optional trailing `B` or `iB`).
fn parse_size(v: &str) -> Option<u64> {
    let t = v.trim_end_matches(['B', 'b']).trim_end_matches('i');
    let (num, mult) = match t.char_indices().last()? {
        (i, 'k' | 'K') => (&t[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&t[..i], 1 << 20),
        (i, 'g' | 'G') => (&t[..i], 1 << 30),
        (i, 't' | 'T') => (&t[..i], 1 << 40),
        _ => (t, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

fn parse_count(v: &str, flag: &str) -> Result<usize, ConfigError> {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => err(format!("{flag} {v:?}: expected a positive whole number")),
    }
}

/// Seconds as a whole or decimal number, with an optional `s` or `ms` suffix.
fn parse_secs(p: &mut lexopt::Parser, flag: &str) -> Result<Duration, ConfigError> {
    let v = p
        .value()
        .ok()
        .and_then(|v| v.into_string().ok())
        .ok_or_else(|| ConfigError(format!("{flag} needs a number of seconds")))?;
    let (num, unit_ns) = match v.strip_suffix("ms") {
        Some(n) => (n, 1_000_000),
        None => (v.strip_suffix('s').unwrap_or(&v), 1_000_000_000),
    };
    match decimal_nanos(num, unit_ns) {
        Some(ns) if ns > 0 && ns <= 86_400 * 1_000_000_000 => Ok(Duration::from_nanos(ns)),
        _ => err(format!(
            "{flag} {v:?}: expected seconds between 0 and 86400, e.g. 10 or 1.5"
        )),
    }
}

/// `12` or `1.25` units of `unit_ns` nanoseconds, in nanoseconds (digits past the nanosecond
/// are dropped). Plain decimal only: no sign, exponent, `inf` or `nan`.
fn decimal_nanos(num: &str, unit_ns: u64) -> Option<u64> {
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + frac.len() == 0 || !digits(whole) || !digits(frac) {
        return None;
    }
    let mut ns = if whole.is_empty() {
        0
    } else {
        whole.parse::<u64>().ok()?
    }
    .checked_mul(unit_ns)?;
    let mut place = unit_ns;
    for d in frac.bytes() {
        place /= 10;
        ns = ns.checked_add(u64::from(d - b'0') * place)?;
    }
    Some(ns)
}

/// An io::Error as a short lowercase phrase without the "(os error N)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s);
    s.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        let a = std::iter::once("barehttpd")
            .chain(args.iter().copied())
            .map(Into::into);
        match parse_args(a) {
            Ok(Command::Run(c)) => Ok(*c),
            Ok(_) => Err("help".into()),
            Err(e) => Err(e.0),
        }
    }

    #[test]
    fn defaults() {
        let c = run(&[]).unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1:8080".parse().unwrap()]);
        assert_eq!(c.index, "index.html");
        assert!(!c.listing);
        assert_eq!(c.access_log, AccessLog::Stdout);
        assert_eq!(c.max_connections, 10_000);
    }

    #[test]
    fn seconds_are_plain_decimals() {
        let secs = |v: &str| decimal_nanos(v, 1_000_000_000);
        assert_eq!(secs("10"), Some(10_000_000_000));
        assert_eq!(secs("1.5"), Some(1_500_000_000));
        assert_eq!(secs(".25"), Some(250_000_000));
        assert_eq!(secs("2."), Some(2_000_000_000));
        assert_eq!(secs("0.0000000019"), Some(1));
        assert_eq!(decimal_nanos("250", 1_000_000), Some(250_000_000));
        for bad in [
            "",
            ".",
            "-1",
            "+1",
            "1e3",
            "inf",
            "nan",
            "1.2.3",
            " 1",
            "99999999999",
        ] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
        let c = run(&["--header-timeout", "1.5", "--keepalive-timeout", "250ms"]).unwrap();
        assert_eq!(c.header_timeout, Duration::from_millis(1500));
        assert_eq!(c.keepalive_timeout, Duration::from_millis(250));
        assert!(run(&["--send-timeout", "86400.5"]).is_err());
        assert!(run(&["--send-timeout", "0"]).is_err());
    }

    #[test]
    fn listen_forms() {
        let c = run(&["-l", "[::1]:0", "--listen", "9000", "--listen=127.0.0.2:1"]).unwrap();
        assert_eq!(c.listen.len(), 3);
        assert!(run(&["--listen", "nonsense"]).is_err());
        assert!(run(&["--listen", "1.2.3.4:99999"]).is_err());
        let local = run(&["--listen", "localhost:8081"]).unwrap();
        assert_eq!(
            local.listen,
            vec![
                "127.0.0.1:8081".parse().unwrap(),
                "[::1]:8081".parse().unwrap()
            ]
        );
        let named = run(&["--listen", "example.test:80"]).unwrap_err();
        assert!(named.contains("not looked up"), "{named}");
    }

    #[test]
    fn sizes_and_write_prefixes() {
        assert_eq!(parse_size("10M"), Some(10 << 20));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("512"), Some(512));
        let c = run(&["--write", "/dav", "--max-body", "1K"]).unwrap();
        assert_eq!(c.write, vec!["/dav/".to_string()]);
        assert_eq!(c.max_body, 1024);
        assert_eq!(c.cgi_max_body, 1024, "--cgi-max-body is at most --max-body");
        let c = run(&["--cgi", "/cgi-bin/"]).unwrap();
        assert_eq!(c.cgi_max_body, CGI_MAX_BODY);
        let c = run(&["--cgi", "/cgi-bin/", "--cgi-max-body", "1M"]).unwrap();
        assert_eq!(c.cgi_max_body, 1 << 20);
        assert!(
            run(&[
                "--write",
                "/dav/",
                "--listen",
                "0.0.0.0:0",
                "--write-without-auth"
            ])
            .is_ok()
        );
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        for bad in [
            &["--workers", "0"][..],
            &["--bogus"],
            &["--header-timeout", "x"],
            &["/definitely/not/here"],
            &["Cargo.toml"],
            &["a", "b"],
            &["--header", "NoColon"],
            &["--header", "Content-Length: 5"],
            &["--fallback", "../etc/passwd"],
            &["--error-pages", "/definitely/not/here"],
            &["--write", "/dav/", "--listen", "0.0.0.0:0"],
            &["--write", "dav"],
            &["--max-body", "lots"],
            &["--cgi-max-body", "lots"],
            &["--health", "healthz"],
            &["--metrics", "/m?x"],
        ] {
            let e = run(bad).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    #[cfg(feature = "tls")]
    fn https_flags_are_checked_together_in_one_line() {
        let dir = std::env::temp_dir();
        let d = dir.to_str().unwrap();
        let e = |args: &[&str]| {
            let mut all = vec![d];
            all.extend_from_slice(args);
            run(&all).unwrap_err()
        };
        assert!(e(&["--tls-listen", "127.0.0.1:0"]).contains("needs a certificate"));
        assert!(e(&["--tls-cert", "a.pem", "--tls-key", "a.key"]).contains("needs --tls-listen"));
        assert!(e(&["--tls-listen", "0", "--tls-cert", "a.pem"]).contains("in pairs"));
        for flag in [
            &["--redirect-https"][..],
            &["--hsts", "60"],
            &["--acme", "a.test"],
        ] {
            assert!(e(flag).contains("needs --tls-listen"), "{flag:?}");
        }
        assert!(e(&["--hsts", "a year"]).contains("--hsts"));
        assert!(e(&["--tls-listen", "nonsense"]).starts_with("--tls-listen"));
        for bad in ["a..test", "-a.test", "localhost", "a_b.test"] {
            assert!(
                e(&["--tls-listen", "0", "--acme", bad]).contains("domain"),
                "{bad}"
            );
        }
        assert!(e(&["--acme-ca", "http://ca.test/dir"]).contains("https://"));
        let c = run(&[
            d,
            "--tls-listen",
            "0",
            "--acme",
            "A.Test",
            "--state-dir",
            "/s",
        ])
        .unwrap();
        assert_eq!(c.acme, ["a.test"]);
        assert_eq!(c.acme_ca, ACME_DEFAULT_CA);
        let c = run(&[
            d,
            "--tls-listen",
            "0",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "--hsts",
            "0",
        ])
        .unwrap();
        assert_eq!((c.hsts, c.tls_pairs.len()), (Some(0), 1));
    }

    #[test]
    #[cfg(all(feature = "tls", feature = "ops"))]
    fn a_site_s_hsts_and_redirect_https_override_the_server_s() {
        let dir = std::env::temp_dir().join(format!("barehttpd-site-hsts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sites.toml");
        let load = |toml: &str| {
            std::fs::write(&file, toml).unwrap();
            run(&["--config", file.to_str().unwrap()])
        };
        let server =
            "[server]\nlisten = [\"127.0.0.1:0\"]\ntls_listen = [\"127.0.0.1:0\"]\nhsts = 60\n";
        let c = load(&format!(
            "{server}[[site]]\nnames = [\"a.test\"]\nroot = \".\"\ntls_cert = \"c\"\ntls_key = \"k\"\n\
             hsts = 31_536_000\nredirect_https = true\n\
             [[site]]\nnames = [\"b.test\"]\nroot = \".\"\nhsts = false\nredirect_https = false\n\
             [[site]]\nnames = [\"c.test\"]\nroot = \".\"\nhsts = \"0\"\n\
             [[site]]\nnames = [\"d.test\"]\nroot = \".\"\n"
        ))
        .unwrap();
        let got: Vec<_> = c
            .sites
            .iter()
            .map(|s| (s.hsts_under(&c), s.redirects_under(&c)))
            .collect();
        assert_eq!(
            got,
            [
                (Some(31_536_000), true),
                (None, false),
                (Some(0), false),
                (Some(60), false),
            ],
            "the site's own, off, zero (forget the policy), the server's"
        );
        // The server's values and messages, at the site key's line (line 8).
        let site = |key: &str| format!("{server}[[site]]\nroot = \".\"\ndefault = true\n{key}\n");
        let hsts = "site.hsts: \"a year\": expected a number of seconds, e.g. 31536000 (a year)";
        for (key, want) in [
            ("hsts = \"a year\"", hsts),
            (
                "hsts = -1",
                "site.hsts: \"-1\": expected a number of seconds",
            ),
            (
                "hsts = 4294967296",
                "site.hsts: \"4294967296\": expected a number",
            ),
            (
                "hsts = true",
                "site.hsts: \"true\": expected a number of seconds",
            ),
            ("hsts = 1.5", "site.hsts: expected a string or a number"),
            (
                "redirect_https = \"yes\"",
                "site.redirect_https: expected true or false",
            ),
        ] {
            let e = load(&site(key)).unwrap_err();
            assert!(e.contains(":8: ") && e.contains(want), "{key}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e =
            load(&site("dotfiles = false").replace("hsts = 60", "hsts = \"a year\"")).unwrap_err();
        assert!(
            e.contains(":4: server.hsts: --hsts \"a year\": expected a number of seconds"),
            "{e}"
        );
        // A site that asks for HTTPS on a server without a TLS listener, as the flags.
        let plain =
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[[site]]\nroot = \".\"\ndefault = true\n";
        for key in ["redirect_https = true", "hsts = 0"] {
            let e = load(&format!("{plain}{key}\n")).unwrap_err();
            let name = key.split(' ').next().unwrap();
            assert!(
                e.contains(&format!(":3: site.{name}: needs tls_listen")),
                "{key}: {e}"
            );
        }
        for key in ["redirect_https = false", "hsts = false"] {
            assert!(load(&format!("{plain}{key}\n")).is_ok(), "{key}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg(not(feature = "tls"))]
    fn https_flags_in_a_build_without_tls_say_so() {
        let e = run(&["--tls-listen", "127.0.0.1:0"]).unwrap_err();
        assert!(e.contains("built without HTTPS"), "{e}");
    }

    #[test]
    fn socket_activation_variables() {
        let act = |pid, fds, names| activation(pid, fds, names, 42);
        // sd_listen_fds(3): not for this process, or nothing passed.
        assert_eq!(act(None, Some("2"), None).unwrap(), vec![]);
        assert_eq!(act(Some("41"), Some("2"), None).unwrap(), vec![]);
        assert_eq!(act(Some("42"), None, None).unwrap(), vec![]);
        let kind = |fd, tls, proxy| Activated { fd, tls, proxy };
        let plain = |fd| kind(fd, false, false);
        let tls = |fd| kind(fd, true, false);
        assert_eq!(
            act(Some("42"), Some("2"), None).unwrap(),
            vec![plain(3), plain(4)]
        );
        assert_eq!(
            act(Some("42"), Some("4"), Some("http:https:tls-v6:web")).unwrap(),
            vec![plain(3), tls(4), tls(5), plain(6)]
        );
        // The names an upgrade passes, and the other spellings of a PROXY listener's kind.
        assert_eq!(
            act(
                Some("42"),
                Some("5"),
                Some("proxy:proxy-tls:proxy-http:proxy-https:proxytls")
            )
            .unwrap(),
            vec![
                kind(3, false, true),
                kind(4, true, true),
                kind(5, false, true),
                kind(6, true, true),
                kind(7, true, true)
            ]
        );
        assert!(act(Some("42"), Some("x"), None).is_err());
        assert!(act(Some("42"), Some("1001"), None).is_err());
        let e = act(Some("42"), Some("1"), Some("a:b")).unwrap_err();
        assert!(e.0.contains("2 names"), "{}", e.0);
    }
}
