//! `commwatch drill ...`: start, stop, list, annotate and report drills on a running daemon,
//! one request to its drill API each.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

#[derive(Subcommand)]
pub enum DrillAction {
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
pub enum ReportFormat {
    Html,
    Csv,
    Json,
}

/// `commwatch drill ...`: one request to the daemon's drill API, its answer on stdout.
pub async fn run(url: Option<String>, config: Option<PathBuf>, action: DrillAction) -> ExitCode {
    use crate::drill::client::Client;
    let base = match (url, config) {
        (Some(u), _) => u,
        (None, Some(path)) => match super::load(&path) {
            Ok(c) => format!("http://{}", c.server.listen),
            Err(code) => return code,
        },
        (None, None) => format!("http://{}", crate::config::DEFAULT_LISTEN),
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
    let result: Result<(), crate::drill::client::ClientError> = async {
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
                        return Err(crate::drill::client::ClientError::Usage(format!(
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
