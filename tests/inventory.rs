//! Inventories generated from the real commune list load as commwatch configuration, for
//! Hà Tĩnh and for the whole country, with illustrative and with simulator addresses.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use commwatch::config::Config;
use commwatch::rig::inventory::{self, Inventory, ProbeKind, Scope, TomlSettings};
use commwatch::rig::sim::{AddrPlan, target_string};

/// The list built into the binary is the whole country: a demo or harness run anywhere has it.
#[test]
fn the_shipped_commune_list_is_the_whole_country() {
    let all = inventory::communes(None).unwrap();
    assert_eq!(all.len(), 3_321);
    let provinces: std::collections::BTreeSet<&str> =
        all.iter().map(|c| c.province_code.as_str()).collect();
    assert_eq!(provinces.len(), 34);
    assert_eq!(all.iter().filter(|c| c.province_code == "42").count(), 69);
}

#[test]
fn ha_tinh_inventory_loads_with_illustrative_addresses() {
    let all = inventory::communes(None).unwrap();
    let inv = inventory::build(&all, &Scope::Province("Hà Tĩnh".into())).unwrap();
    assert_eq!(inv.communes, 69);
    assert_eq!(inv.entries.len(), 69 * 6 + 2 + 4);
    let settings = TomlSettings {
        header: vec!["Hà Tĩnh, generated".into()],
        storage_path: "commwatch-data/ha-tinh.db".into(),
        ..TomlSettings::default()
    };
    let text = inv.illustrative_toml(&settings);
    let cfg = Config::from_str_at(Path::new("config/ha-tinh.toml"), &text).unwrap();
    assert_eq!(cfg.targets.len(), inv.entries.len());

    let t = cfg
        .target("ht-thanh_sen-viettel")
        .expect("Thành Sen has Viettel");
    assert_eq!(t.labels.operator, "viettel");
    assert_eq!(t.labels.service, "mobile");
    assert_eq!(t.labels.province, "Hà Tĩnh");
    assert_eq!(t.labels.commune, "Thành Sen");
    assert_eq!(t.name, "Di động Viettel — Phường Thành Sen");
    assert_eq!(t.kind(), "icmp");
    let resolver = cfg.target("ht-dns-fpt").unwrap();
    assert_eq!(resolver.kind(), "dns");
    assert_eq!(resolver.name, "Máy chủ DNS FPT Telecom tỉnh Hà Tĩnh");
    assert_eq!(resolver.labels.service, "dns");
    let portal = cfg.target("ht-dichvucong").unwrap();
    assert_eq!(portal.name, "Cổng dịch vụ công tỉnh Hà Tĩnh");
    assert_eq!(portal.kind(), "http");
    // Host names never resolve; resolvers (whose server is an IP address) sit in a
    // documentation network that nothing routes.
    for t in &cfg.targets {
        let ep = t.spec.endpoint();
        assert!(
            ep.contains(".example.invalid")
                || (t.kind() == "dns" && ep.contains(".example A @192.0.2.")),
            "{} probes {ep}",
            t.id
        );
    }
    // Every operator column the page shows is present in every commune.
    for op in ["viettel", "vnpt", "mobifone", "fpt", "vnpost"] {
        let n = cfg
            .targets
            .iter()
            .filter(|t| t.labels.operator == op)
            .count();
        assert!(n >= 69, "{op}: {n}");
    }
}

