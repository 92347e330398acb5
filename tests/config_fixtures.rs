//! Every invalid-config fixture is refused with the message recorded next to it, naming file,
//! line and key; the valid fixtures load with the values written in them.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use commwatch::config::Config;

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(dir)
}

#[test]
fn every_invalid_fixture_is_refused_with_its_message() {
    let dir = fixtures("invalid");
    let mut cases = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        cases += 1;
        let expected_path = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected file", path.display()));
        let expected = expected.trim();
        let err = match Config::load(&path) {
            Ok(_) => panic!("{} was accepted", path.display()),
            Err(e) => e,
        };
        // Messages name files by the path they were loaded from; compare relative to the folder.
        let text = err.to_string().replace(&format!("{}/", dir.display()), "");
        assert!(
            text.contains(expected),
            "{}:\n  expected to contain: {expected}\n  got: {text}",
            path.display()
        );
        for e in &err.0 {
            assert!(
                e.line.is_some(),
                "{}: error without a line: {e}",
                path.display()
            );
            assert!(
                e.key.is_some(),
                "{}: error without a key: {e}",
                path.display()
            );
        }
    }
    assert!(cases >= 20, "only {cases} invalid fixtures found");
}

#[test]
fn the_valid_fixture_loads_with_includes_and_defaults() {
    let cfg = Config::load(&fixtures("valid").join("full.toml")).unwrap();
    assert_eq!(cfg.targets.len(), 3);
    let portal = cfg.target("ht-thanh-sen-portal").unwrap();
    assert_eq!(portal.name, "Cổng thông tin điện tử tỉnh Hà Tĩnh");
    assert_eq!(portal.interval, Duration::from_secs(30));
    assert_eq!(portal.timeout, Duration::from_secs(5));
    assert_eq!(portal.failure_threshold, 3);
    assert_eq!(portal.labels.commune, "Thành Sen");
    assert_eq!(portal.labels.tags, vec!["government", "level-4"]);
    assert_eq!(portal.depends_on, vec!["ht-core-uplink"]);
    let included = cfg.target("ht-ky-anh-viettel").unwrap();
    assert_eq!(included.interval, Duration::from_secs(60));
    assert!(included.origin.file.ends_with("targets/ky-anh.toml"));
    assert_eq!(included.origin.line, 2);
    assert_eq!(cfg.scheduler.max_concurrency, Some(64));
    assert_eq!(
        cfg.server.external_url.as_deref(),
        Some("https://status.example.invalid")
    );
}

/// Without `max_concurrency` the cap is sized for a storm: the probes that would hold sockets
/// at once if every endpoint hung until its timeout, and a quarter more. Pings hold no socket
/// of their own and do not count; a configured cap is kept as written.
#[test]
fn the_probe_cap_is_sized_for_a_storm_unless_configured() {
    let pairs = |n: usize| {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!(
            "[[targets]]\nid = \"web-{i}\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\ninterval = \"10s\"\ntimeout = \"5s\"\n\n\
             [[targets]]\nid = \"bts-{i}\"\nkind = \"icmp\"\nhost = \"127.0.0.1\"\ninterval = \"10s\"\ntimeout = \"5s\"\n\n"
            ));
        }
        text
    };
    let text = pairs(2_000);
    let cfg = Config::from_str_at(Path::new("storm.toml"), &text).unwrap();
    assert_eq!(cfg.storm_sockets(), 1_000);
    assert_eq!(cfg.probe_cap(), 1_250);
    assert_eq!(cfg.scheduler.max_concurrency, None);
    let small = Config::from_str_at(Path::new("small.toml"), &pairs(20)).unwrap();
    assert_eq!(small.probe_cap(), 256, "never below the default");
    let fixed = format!("[scheduler]\nmax_concurrency = 300\n\n{text}");
    let cfg = Config::from_str_at(Path::new("fixed.toml"), &fixed).unwrap();
    assert_eq!(
        (cfg.probe_cap(), cfg.scheduler.max_concurrency),
        (300, Some(300))
    );
}

#[test]
fn all_problems_are_reported_together() {
    let text = r#"
[[targets]]
id = "a"
kind = "http"
url = "nope"

[[targets]]
id = "b"
kind = "tcp"
address = "x"
"#;
    let err = Config::from_str_at(Path::new("multi.toml"), text).unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
    assert_eq!(err.0[0].line, Some(5));
    assert_eq!(err.0[1].line, Some(10));
}

