//! `[storage]` resolved and validated: the backend (a SQLite file, the default, or a PostgreSQL
//! database), each backend's own keys, and how long samples and rollups are kept.
//!
//! Nothing here connects anywhere: `commwatch check` validates a PostgreSQL configuration
//! without the database. The password file is read to prove it readable and then dropped; its
//! contents appear in no message, and neither does a password written into the URL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::resolve::Ctx;
use super::schema::RawStorage;
use super::*;

/// The backends, by the name written in `backend`.
const BACKENDS: [&str; 2] = ["sqlite", "postgres"];

pub(super) fn resolve_storage(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawStorage>>,
) -> StorageConfig {
    let mut storage = StorageConfig {
        path: PathBuf::from(DEFAULT_STORAGE_PATH),
        retention: crate::store::Retention::default(),
        backend: StorageBackend::Sqlite,
    };
    let Some(raw) = raw else { return storage };
    let span = raw.span();
    let r = raw.get_ref();
    storage.retention = retention(ctx, span.clone(), r);

    match r.backend.as_deref() {
        None | Some("sqlite") => {
            let why = if r.backend.is_none() {
                "backend is \"sqlite\", the default"
            } else {
                "this [storage] is backend = \"sqlite\""
            };
            for (key, set) in postgres_keys(r) {
                if set {
                    ctx.err_key(
                        span.clone(),
                        key,
                        format!("only for backend = \"postgres\" ({why})"),
                    );
                }
            }
            if let Some(path) = &r.path {
                if path.is_empty() {
                    ctx.err_key(span.clone(), "path", "storage path must not be empty");
                }
                storage.path = PathBuf::from(path);
            }
        }
        Some("postgres") => {
            if r.path.is_some() {
                ctx.err_key(
                    span.clone(),
                    "path",
                    "only for backend = \"sqlite\": PostgreSQL keeps the data in the database `url` names",
                );
            }
            storage.backend = StorageBackend::Postgres(resolve_postgres(ctx, span, r));
        }
        Some(other) => {
            ctx.err_key(span, "backend", unknown_value("backend", other, &BACKENDS));
        }
    }
    storage
}

/// Raw samples at least an hour, minute rollups at least a day.
fn retention(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    r: &RawStorage,
) -> crate::store::Retention {
    let mut retention = crate::store::Retention::default();
    retention.raw = r.retention.unwrap_or(retention.raw);
    retention.minute = r.minute_retention.unwrap_or(retention.minute);
    if retention.raw < Duration::from_secs(3_600) {
        ctx.err_key(
            span.clone(),
            "retention",
            "raw samples must be kept at least 1h",
        );
    }
    if retention.minute < Duration::from_secs(86_400) {
        ctx.err_key(
            span,
            "minute_retention",
            "minute rollups must be kept at least 1d",
        );
    }
    retention
}

