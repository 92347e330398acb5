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
    after_help = "Examples:\n  commwatch run -c config/minimal.toml\n  commwatch check -c /etc/commwatch/commwatch.toml\n  commwatch demo\n  commwatch probe -c config/ha-tinh.toml ht-ky_anh-fpt --json\n\nLogging: RUST_LOG=debug commwatch run -c FILE; --log-format json for journald or Loki."
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
    /// Play a scripted storm over a simulated Hà Tĩnh on loopback: status page, drill, report.
    Demo(commwatch::demo::DemoArgs),
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
        #[command(subcommand)]
        action: DrillAction,
    },
}

#[derive(Subcommand)]
enum DrillAction {
    /// Start a drill now (admin token).
    Start {
        #[arg(long)]
        name: String,
        /// label=value; repeat a label for several values, e.g. --scope province="Hà Tĩnh"
        /// --scope operator=viettel --scope operator=vnpt. None covers every target.
        #[arg(long, value_name = "LABEL=VALUE")]
        scope: Vec<String>,
        #[arg(long, default_value = "")]
        scenario: String,
        /// A person in charge; repeat for several.
        #[arg(long)]
        leader: Vec<String>,
        /// Probing interval in scope while the drill runs.
        #[arg(long, default_value = "10s")]
        interval: String,
        /// Planned length; the drill ends by itself then.
        #[arg(long)]
        duration: String,
        /// Comparison window before the start.
        #[arg(long)]
        baseline: Option<String>,
    },
    /// Stop a running drill (admin token).
    Stop { id: i64 },
    /// List drills, newest first.
    List {
        /// Only running drills.
        #[arg(long)]
        running: bool,
    },
    /// Add a timeline note (officer token).
    Note {
        id: i64,
        #[arg(long)]
        text: String,
        /// A target failed on purpose now (an injected fault); repeat for several.
        #[arg(long, value_name = "TARGET")]
        expect_down: Vec<String>,
        /// When the injected fault should end (RFC 3339).
        #[arg(long)]
        until: Option<String>,
    },
    /// Print or save the after-action report.
    Report {
        id: i64,
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        #[arg(long, default_value = "vi")]
        lang: String,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Html,
    Csv,
    Json,
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
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
    // The demo prints its own progress; the daemon's info lines would bury it.
    let level = if matches!(cli.command, Command::Demo(_)) {
        "warn"
    } else {
        "info"
    };
    init_logging(cli.log_format, level);
    match cli.command {
        Command::Check { config } => match load(&config) {
            Ok(c) => {
                println!("{}: ok, {} targets", config.display(), c.targets.len());
                let (cap, storm) = (c.probe_cap(), c.storm_sockets());
                let how = if c.scheduler.max_concurrency.is_some() {
                    "max_concurrency"
                } else {
                    "sized for a storm"
                };
                println!(
                    "  probes holding sockets at once: at most {cap} ({how}); {storm} if every endpoint timed out"
                );
                if cap < storm {
                    println!(
                        "warning: max_concurrency = {cap} is below {storm}: in a storm probes would queue and outages be seen late"
                    );
                }
                // `run` raises the soft open-files limit to the hard one, then fits the cap.
                if let Ok((_, hard)) = commwatch::limits::nofile_limits() {
                    let fits = commwatch::limits::fit_concurrency(cap, hard);
                    if fits < cap {
                        println!(
                            "warning: the open-files limit ({hard}) leaves room for {fits} probe sockets, not {cap}; raise it (systemd: LimitNOFILE)"
                        );
                    }
                }
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
        Command::Drill {
            url,
            config,
            action,
        } => drill(url, config, action).await,
        Command::Demo(args) => commwatch::demo::main(args, wait_for_signal()).await,
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
                print!("{}", t.describe(&obs, &sample));
            }
            if sample.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// `commwatch drill ...`: one request to the daemon's drill API, its answer on stdout.
async fn drill(url: Option<String>, config: Option<PathBuf>, action: DrillAction) -> ExitCode {
    use commwatch::drill::client::Client;
    let base = match (url, config) {
        (Some(u), _) => u,
        (None, Some(path)) => match load(&path) {
            Ok(c) => format!("http://{}", c.server.listen),
            Err(code) => return code,
        },
        (None, None) => format!("http://{}", commwatch::config::DEFAULT_LISTEN),
    };
    let token = std::env::var("COMMWATCH_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let client = match Client::new(&base, token) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("commwatch: {e}");
            return ExitCode::from(1);
        }
    };
    let result: Result<(), commwatch::drill::client::ClientError> = async {
        match action {
            DrillAction::Start {
                name,
                scope,
                scenario,
                leader,
                interval,
                duration,
                baseline,
            } => {
                let mut map = serde_json::Map::new();
                for s in &scope {
                    let Some((k, v)) = s.split_once('=') else {
                        return Err(commwatch::drill::client::ClientError::Usage(format!(
                            "--scope `{s}` is not LABEL=VALUE"
                        )));
                    };
                    let entry = map
                        .entry(k.trim().to_string())
                        .or_insert_with(|| serde_json::json!([]));
                    if let Some(a) = entry.as_array_mut() {
                        a.push(serde_json::json!(v.trim()));
                    }
                }
                let mut body = serde_json::json!({
                    "name": name, "scenario": scenario, "scope": map, "leaders": leader,
                    "interval": interval, "duration": duration,
                });
                if let Some(b) = baseline {
                    body["baseline"] = serde_json::json!(b);
                }
                let d = client.start(&body).await?;
                print_json(&d);
            }
            DrillAction::Stop { id } => print_json(&client.stop(id).await?),
            DrillAction::List { running } => {
                let list = client.list(running.then_some(true)).await?;
                for d in &list {
                    println!(
                        "{}\t{}\t{}\t{}\t{} targets",
                        d.id,
                        if d.running() { "running" } else { "ended" },
                        d.started_at.to_rfc3339(),
                        d.name,
                        d.targets
                    );
                }
            }
            DrillAction::Note {
                id,
                text,
                expect_down,
                until,
            } => {
                let mut body = serde_json::json!({ "text": text });
                if !expect_down.is_empty() {
                    body["expected_down"] =
                        serde_json::json!({ "targets": expect_down, "until": until });
                }
                print_json(&client.note(id, &body).await?);
            }
            DrillAction::Report {
                id,
                format,
                lang,
                output,
            } => {
                let f = match format {
                    ReportFormat::Html => "html",
                    ReportFormat::Csv => "csv",
                    ReportFormat::Json => "json",
                };
                let text = client.report(id, f, &lang).await?;
                match output {
                    Some(path) => {
                        if let Err(e) = std::fs::write(&path, text) {
                            eprintln!("commwatch: cannot write {}: {e}", path.display());
                        } else {
                            eprintln!("report written to {}", path.display());
                        }
                    }
                    None => print!("{text}"),
                }
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("commwatch: {e}");
            ExitCode::from(1)
        }
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("commwatch: cannot print the answer: {e}"),
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
