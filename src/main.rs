//! The `commwatch` command: parses arguments, sets up logging, loads the config and hands over
//! to the library. Everything testable lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use commwatch::app::App;
use commwatch::config::Config;
use commwatch::probe::Prober;

#[derive(Parser)]
#[command(
    name = "commwatch",
    version,
    about = "Disaster-communications status monitor for telecom and postal endpoints",
    after_help = "Examples:\n  commwatch run -c config/minimal.toml\n  commwatch check -c /etc/commwatch/commwatch.toml\n  commwatch probe -c config/ha-tinh.toml ht-ky-anh-viettel --json\n\nLogging: RUST_LOG=debug commwatch run -c FILE; --log-format json for journald or Loki."
)]
struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
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
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        eprintln!("configuration refused: {} problem(s)", e.0.len());
        ExitCode::from(1)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Check { config } => match load(&config) {
            Ok(c) => {
                println!("{}: ok, {} targets", config.display(), c.targets.len());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run { config } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
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
                wait_for_signal().await;
                tracing::info!("signal received; shutting down");
                token.cancel();
            });
            #[cfg(unix)]
            reload_on_sighup(app.state.reloader.clone());
            app.run_until_stopped().await;
            ExitCode::SUCCESS
        }
        Command::Probe {
            config,
            target,
            json,
        } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let Some(t) = cfg.target(&target) else {
                eprintln!("commwatch: no target `{target}` in {}", config.display());
                return ExitCode::from(2);
            };
            let prober = match Prober::new() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("commwatch: {e}");
                    return ExitCode::from(1);
                }
            };
            let obs = prober.run(&t.spec, t.timeout).await;
            let sample = t.judge(&obs);
            if json {
                let out = serde_json::json!({
                    "target": t.id,
                    "kind": t.kind(),
                    "endpoint": t.spec.endpoint(),
                    "ok": sample.ok,
                    "degraded": sample.degraded,
                    "observation": obs,
                    "checks": sample.checks,
                });
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                print!("{}", commwatch::probe::describe(t, &obs, &sample));
            }
            if sample.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// SIGHUP re-reads the configuration (systemd's `ExecReload`); a bad file is refused and logged.
#[cfg(unix)]
fn reload_on_sighup(reloader: commwatch::reload::Reloader) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with POST /-/reload instead");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received; reloading configuration");
            // The reload task logs the outcome itself.
            let _ = reloader.reload().await;
        }
    });
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd, docker stop).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C will stop commwatch");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