/// A bad value in `[defaults]` is one error at its own key, not one more per target that
/// inherits it.
#[test]
fn an_inherited_mistake_is_reported_once_at_its_key() {
    let text = r#"
[defaults]
interval = "0s"

[[targets]]
id = "a"
kind = "tcp"
address = "127.0.0.1:1"

[[targets]]
id = "b"
kind = "tcp"
address = "127.0.0.1:2"
timeout = "5s"
"#;
    let err = Config::from_str_at(Path::new("zero.toml"), text).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].line, Some(3), "{err}");
    assert_eq!(err.0[0].key.as_deref(), Some("interval"), "{err}");
}

#[test]
fn the_default_listen_address_is_the_documented_one() {
    let cfg = Config::from_str_at(Path::new("empty.toml"), "").unwrap();
    assert_eq!(cfg.server.listen.to_string(), "127.0.0.1:9800");
}

#[test]
fn example_configs_pass_check_and_the_cli_exit_codes_follow() {
    let bin = env!("CARGO_BIN_EXE_commwatch");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for example in [
        "config/minimal.toml",
        "config/ha-tinh.toml",
        "config/receivers.toml",
    ] {
        let out = Command::new(bin)
            .args(["check", "-c"])
            .arg(root.join(example))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bad = fixtures("invalid").join("unknown-key.toml");
    let out = Command::new(bin)
        .args(["check", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown-key.toml:4: key `adress`"),
        "{stderr}"
    );
}

/// The PostgreSQL backend with every key set: relative files are joined to the fixture's folder,
/// and the password file, read to prove it readable, is in neither the config nor messages.
#[test]
fn the_valid_postgres_fixture_loads_with_every_storage_key() {
    use commwatch::config::{SslMode, StorageBackend};
    let dir = fixtures("valid");
    let cfg = Config::load(&dir.join("postgres.toml")).unwrap();
    assert_eq!(cfg.storage.retention.raw, Duration::from_secs(30 * 86_400));
    let StorageBackend::Postgres(pg) = &cfg.storage.backend else {
        panic!("backend: {:?}", cfg.storage.backend);
    };
    assert_eq!(pg.url, "postgres://commwatch@127.0.0.1:5432/commwatch");
    assert_eq!(pg.display_url(), "127.0.0.1:5432/commwatch");
    assert_eq!(
        pg.password_file.as_deref(),
        Some(dir.join("pg/password").as_path())
    );
    assert_eq!(pg.ca_file.as_deref(), Some(dir.join("pg/ca.pem").as_path()));
    assert_eq!(pg.pool_size, 8);
    assert_eq!(pg.connect_timeout, Duration::from_secs(10));
    assert_eq!(pg.sslmode, SslMode::VerifyFull);
    let password = std::fs::read_to_string(dir.join("pg/password")).unwrap();
    assert!(!format!("{cfg:?}").contains(password.trim()));

    // `check` validates it without a database (nothing listens on the URL's port here).
    let out = Command::new(env!("CARGO_BIN_EXE_commwatch"))
        .args(["check", "-c"])
        .arg(dir.join("postgres.toml"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("postgres.toml: ok, 1 target"), "{stdout}");
    assert!(!stdout.contains(password.trim()) && !stderr.contains(password.trim()));
}

/// A password written into the URL is refused without being repeated, by the loader or `check`.
#[test]
fn a_password_in_the_storage_url_never_reaches_a_message() {
    let path = fixtures("invalid").join("storage-postgres-url-password.toml");
    let secret = "fixture-secret-pw";
    assert!(std::fs::read_to_string(&path).unwrap().contains(secret));
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("password_file") && !err.contains(secret),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_commwatch"))
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    for text in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(text);
        assert!(!text.contains(secret), "{text}");
    }
}

/// Every PostgreSQL key on the SQLite backend is its own error at its own line.
#[test]
fn each_postgres_key_on_sqlite_is_reported() {
    let err =
        Config::load(&fixtures("invalid").join("storage-sqlite-postgres-keys.toml")).unwrap_err();
    let got: Vec<(Option<usize>, Option<&str>)> =
        err.0.iter().map(|e| (e.line, e.key.as_deref())).collect();
    assert_eq!(
        got,
        [
            (Some(4), Some("password_file")),
            (Some(5), Some("pool_size")),
            (Some(6), Some("connect_timeout")),
            (Some(7), Some("sslmode")),
            (Some(8), Some("ca_file")),
        ],
        "{err}"
    );
    assert!(
        err.0
            .iter()
            .all(|e| e.message.starts_with("only for backend = \"postgres\"")),
        "{err}"
    );
}
