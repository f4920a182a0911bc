//! SIGHUP: read the configuration again (the config file, or the same flags) and put it in
//! force without dropping anyone.
//!
//! The main thread, which took the signal, does all of it: parse and check the
//! configuration, open the sites' roots, read the credentials and certificates, open the
//! listeners that were added and take over those that stay (`open_listeners`). Only a
//! complete new `Served` replaces the old one (`Shared::replace`); any error is reported on
//! one line and the configuration in force stays. The workers take the new one up between
//! two passes of their loops (`Worker::take_up`): requests read from then on are routed by
//! it, while an answer already begun keeps what it opened (its file, an upload's folder, a
//! CGI program). Removed listeners close once every worker has let go of the old
//! configuration; those that stay are the same sockets, so no connection is refused.
//!
//! What a running process cannot change is refused with a message (the old configuration
//! stays): the number of workers, `--user`, the ACME settings, and the access log and
//! trace destinations, which are opened once at start.

use super::{Server, open_listeners, sweep_report};
use crate::config::{self, Command, Config};
use crate::worker::Served;

impl Server {
    /// SIGHUP.
    pub(super) fn reload(&self) {
        let old = self.shared.served();
        match self.next(&old) {
            Ok(next) => {
                let (sites, listeners) = (next.sites.len(), next.listeners.len());
                let opened = next
                    .listeners
                    .iter()
                    .filter(|l| {
                        !old.listeners
                            .iter()
                            .any(|o| std::sync::Arc::ptr_eq(&o.fd, &l.fd))
                    })
                    .count();
                let closed = old
                    .listeners
                    .iter()
                    .filter(|o| {
                        !next
                            .listeners
                            .iter()
                            .any(|l| std::sync::Arc::ptr_eq(&o.fd, &l.fd))
                    })
                    .count();
                let quiet = next.config.quiet;
                self.shared.replace(next);
                if !quiet {
                    eprintln!(
                        "barehttpd: reload: {sites} site{}, {listeners} listener{} ({opened} opened, {closed} closed)",
                        if sites == 1 { "" } else { "s" },
                        if listeners == 1 { "" } else { "s" },
                    );
                }
            }
            Err(e) => crate::sys::log_error(format_args!(
                "barehttpd: reload: {e}; the configuration in force stays"
            )),
        }
    }

    /// The new configuration, everything it names opened; the old one lends what stayed.
    fn next(&self, old: &Served) -> Result<Served, String> {
        let mut config = match config::parse_args(std::env::args_os()).map_err(|e| e.0)? {
            Command::Run(c) => *c,
            _ => return Err("the command line no longer starts a server".into()),
        };
        fixed(&old.config, &config)?;
        let listeners = open_listeners(&mut config, Vec::new(), &old.listeners)?;
        config::check_write_exposure(&config, config.plain_listen()).map_err(|e| e.0)?;
        let next = Served::new(config, listeners, Some(old))?;
        // New write prefixes may hold what a killed server left; the running uploads'
        // temporary files carry this process's id and are left alone (they were removed
        // here as an earlier process's, so a SIGHUP lost every upload in progress).
        sweep_report(&next, None);
        Ok(next)
    }
}

/// Refuse changes a running process cannot make.
fn fixed(old: &Config, new: &Config) -> Result<(), String> {
    let same = |what: &str, a: bool| {
        if a {
            Ok(())
        } else {
            Err(format!("{what} changed, which takes a restart"))
        }
    };
    same("workers", old.workers == new.workers)?;
    same("user", old.user == new.user)?;
    same("access_log", old.access_log == new.access_log)?;
    same(
        "trace",
        old.trace == new.trace && old.trace_file == new.trace_file,
    )?;
    same(
        "the ACME settings",
        old.acme == new.acme
            && old.acme_ca == new.acme_ca
            && old.acme_email == new.acme_email
            && old.state_dir == new.state_dir,
    )?;
    Ok(())
}
