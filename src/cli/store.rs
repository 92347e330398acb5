//! `commwatch store migrate|check|copy`: bring the configured database to this binary's schema,
//! say where it stands without changing it, and move a record from one store to another (an
//! operations room's SQLite file into the shared PostgreSQL), verified by counts and by 30-day
//! availability on both sides.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use crate::store::{PgSettings, PgTls, Retention, Store, StoreError, WriterHandle};

#[derive(Subcommand)]
pub enum StoreAction {
    /// Apply the migrations this binary has to the configured database, then exit.
    Migrate {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Say which schema the configured database has, without changing it. Exit 0 when it is
    /// this binary's, 1 when it needs `migrate` or is newer than this binary, 2 when it cannot
    /// be reached.
    Check {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Copy every record from one store to another. Safe to run again: an interrupted copy
    /// goes on where it stopped. Stores are `sqlite:PATH`, `postgres://USER@HOST:PORT/DB`
    /// (or `postgres:URL`; TLS with `?sslmode=verify-full&sslrootcert=CA_FILE`, or
    /// `disable`, `prefer` (the default), `require`), or `config:FILE` for the `[storage]` of
    /// a configuration.
    Copy {
        #[arg(long, value_name = "STORE")]
        from: String,
        #[arg(long, value_name = "STORE")]
        to: String,
        /// The PostgreSQL password, for a `postgres://` store given on the command line.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// A store named on the command line.
enum Spec {
    Sqlite(PathBuf),
    Postgres(PgSettings),
}

fn parse_spec(s: &str, password_file: Option<&Path>) -> Result<Spec, String> {
    if let Some(path) = s.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err("sqlite: needs a file path".into());
        }
        return Ok(Spec::Sqlite(PathBuf::from(path)));
    }
    if let Some(file) = s.strip_prefix("config:") {
        let cfg = crate::config::Config::load(Path::new(file)).map_err(|e| e.to_string())?;
        return match &cfg.storage.backend {
            crate::config::StorageBackend::Sqlite => Ok(Spec::Sqlite(cfg.storage.path.clone())),
            crate::config::StorageBackend::Postgres(pg) => PgSettings::from_config(pg)
                .map(Spec::Postgres)
                .map_err(|e| e.to_string()),
        };
    }
    let url = s
        .strip_prefix("postgres:")
        .filter(|u| u.contains("://"))
        .unwrap_or(s);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // Never echo the URL: a malformed one may still carry a password.
        let parsed = url::Url::parse(url).map_err(|e| format!("the PostgreSQL URL: {e}"))?;
        if parsed.password().is_some() {
            return Err(
                "put the password in a file and pass --password-file, not in the URL".into(),
            );
        }
        // TLS as libpq spells it in a URL: `sslmode` (disable, prefer, require, verify-full)
        // and `sslrootcert` (the CA file for verify-full). Taken out of the URL here: the
        // client library knows neither verify-full nor the CA file, and would otherwise let
        // its own reading of `sslmode` be overridden without a word.
        let mut sslmode = None;
        let mut ca_file = None;
        let mut kept = Vec::new();
        for (k, v) in parsed.query_pairs() {
            match k.as_ref() {
                "sslmode" => sslmode = Some(v.into_owned()),
                "sslrootcert" => ca_file = Some(PathBuf::from(v.as_ref())),
                "password" => {
                    return Err(
                        "put the password in a file and pass --password-file, not in the URL"
                            .into(),
                    );
                }
                _ => kept.push((k.into_owned(), v.into_owned())),
            }
        }
        let tls = match sslmode.as_deref() {
            None | Some("prefer") => PgTls::Prefer,
            Some("disable") => PgTls::Disable,
            Some("require") => PgTls::Require,
            Some("verify-full") => PgTls::VerifyFull {
                ca_file: ca_file.take(),
            },
            Some(other) => {
                return Err(format!(
                    "{url}: sslmode {other:?} is not one of disable, prefer, require, verify-full"
                ));
            }
        };
        if ca_file.is_some() {
            return Err(format!(
                "{url}: sslrootcert is only used with sslmode=verify-full"
            ));
        }
        let mut clean = parsed.clone();
        clean.set_query(None);
        if !kept.is_empty() {
            clean.query_pairs_mut().extend_pairs(kept);
        }
        let password = match password_file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| format!("cannot read the password file {}: {e}", f.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            ),
            None => None,
        };
        return Ok(Spec::Postgres(PgSettings {
            url: clean.to_string(),
            password,
            pool_size: 2,
            connect_timeout: std::time::Duration::from_secs(10),
            tls,
        }));
    }
    Err(format!(
        "{s}: a store is sqlite:PATH, postgres://USER@HOST:PORT/DB or config:FILE"
    ))
}