/// The keys only the PostgreSQL backend takes, and whether each is written.
fn postgres_keys(r: &RawStorage) -> [(&'static str, bool); 6] {
    [
        ("url", r.url.is_some()),
        ("password_file", r.password_file.is_some()),
        ("pool_size", r.pool_size.is_some()),
        ("connect_timeout", r.connect_timeout.is_some()),
        ("sslmode", r.sslmode.is_some()),
        ("ca_file", r.ca_file.is_some()),
    ]
}

fn resolve_postgres(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    r: &RawStorage,
) -> PostgresConfig {
    let url = match &r.url {
        None => {
            ctx.err_key(
                span.clone(),
                "url",
                "backend = \"postgres\" needs a `url` such as \"postgres://commwatch@127.0.0.1:5432/commwatch\"",
            );
            String::new()
        }
        Some(u) => {
            if let Err(e) = check_url(u) {
                ctx.err_key(span.clone(), "url", e);
            }
            u.trim().to_string()
        }
    };

    let base = ctx.file.parent().unwrap_or_else(|| Path::new("."));
    let password_file = r.password_file.as_ref().map(|p| base.join(p));
    if let Some(p) = &password_file
        && let Err(e) = check_password_file(p)
    {
        ctx.err_key(span.clone(), "password_file", e);
    }

    let pool_size = match r.pool_size {
        None => DEFAULT_PG_POOL_SIZE,
        Some(n) => match usize::try_from(n) {
            Ok(n) if (1..=MAX_PG_POOL_SIZE).contains(&n) => n,
            _ => {
                ctx.err_key(
                    span.clone(),
                    "pool_size",
                    format!("must be between 1 and {MAX_PG_POOL_SIZE}, got {n}"),
                );
                DEFAULT_PG_POOL_SIZE
            }
        },
    };

    let range = Duration::from_secs(1)..=Duration::from_secs(300);
    let connect_timeout = match r.connect_timeout {
        None => DEFAULT_PG_CONNECT_TIMEOUT,
        Some(d) if range.contains(&d) => d,
        Some(d) => {
            ctx.err_key(
                span.clone(),
                "connect_timeout",
                format!("{} is outside 1s..5m", humantime::format_duration(d)),
            );
            DEFAULT_PG_CONNECT_TIMEOUT
        }
    };

    let sslmode = match r.sslmode.as_deref() {
        None => SslMode::Prefer,
        Some(s) => SslMode::parse(s).unwrap_or_else(|| {
            let names = SslMode::ALL.map(SslMode::as_str);
            let message = if s == "verify-ca" {
                "`verify-ca` is not supported: use \"verify-full\", which also checks the host"
                    .to_string()
            } else {
                unknown_value("sslmode", s, &names)
            };
            ctx.err_key(span.clone(), "sslmode", message);
            SslMode::Prefer
        }),
    };

    let ca_file = r.ca_file.as_ref().map(|p| base.join(p));
    if let Some(p) = &ca_file {
        if r.sslmode.as_deref() == Some("disable") {
            ctx.err_key(
                span.clone(),
                "ca_file",
                "of no use with sslmode = \"disable\": remove it, or choose sslmode = \"verify-full\"",
            );
        } else if let Err(e) = crate::probe::load_ca_file(p) {
            ctx.err_key(span.clone(), "ca_file", e);
        }
    }

    PostgresConfig {
        url,
        password_file,
        pool_size,
        connect_timeout,
        sslmode,
        ca_file,
    }
}

/// A `postgres://` or `postgresql://` URL with a host and no secret in it. The messages never
/// repeat the URL: it may hold the very password they refuse.
fn check_url(raw: &str) -> Result<(), String> {
    const EXAMPLE: &str = "write it like \"postgres://commwatch@127.0.0.1:5432/commwatch\"";
    let raw = raw.trim();
    let scheme_ok =
        |s: &str| s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql");
    let written_scheme = raw.split_once("://").map(|(s, _)| s);
    if !written_scheme.is_some_and(scheme_ok) {
        // The scheme alone is safe to show, when it looks like one.
        let shown = written_scheme
            .filter(|s| {
                !s.is_empty()
                    && s.len() <= 20
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            })
            .map(|s| format!(" (it starts with `{s}://`)"))
            .unwrap_or_default();
        return Err(format!(
            "must start with postgres:// or postgresql://{shown}; {EXAMPLE}"
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("is not a valid URL ({e}); {EXAMPLE}"))?;
    if url.password().is_some() || url.query_pairs().any(|(k, _)| k == "password") {
        return Err(
            "must not hold a password: put it alone in a file (readable by commwatch only) and name that file with `password_file`"
                .to_string(),
        );
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("names no host; {EXAMPLE}"));
    }
    if let Some((k, _)) = url
        .query_pairs()
        .find(|(k, _)| matches!(k.as_ref(), "sslmode" | "sslrootcert"))
    {
        return Err(format!(
            "`{k}` belongs in the `sslmode` and `ca_file` keys, not in the url"
        ));
    }
    Ok(())
}

/// The password file must be readable and hold something; what it holds is never shown.
fn check_password_file(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read password file {}: {e}", path.display()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("password file {} is empty", path.display()));
    }
    Ok(())
}

/// "unknown sslmode `verify_full`; did you mean `verify-full`?" when a known value is near the
/// one written (at most a third of it changed, as for unknown keys), the list of values
/// otherwise.
fn unknown_value(what: &str, typed: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&typed.to_lowercase(), k), *k))
        .min();
    match best {
        Some((d, k)) if d <= typed.chars().count().div_ceil(3).max(1) => {
            format!("unknown {what} `{typed}`; did you mean `{k}`?")
        }
        _ => {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            let list = match list.split_last() {
                Some((last, [])) => last.clone(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            };
            format!("unknown {what} `{typed}`; use {list}")
        }
    }
}

