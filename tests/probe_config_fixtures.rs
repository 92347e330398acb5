//! Every invalid probe configuration under tests/fixtures/config/invalid/probe-*.toml is refused
//! with a message containing the text of its `.expected` twin (file, line, key and reason).

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use commwatch::config::Config;

#[test]
fn invalid_probe_configs_are_refused_with_their_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/invalid");
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !(name.starts_with("probe-") && name.ends_with(".toml")) {
            continue;
        }
        let expected_path = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{name} has no .expected twin"));
        let expected = expected.trim();
        assert!(!expected.is_empty(), "{name}: empty expectation");
        match Config::load(&path) {
            Ok(_) => panic!("{name} was accepted"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(expected),
                    "{name}:\n  expected to contain: {expected}\n  got: {msg}"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} probe fixtures found");
}

#[test]
fn example_config_with_every_probe_kind_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/probe-kinds.toml");
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut kinds: Vec<&str> = cfg.targets.iter().map(|t| t.kind()).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "dns",
            "heartbeat",
            "http",
            "icmp",
            "portal",
            "sip",
            "snmp",
            "tcp",
            "tls"
        ]
    );
}
