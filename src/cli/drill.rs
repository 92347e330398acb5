//! `commwatch drill ...`: start, stop, list, annotate and report drills on a running daemon,
//! one request to its drill API each.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::drill::client::{Client, ClientError};
use crate::time;

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
        /// Planned length; the drill ends by itself then. Without it the drill runs until it
        /// is stopped, at most 72 hours.
        #[arg(long)]
        duration: Option<String>,
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
        /// When the injected fault should end (RFC 3339); only with --expect-down.
        #[arg(long, requires = "expect_down")]
        until: Option<String>,
    },
    /// Print or save the after-action report.
    Report {
        id: i64,
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        #[arg(long, value_enum, default_value_t = ReportLang::Vi)]
        lang: ReportLang,
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

/// The report's language: Vietnamese (the default) or English.
#[derive(Clone, Copy, ValueEnum)]
pub enum ReportLang {
    Vi,
    En,
}

/// One `commwatch drill ...` invocation: where the daemon is, the token, how to print.
pub struct Invocation {
    pub url: Option<String>,
    pub config: Option<PathBuf>,
    /// The bearer token (`COMMWATCH_TOKEN`).
    pub token: Option<String>,
    /// Print the daemon's JSON answer instead of a line for people.
    pub json: bool,
    pub action: DrillAction,
}

/// `commwatch drill ...`: one request to the daemon's drill API; the answer goes to `out`,
/// errors to `err` (standard output and error for the binary, buffers for tests).
pub async fn run(inv: Invocation, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let base = match (inv.url, inv.config) {
        (Some(u), _) => u,
        (None, Some(path)) => match super::load(&path) {
            Ok(c) => format!("http://{}", c.server.listen),
            Err(code) => return code,
        },
        (None, None) => format!("http://{}", crate::config::DEFAULT_LISTEN),
    };
    let client = match Client::new(&base, inv.token) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "commwatch: {e}");
            return ExitCode::from(1);
        }
    };
    match act(&client, inv.action, inv.json, out, err).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "commwatch: {e}");
            ExitCode::from(1)
        }
    }
}

// Writes to `out`/`err` are best effort: a closed pipe must not turn a done request into an
// error exit, so their results are ignored below.
async fn act(
    client: &Client,
    action: DrillAction,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), ClientError> {
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
            let mut body = serde_json::json!({
                "name": name, "scenario": scenario, "scope": scope_map(&scope)?,
                "leaders": leader, "interval": interval, "duration": duration,
            });
            if let Some(b) = baseline {
                body["baseline"] = serde_json::json!(b);
            }
            let d = client.start(&body).await?;
            if json {
                print_json(out, &d);
            } else {
                let _ = writeln!(
                    out,
                    "drill {} started: {} ({} targets), ends by itself at {}",
                    d.id,
                    d.name,
                    d.targets,
                    time::local_datetime(d.planned_end)
                );
            }
        }
        DrillAction::Stop { id } => {
            let d = client.stop(id).await?;
            if json {
                print_json(out, &d);
            } else {
                let at = d
                    .ended_at
                    .map_or_else(|| "-".to_string(), time::local_datetime);
                let _ = writeln!(out, "drill {} stopped at {at}: {}", d.id, d.name);
            }
        }
        DrillAction::List { running } => {
            let list = client.list(running.then_some(true)).await?;
            if json {
                print_json(out, &list);
            } else if list.is_empty() {
                let what = if running {
                    "no running drills"
                } else {
                    "no drills"
                };
                let _ = writeln!(out, "{what}");
            } else {
                for d in &list {
                    let _ = writeln!(
                        out,
                        "{}\t{}\t{}\t{}\t{} targets",
                        d.id,
                        if d.running() { "running" } else { "ended" },
                        time::local_datetime(d.started_at),
                        d.name,
                        d.targets
                    );
                }
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
            let n = client.note(id, &body).await?;
            if json {
                print_json(out, &n);
            } else {
                let _ = writeln!(
                    out,
                    "note {} added to drill {} at {}: {}",
                    n.id,
                    n.drill_id,
                    time::local_datetime(n.at),
                    n.text
                );
            }
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
            let lang = match lang {
                ReportLang::Vi => "vi",
                ReportLang::En => "en",
            };
            let text = client.report(id, f, lang).await?;
            match output {
                Some(path) => std::fs::write(&path, text)
                    .map(|()| {
                        let _ = writeln!(err, "report written to {}", path.display());
                    })
                    .map_err(|e| {
                        ClientError::Usage(format!("cannot write {}: {e}", path.display()))
                    })?,
                None => {
                    let _ = write!(out, "{text}");
                }
            }
        }
    }
    Ok(())
}

/// `--scope label=value` flags as the API's scope: label -> values.
fn scope_map(scope: &[String]) -> Result<serde_json::Map<String, serde_json::Value>, ClientError> {
    let mut map = serde_json::Map::new();
    for s in scope {
        let Some((k, v)) = s.split_once('=') else {
            return Err(ClientError::Usage(format!(
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
    Ok(map)
}

fn print_json<T: serde::Serialize>(out: &mut dyn Write, v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            let _ = writeln!(out, "{s}");
        }
        Err(e) => {
            let _ = writeln!(out, "commwatch: cannot print the answer: {e}");
        }
    }
}