/// A copy keeps everything: no retention pass may prune what it moves (the destination's
/// daemon applies its own `[storage]` retention once it runs).
const KEEP_ALL: Retention = Retention {
    raw: std::time::Duration::from_secs(100 * 365 * 86_400),
    minute: std::time::Duration::from_secs(100 * 365 * 86_400),
};

fn open(spec: &Spec) -> Result<(Store, WriterHandle), StoreError> {
    match spec {
        Spec::Sqlite(path) => Store::open(path, KEEP_ALL),
        Spec::Postgres(settings) => Store::open_postgres(settings, KEEP_ALL),
    }
}

/// Runs one `store` command, writing to `out` and `err`.
pub async fn run(action: StoreAction, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    match action {
        StoreAction::Migrate { config } => {
            let cfg = match super::load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match Store::open_configured(&cfg.storage) {
                Ok((store, writer)) => {
                    let place = store.place().to_string();
                    drop(store);
                    writer.join().await;
                    match Store::schema_status(&cfg.storage) {
                        Ok(s) => {
                            let _ = writeln!(
                                out,
                                "{place}: schema {} (up to date)",
                                s.applied.unwrap_or(0)
                            );
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            let _ = writeln!(err, "commwatch: {e}");
                            ExitCode::from(2)
                        }
                    }
                }
                Err(e) => {
                    let _ = writeln!(err, "commwatch: {e}");
                    ExitCode::from(if matches!(e, StoreError::TooNew(..)) {
                        1
                    } else {
                        2
                    })
                }
            }
        }
        StoreAction::Check { config, json } => {
            let cfg = match super::load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match Store::schema_status(&cfg.storage) {
                Ok(s) => {
                    let verdict = if s.up_to_date() {
                        "up to date"
                    } else if s.too_new() {
                        "newer than this commwatch: run the newer binary"
                    } else {
                        "behind: run `commwatch store migrate`"
                    };
                    if json {
                        let _ = writeln!(
                            out,
                            "{}",
                            serde_json::json!({
                                "backend": backend_name(&cfg.storage),
                                "reachable": true,
                                "applied": s.applied,
                                "latest": s.latest,
                                "up_to_date": s.up_to_date(),
                            })
                        );
                    } else {
                        let _ = writeln!(
                            out,
                            "{}: schema {} of {} ({verdict})",
                            backend_name(&cfg.storage),
                            s.applied.map_or("none".to_string(), |a| a.to_string()),
                            s.latest
                        );
                    }
                    if s.up_to_date() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    if json {
                        // A script reading stdout learns why, not only the exit code.
                        let _ = writeln!(
                            out,
                            "{}",
                            serde_json::json!({
                                "backend": backend_name(&cfg.storage),
                                "reachable": false,
                                "up_to_date": false,
                                "error": e.to_string(),
                            })
                        );
                    }
                    let _ = writeln!(err, "commwatch: {e}");
                    ExitCode::from(2)
                }
            }
        }
        StoreAction::Copy {
            from,
            to,
            password_file,
            json,
        } => {
            let specs = parse_spec(&from, password_file.as_deref())
                .and_then(|f| Ok((f, parse_spec(&to, password_file.as_deref())?)));
            let (from, to) = match specs {
                Ok(s) => s,
                Err(e) => {
                    let _ = writeln!(err, "commwatch: {e}");
                    return ExitCode::from(2);
                }
            };
            let opened = open(&from).and_then(|a| Ok((a, open(&to)?)));
            let ((src, src_writer), (dst, dst_writer)) = match opened {
                Ok(s) => s,
                Err(e) => {
                    let _ = writeln!(err, "commwatch: {e}");
                    return ExitCode::from(2);
                }
            };
            let now = crate::time::now_ms();
            let result = crate::store::copy::copy(&src, &dst, now, |t| {
                if !json {
                    let _ = writeln!(
                        err,
                        "{:<14} {:>10} rows, {:>10} copied now, {:>10} in the destination",
                        t.table, t.source, t.inserted, t.destination
                    );
                }
            })
            .await;
            drop((src, dst));
            src_writer.join().await;
            dst_writer.join().await;
            match result {
                Ok(report) => {
                    if json {
                        let _ = writeln!(
                            out,
                            "{}",
                            serde_json::to_string(&report).unwrap_or_default()
                        );
                    } else if report.verified() {
                        let _ = writeln!(
                            out,
                            "copied and verified: row counts equal, 30-day availability equal for {} targets",
                            report.targets_compared
                        );
                    } else {
                        for m in &report.mismatches {
                            let _ = writeln!(out, "mismatch: {m}");
                        }
                    }
                    if report.verified() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    let _ = writeln!(err, "commwatch: copy stopped: {e}; run it again to go on");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn backend_name(s: &crate::config::StorageConfig) -> String {
    match &s.backend {
        crate::config::StorageBackend::Sqlite => format!("sqlite {}", s.path.display()),
        crate::config::StorageBackend::Postgres(pg) => format!("postgres {}", pg.display_url()),
    }
}