#[test]
fn national_inventory_loads_with_simulator_addresses() {
    let all = inventory::communes(None).unwrap();
    let inv = inventory::build(&all, &Scope::Country).unwrap();
    assert_eq!((inv.provinces, inv.communes), (34, 3_321));
    assert_eq!(inv.entries.len(), 3_321 * 6 + 34 * 6);
    // The mix of scenario 3: three mobile sites a commune pinged, fixed line and post office
    // over HTTP, the government network's link over TCP; portals and resolvers per province.
    assert_eq!(inv.count(ProbeKind::Icmp), 3_321 * 3);
    assert_eq!(inv.count(ProbeKind::Http), 3_321 * 2 + 34 * 2);
    assert_eq!(inv.count(ProbeKind::Tcp), 3_321);
    assert_eq!(inv.count(ProbeKind::Dns), 34 * 4);
    let plan = AddrPlan::Spread {
        base: Ipv4Addr::new(127, 16, 0, 1),
        port: 18_080,
    };
    let kinds = inv.sim_kinds();
    let settings = TomlSettings {
        listen: "127.0.0.1:0".into(),
        storage_path: "/tmp/never-opened.db".into(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        max_concurrency: Some(4_096),
        ..TomlSettings::default()
    };
    let text = inv.to_toml(&settings, |i, _| {
        target_string(kinds[i], plan.addr(i).expect("inside 127/8"))
    });
    let cfg = Config::from_str_at(Path::new("national.toml"), &text).unwrap();
    assert_eq!(cfg.targets.len(), inv.entries.len());
    assert_eq!(cfg.scheduler.max_concurrency, Some(4_096));
    assert_eq!(cfg.targets[0].interval, Duration::from_secs(10));
    // Origins point at each target's table (its `[[targets]]` header or its `id` line), also
    // deep into a large file.
    let id_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("id = "))
        .map(|(n, _)| n + 1)
        .collect();
    for k in [0, 1, 777, cfg.targets.len() - 1] {
        let line = cfg.targets[k].origin.line;
        assert!(
            line == id_lines[k] || line + 1 == id_lines[k],
            "target {k}: line {line}, id on {}",
            id_lines[k]
        );
    }
    let mut ids = std::collections::HashSet::new();
    for (i, t) in cfg.targets.iter().enumerate() {
        assert!(ids.insert(t.id.as_str()));
        let ep = t.spec.endpoint();
        assert!(ep.contains("127."), "{ep}");
        assert_eq!(t.kind(), inv.entries[i].probe().as_str());
    }
    // The illustrative national config is valid too.
    let text = inv.illustrative_toml(&TomlSettings::default());
    assert_eq!(
        Config::from_str_at(Path::new("vn.toml"), &text)
            .unwrap()
            .targets
            .len(),
        inv.entries.len()
    );
    let _ = Inventory::illustrative_address(&inv.entries[0]);
}

/// One target of each kind the generator writes, pointed at the simulator on loopback, passes
/// `commwatch probe` with the checks the generator implies — the configuration a scale run
/// loads really measures its endpoints (a resolver asked for a name its own library refuses
/// to look up, say, would fail here). ICMP needs root; without it the ping target is left out.
#[tokio::test]
async fn a_generated_target_of_every_kind_passes_against_the_simulator() {
    use commwatch::rig::sim::{Behaviour, EndpointSpec, Sim, SimSpec};
    let all = inventory::communes(None).unwrap();
    let mut inv = inventory::build(&all, &Scope::Province("42".into())).unwrap();
    let mut kinds: Vec<ProbeKind> = ProbeKind::ALL.to_vec();
    if !common::needs::root(
        "a_generated_target_of_every_kind_passes_against_the_simulator (its ICMP target)",
        "raw ICMP sockets",
    ) {
        kinds.retain(|k| *k != ProbeKind::Icmp);
    }
    let mut picked = Vec::new();
    for k in &kinds {
        let e = inv
            .entries
            .iter()
            .find(|e| e.probe() == *k)
            .unwrap()
            .clone();
        picked.push(e);
    }
    inv.entries = picked;
    let sim = Sim::start(SimSpec {
        endpoints: inv
            .entries
            .iter()
            .map(|e| EndpointSpec {
                kind: e.probe().sim_kind(),
                behaviour: Behaviour::Healthy,
            })
            .collect(),
        plan: AddrPlan::Spread {
            base: Ipv4Addr::new(127, 61, 0, 1),
            port: 0,
        },
        max_connections: 64,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.toml");
    let settings = TomlSettings {
        listen: "127.0.0.1:0".into(),
        storage_path: dir.path().join("never.db").display().to_string(),
        timeout: Duration::from_secs(3),
        ..TomlSettings::default()
    };
    std::fs::write(&path, inv.to_toml(&settings, |i, _| sim.target(i))).unwrap();
    for e in &inv.entries {
        let (path, id) = (path.clone(), e.id.clone());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_commwatch"))
                .args(["probe", "-c"])
                .arg(&path)
                .arg(&id)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.starts_with("OK"),
            "{} ({}): {text}",
            e.id,
            e.probe().as_str()
        );
    }
    sim.shutdown().await;
}

/// `config/ha-tinh.toml` is what `commwatch-bench inventory` writes today: when the catalogue
/// changes, the example changes with it (regenerate it with the command in its header).
#[test]
fn the_ha_tinh_example_is_the_generators_output() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_commwatch-bench"))
        .args([
            "inventory",
            "--scope",
            "42",
            "--storage",
            "/var/lib/commwatch/ha-tinh.db",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ha-tinh.toml"))
            .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == example,
        "config/ha-tinh.toml differs from `commwatch-bench inventory --scope 42 --storage /var/lib/commwatch/ha-tinh.db`"
    );
}
