//! The `barehttpd` command: flags → Config → run. Start-up errors are one line, exit code 2.

#![deny(unsafe_code)]

use barehttpd::config::{self, Command};
use barehttpd::server::Server;
use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match config::parse_args(std::env::args_os()) {
        Ok(Command::Run(c)) => *c,
        #[cfg(feature = "ops")]
        Ok(Command::CheckConfig(c)) => {
            return match Server::check(*c) {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            };
        }
        Ok(Command::Help) => {
            print!("{}", config::help());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("barehttpd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&e.to_string()),
    };
    // Before any thread starts, so that every thread inherits the blocked signals.
    barehttpd::sys::signal::block_shutdown_signals();
    #[cfg(feature = "count-alloc")]
    barehttpd::alloc_count::report_on_sigusr1();
    let server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("barehttpd: {msg}");
    ExitCode::from(2)
}
