//! Inventories generated from the real commune list load as commwatch configuration, for
//! Hà Tĩnh and for the whole country, with illustrative and with simulator addresses.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use commwatch::config::Config;
use commwatch::inventory::{self, Inventory, ProbeKind, Scope, TomlSettings};
use commwatch::sim::{AddrPlan, target_string};

/// CI clones the repository with `shared/` beside it.
fn csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/vn-communes.csv")
}

#[test]
fn ha_tinh_inventory_loads_with_illustrative_addresses() {
    let all = inventory::load_communes(&csv()).unwrap();
    let inv = inventory::build(&all, &Scope::Province("Hà Tĩnh".into())).unwrap();
    assert_eq!(inv.communes, 69);
    assert_eq!(inv.entries.len(), 69 * 6 + 2);
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
    let portal = cfg.target("ht-dichvucong").unwrap();
    assert_eq!(portal.name, "Cổng dịch vụ công tỉnh Hà Tĩnh");
    assert_eq!(portal.kind(), "http");
    for t in &cfg.targets {
        let ep = t.spec.endpoint();
        assert!(ep.contains(".example.invalid"), "{} probes {ep}", t.id);
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
    let all = inventory::load_communes(&csv()).unwrap();
    let inv = inventory::build(&all, &Scope::Country).unwrap();
    assert_eq!((inv.provinces, inv.communes), (34, 3_321));
    assert_eq!(inv.entries.len(), 3_321 * 6 + 34 * 2);
    assert_eq!(
        inv.count(ProbeKind::Http) + inv.count(ProbeKind::Tcp),
        inv.entries.len()
    );
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
    assert_eq!(cfg.scheduler.max_concurrency, 4_096);
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