#[cfg(test)]
mod tests {
    // Tests unwrap: a panic is how a test reports a failure.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;
    use std::time::Duration;

    use crate::config::{Config, PostgresConfig, SslMode, StorageBackend};

    fn errors(text: &str) -> String {
        match Config::from_str_at(Path::new("/etc/commwatch/t.toml"), text) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    fn pg(dir: &Path, extra: &str) -> Result<PostgresConfig, String> {
        let file = dir.join("commwatch.toml");
        let text = format!(
            "[storage]\nbackend = \"postgres\"\nurl = \"postgres://commwatch@db.example.invalid/commwatch\"\n{extra}"
        );
        std::fs::write(&file, &text).unwrap();
        match Config::load(&file) {
            Ok(c) => match c.storage.backend {
                StorageBackend::Postgres(p) => Ok(p),
                StorageBackend::Sqlite => Err("sqlite".into()),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn sqlite_is_the_default_backend() {
        let c = Config::from_str_at(Path::new("t.toml"), "").unwrap();
        assert_eq!(c.storage.backend, StorageBackend::Sqlite);
        let c = Config::from_str_at(
            Path::new("t.toml"),
            "[storage]\nbackend = \"sqlite\"\npath = \"x.db\"\n",
        )
        .unwrap();
        assert_eq!(c.storage.backend, StorageBackend::Sqlite);
        assert_eq!(c.storage.path, Path::new("x.db"));
    }

    #[test]
    fn postgres_defaults_and_relative_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = pg(dir.path(), "").unwrap();
        assert_eq!(p.pool_size, 4);
        assert_eq!(p.connect_timeout, Duration::from_secs(5));
        assert_eq!(p.sslmode, SslMode::Prefer);
        assert_eq!(p.display_url(), "db.example.invalid:5432/commwatch");
        assert_eq!((p.password_file, p.ca_file), (None, None));

        std::fs::write(dir.path().join("pw"), "s3cret-value\n").unwrap();
        let p = pg(
            dir.path(),
            "password_file = \"pw\"\npool_size = 64\nconnect_timeout = \"5m\"\nsslmode = \"require\"\n",
        )
        .unwrap();
        assert_eq!(
            p.password_file.as_deref(),
            Some(dir.path().join("pw").as_path())
        );
        assert!(!format!("{p:?}").contains("s3cret"), "{p:?}");
        assert_eq!(
            (p.pool_size, p.connect_timeout, p.sslmode),
            (64, Duration::from_secs(300), SslMode::Require)
        );
    }

    #[test]
    fn the_password_file_is_checked_but_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blank"), " \n").unwrap();
        let e = pg(dir.path(), "password_file = \"blank\"\n").unwrap_err();
        assert!(e.contains("key `password_file`: password file"), "{e}");
        assert!(e.contains("is empty"), "{e}");
        let e = pg(dir.path(), "password_file = \"missing\"\n").unwrap_err();
        assert!(
            e.contains(":4: key `password_file`: cannot read password file"),
            "{e}"
        );
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_repeating_it() {
        for url in [
            "postgres://u:hunter2-secret@h/db",
            "postgresql://u:hunter2-secret@h:5432/db",
            "postgres://u@h/db?password=hunter2-secret",
        ] {
            let e = errors(&format!(
                "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
            ));
            assert!(e.contains("key `url`: must not hold a password"), "{e}");
            assert!(e.contains("password_file"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        // Nor when the URL is refused for another reason.
        for url in ["mysql://u:hunter2@h/db", "postgres://u:hunter2@h:port/db"] {
            let e = errors(&format!(
                "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
            ));
            assert!(e.contains("key `url`"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn urls_are_checked() {
        let bad = |url: &str| {
            errors(&format!(
                "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
            ))
        };
        assert!(bad("mysql://h/db").contains("(it starts with `mysql://`)"));
        assert!(bad("h:5432/db").contains("must start with postgres:// or postgresql://"));
        assert!(bad("postgres://h:99999/db").contains("is not a valid URL"));
        assert!(bad("postgres:///db").contains("names no host"));
        assert!(bad("postgres://h/db?sslmode=require").contains("`sslmode` belongs in"));
        assert_eq!(bad("POSTGRESQL://u@[::1]:6432/cw"), "");
    }

    #[test]
    fn display_url_shows_host_port_and_database_only() {
        let p = |url: &str| PostgresConfig {
            url: url.to_string(),
            password_file: None,
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            sslmode: SslMode::Prefer,
            ca_file: None,
        };
        assert_eq!(
            p("postgres://cw@10.0.0.5:6432/cw").display_url(),
            "10.0.0.5:6432/cw"
        );
        assert_eq!(p("postgresql://cw@db/").display_url(), "db:5432");
        assert_eq!(p("postgres://cw@[::1]/cw").display_url(), "[::1]:5432/cw");
        assert_eq!(p("postgres://u:pw@h/d").display_url(), "h:5432/d");
        assert_eq!(p("not a url").display_url(), "(invalid url)");
    }

    #[test]
    fn values_get_suggestions() {
        let e = errors("[storage]\nbackend = \"postgresql\"\n");
        assert!(
            e.ends_with(
                "t.toml:2: key `backend`: unknown backend `postgresql`; did you mean `postgres`?"
            ),
            "{e}"
        );
        let e = errors("[storage]\nbackend = \"mysql\"\n");
        assert!(
            e.ends_with("unknown backend `mysql`; use `sqlite` or `postgres`"),
            "{e}"
        );
        let e = errors(
            "[storage]\nbackend = \"postgres\"\nurl = \"postgres://h/d\"\nsslmode = \"verify_full\"\n",
        );
        assert!(e.ends_with("t.toml:4: key `sslmode`: unknown sslmode `verify_full`; did you mean `verify-full`?"), "{e}");
        let e = errors(
            "[storage]\nbackend = \"postgres\"\nurl = \"postgres://h/d\"\nsslmode = \"on\"\n",
        );
        assert!(
            e.ends_with("use `disable`, `prefer`, `require` or `verify-full`"),
            "{e}"
        );
    }

    #[test]
    fn keys_of_the_other_backend_are_refused() {
        let e = errors("[storage]\npool_size = 4\nsslmode = \"require\"\n");
        assert!(e.contains("t.toml:2: key `pool_size`: only for backend = \"postgres\" (backend is \"sqlite\", the default)"), "{e}");
        assert!(
            e.contains("t.toml:3: key `sslmode`: only for backend = \"postgres\""),
            "{e}"
        );
        let e = errors(
            "[storage]\nbackend = \"postgres\"\nurl = \"postgres://h/d\"\npath = \"x.db\"\n",
        );
        assert!(
            e.contains("t.toml:4: key `path`: only for backend = \"sqlite\""),
            "{e}"
        );
    }

    #[test]
    fn ranges_and_combinations() {
        let pg = |extra: &str| {
            errors(&format!(
                "[storage]\nbackend = \"postgres\"\nurl = \"postgres://h/d\"\n{extra}"
            ))
        };
        assert!(pg("pool_size = 0\n").contains("key `pool_size`: must be between 1 and 64, got 0"));
        assert!(pg("pool_size = 65\n").contains("got 65"));
        assert!(pg("pool_size = -1\n").contains("got -1"));
        assert!(
            pg("connect_timeout = \"500ms\"\n")
                .contains("key `connect_timeout`: 500ms is outside 1s..5m")
        );
        assert!(pg("connect_timeout = \"301s\"\n").contains("outside 1s..5m"));
        assert!(
            pg("sslmode = \"disable\"\nca_file = \"ca.pem\"\n")
                .contains("key `ca_file`: of no use with sslmode = \"disable\"")
        );
        assert!(
            pg("sslmode = \"verify-full\"\nca_file = \"nope.pem\"\n")
                .contains("key `ca_file`: cannot read CA file /etc/commwatch/nope.pem")
        );
        assert!(pg("").is_empty());
        assert!(
            errors("[storage]\nbackend = \"postgres\"\n")
                .contains("t.toml:1: key `url`: backend = \"postgres\" needs a `url`")
        );
    }
}
