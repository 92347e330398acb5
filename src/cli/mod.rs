//! The command line (`run`, `check`, `probe`, `demo`, `drill`, `store`, `token`) as library code: the binary only
//! parses arguments and calls [`main`], and tests call the same functions.

pub mod check;
pub mod drill;
pub mod probe;
pub mod store;
pub mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::App;
use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "commwatch",
    version,
    about = "Disaster-communications status monitor for telecom and postal endpoints",
    after_help = "Examples:\n  commwatch run -c config/minimal.toml\n  commwatch check -c /etc/commwatch/commwatch.toml\n  commwatch demo\n  commwatch probe -c config/ha-tinh.toml ht-ky_anh-fpt --json\n\nLogging: RUST_LOG=debug commwatch run -c FILE; --log-format json for journald or Loki."
)]
pub struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the daemon: probe every target, serve the status page, API and /metrics.
    Run {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate a configuration and exit 0 if it is valid, 1 if not.
    Check {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Probe one target once and print what was observed.
    Probe {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// The target's id.
        target: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Migrate, check or copy the store (SQLite file or PostgreSQL database).
    Store {
        #[command(subcommand)]
        action: store::StoreAction,
    },
    /// Make bearer tokens for `[[auth.tokens]]` (viewer, officer, admin).
    Token {
        #[command(subcommand)]
        action: token::TokenAction,
    },
    /// Play a scripted storm over a simulated Hà Tĩnh on loopback: status page, drill, report.
    Demo(crate::rig::demo::DemoArgs),
    /// Start, stop, list and annotate drills, and fetch their reports, on a running daemon.
    /// The bearer token comes from the COMMWATCH_TOKEN environment variable.
    Drill {
        /// The daemon's address; defaults to the listen address in --config, else
        /// http://127.0.0.1:9800.
        #[arg(long, global = true)]
        url: Option<String>,
        /// A configuration to read the daemon's listen address from.
        #[arg(short, long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        /// Print the daemon's JSON answer instead of a line for people.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: drill::DrillAction,
    },
}

/// Logs to stderr in the chosen format, at `RUST_LOG` or `default_level`.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colours only for a person at a terminal: journald, files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Loads a configuration, printing its problems (file:line: key: message) when refused.
pub(crate) fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        let n = e.0.len();
        eprintln!(
            "configuration refused: {n} {}",
            if n == 1 { "problem" } else { "problems" }
        );
        ExitCode::from(1)
    })
}

/// Runs one command line, as the `commwatch` binary does; the exit code is the command's.
pub async fn main(cli: Cli) -> ExitCode {
    // The demo prints its own progress; the daemon's info lines would bury it.
    let level = if matches!(cli.command, Command::Demo(_)) {
        "warn"
    } else {
        "info"
    };
    init_logging(cli.log_format, level);
    match cli.command {
        Command::Check { config } => check::run(&config),
        Command::Run { config } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            // Both signals are taken over before the daemon answers anything: a SIGHUP or
            // SIGTERM sent the moment the status page is up must reload or stop it cleanly,
            // never meet the default action, which kills the process on the spot.
            let stop = wait_for_signal();
            #[cfg(unix)]
            let hup = hangup();
            let app = match App::start(cfg).await {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("commwatch: {e}");
                    return ExitCode::from(1);
                }
            };
            eprintln!("commwatch: status page at http://{}/", app.local_addr());
            let token = app.shutdown_token();
            tokio::spawn(async move {
                stop.await;
                tracing::info!("signal received; shutting down");
                token.cancel();
            });
            #[cfg(unix)]
            if let Some(hup) = hup {
                reload_on_sighup(hup, app.state.reloader.clone());
            }
            app.run_until_stopped().await;
            ExitCode::SUCCESS
        }
        Command::Drill {
            url,
            config,
            json,
            action,
        } => {
            let inv = drill::Invocation {
                url,
                config,
                token: std::env::var("COMMWATCH_TOKEN")
                    .ok()
                    .filter(|t| !t.is_empty()),
                json,
                action,
            };
            drill::run(inv, &mut std::io::stdout(), &mut std::io::stderr()).await
        }
        Command::Store { action } => {
            store::run(action, &mut std::io::stdout(), &mut std::io::stderr()).await
        }
        Command::Token { action } => match token::run(action, &mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("commwatch: {e}");
                ExitCode::from(2)
            }
        },
        Command::Demo(args) => crate::rig::demo::main(args, wait_for_signal()).await,
        Command::Probe {
            config,
            target,
            json,
        } => probe::run(&config, &target, json).await,
    }
}

/// Takes SIGHUP over from the default action (which ends the process); `None`, logged, when
/// the system refuses.
#[cfg(unix)]
fn hangup() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with POST /-/reload instead");
            None
        }
    }
}

/// SIGHUP re-reads the configuration (systemd's `ExecReload`); a bad file is refused and logged.
#[cfg(unix)]
fn reload_on_sighup(mut hup: tokio::signal::unix::Signal, reloader: crate::shared::Reloader) {
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received; reloading configuration");
            // The reload task logs the outcome itself.
            let _ = reloader.reload().await;
        }
    });
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd, docker stop). The signals are taken over when this is
/// called, not when the future is first polled, so a caller that calls it before it starts
/// answering cannot be killed by a signal that arrives in between.
pub fn wait_for_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = signal(SignalKind::terminate())
            .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)));
        async move {
            match streams {
                Ok((mut term, mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C will stop commwatch");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
