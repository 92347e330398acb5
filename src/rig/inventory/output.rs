//! An inventory written as commwatch configuration: the settings part, one `[[targets]]`
//! table per entry, and the illustrative addresses of example configs.

use std::fmt::Write as _;
use std::time::Duration;

use super::{CATALOGUE, Entry, ICMP_COUNT, ICMP_SPACING, Inventory, ProbeKind};
use crate::rig::sim::EndpointKind;

/// The `[server]`, `[storage]`, `[defaults]` and `[scheduler]` part of a generated config.
#[derive(Debug, Clone)]
pub struct TomlSettings {
    /// Comment lines written at the top (without `#`).
    pub header: Vec<String>,
    pub listen: String,
    pub storage_path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub max_concurrency: Option<usize>,
    /// Written to `[defaults]` when set.
    pub failure_threshold: Option<u32>,
    pub success_threshold: Option<u32>,
}

impl Default for TomlSettings {
    fn default() -> Self {
        TomlSettings {
            header: Vec::new(),
            listen: crate::config::DEFAULT_LISTEN.to_string(),
            storage_path: crate::config::DEFAULT_STORAGE_PATH.to_string(),
            interval: crate::config::DEFAULT_INTERVAL,
            timeout: crate::config::DEFAULT_TIMEOUT,
            max_concurrency: None,
            failure_threshold: None,
            success_threshold: None,
        }
    }
}

/// Where the commune list comes from; every generated file carries it.
pub const ATTRIBUTION: &str = "Communes: vn-communes.csv, from the open dataset thanglequoc/vietnamese-provinces-database (MIT License, Copyright (c) 2021 Thang Le Quoc).";

/// A TOML basic string, escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Inventory {
    /// A plausible but clearly illustrative address: host names under `.example.invalid`, a
    /// name that can never resolve (`http(s)://…/` for HTTP entries, `host:port` for TCP ones,
    /// the host for ICMP ones), and for resolvers — whose `server` must be an IP address — one
    /// of the documentation addresses 192.0.2.0/24 (RFC 5737), which no network routes.
    pub fn illustrative_address(e: &Entry) -> String {
        let stem = &e.host_stem;
        match e.service.key {
            "fpt" => format!("http://{stem}.fpt.example.invalid/"),
            "vnpost" => format!("https://buu-cuc.{stem}.vnpost.example.invalid/"),
            "portal" => format!("https://{stem}.gov.example.invalid/"),
            "dichvucong" => format!("https://dichvucong.{stem}.gov.example.invalid/"),
            "tslcd" => format!("ubnd.{stem}.tslcd.example.invalid:443"),
            key => match e.probe() {
                ProbeKind::Http => format!("https://{stem}.{key}.example.invalid/"),
                ProbeKind::Tcp => format!("{stem}.{key}.example.invalid:443"),
                ProbeKind::Icmp => format!("bts.{stem}.{key}.example.invalid"),
                ProbeKind::Dns => {
                    let n = CATALOGUE
                        .iter()
                        .position(|s| s.key == key)
                        .unwrap_or_default();
                    format!("192.0.2.{}:53", 10 + n)
                }
            },
        }
    }

    /// How many entries use each probe kind.
    pub fn count(&self, kind: ProbeKind) -> usize {
        self.entries.iter().filter(|e| e.probe() == kind).count()
    }

    /// Entries of kind `from` are probed as `to` instead. The demo runs without a firewall, so
    /// it cannot silence a ping to a loopback address: its mobile sites answer on a simulated
    /// TCP port, which it can close.
    pub fn stand_in(&mut self, from: ProbeKind, to: ProbeKind) {
        for e in &mut self.entries {
            if e.probe == from {
                e.probe = to;
            }
        }
    }

    /// The configuration text. `address(i, entry)` gives entry `i`'s `url` (HTTP), `address`
    /// (TCP), `host` (ICMP) or `server` (DNS).
    pub fn to_toml(
        &self,
        settings: &TomlSettings,
        address: impl Fn(usize, &Entry) -> String,
    ) -> String {
        self.to_toml_with(settings, address, |_, _| String::new())
    }

    /// As [`Inventory::to_toml`], with `extra(i, entry)` appended to entry `i`'s table: whole
    /// TOML lines such as `depends_on = ["ht-power-1"]` (the demo's dependencies and checks).
    pub fn to_toml_with(
        &self,
        settings: &TomlSettings,
        address: impl Fn(usize, &Entry) -> String,
        extra: impl Fn(usize, &Entry) -> String,
    ) -> String {
        let mut s = String::with_capacity(self.entries.len() * 300);
        for line in &settings.header {
            let _ = writeln!(s, "# {line}");
        }
        let _ = writeln!(s, "# {ATTRIBUTION}");
        let _ = writeln!(
            s,
            "# {} targets: {} communes in {} province(s).\n",
            self.entries.len(),
            self.communes,
            self.provinces
        );
        let _ = writeln!(s, "[server]\nlisten = {}\n", quote(&settings.listen));
        let _ = writeln!(s, "[storage]\npath = {}\n", quote(&settings.storage_path));
        let _ = writeln!(
            s,
            "[defaults]\ninterval = {}\ntimeout = {}",
            quote(&humantime::format_duration(settings.interval).to_string()),
            quote(&humantime::format_duration(settings.timeout).to_string())
        );
        if let Some(n) = settings.failure_threshold {
            let _ = writeln!(s, "failure_threshold = {n}");
        }
        if let Some(n) = settings.success_threshold {
            let _ = writeln!(s, "success_threshold = {n}");
        }
        s.push('\n');
        if let Some(m) = settings.max_concurrency {
            let _ = writeln!(s, "[scheduler]\nmax_concurrency = {m}\n");
        }
        for (i, e) in self.entries.iter().enumerate() {
            let _ = writeln!(s, "[[targets]]");
            let _ = writeln!(s, "id = {}", quote(&e.id));
            let _ = writeln!(s, "name = {}", quote(&e.name));
            let _ = writeln!(s, "kind = {}", quote(e.probe().as_str()));
            let _ = writeln!(s, "{} = {}", e.probe().address_key(), quote(&address(i, e)));
            match e.probe() {
                ProbeKind::Icmp => {
                    let _ = writeln!(s, "count = {ICMP_COUNT}\nspacing = {}", quote(ICMP_SPACING));
                }
                ProbeKind::Dns => {
                    let _ = writeln!(s, "query = {}\nrecord = \"A\"", quote(&e.dns_query()));
                }
                ProbeKind::Http | ProbeKind::Tcp => {}
            }
            let _ = writeln!(s, "operator = {}", quote(e.service.operator));
            let _ = writeln!(s, "service = {}", quote(e.service.service));
            let _ = writeln!(s, "province = {}", quote(&e.province));
            if !e.commune.is_empty() {
                let _ = writeln!(s, "commune = {}", quote(&e.commune));
            }
            let more = extra(i, e);
            s.push_str(&more);
            if !more.is_empty() && !more.ends_with('\n') {
                s.push('\n');
            }
            s.push('\n');
        }
        s
    }

    /// The configuration with illustrative addresses, for example configs that are never probed.
    pub fn illustrative_toml(&self, settings: &TomlSettings) -> String {
        self.to_toml(settings, |_, e| Self::illustrative_address(e))
    }

    /// The simulated endpoint kind of every entry, in order: the spec for a [`crate::rig::sim::Sim`]
    /// whose endpoint `i` stands in for entry `i`.
    pub fn sim_kinds(&self) -> Vec<EndpointKind> {
        self.entries.iter().map(|e| e.probe().sim_kind()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::communes::tests::sample as communes;
    use super::super::{Scope, build};
    use super::*;

    #[test]
    fn illustrative_addresses_never_leave_reserved_names() {
        let inv = build(&communes(), &Scope::Country).unwrap();
        assert_eq!(inv.provinces, 4);
        for e in &inv.entries {
            let a = Inventory::illustrative_address(e);
            if e.probe() == ProbeKind::Dns {
                // A resolver's server is an IP address: one of the documentation network's.
                assert!(a.starts_with("192.0.2.") && a.ends_with(":53"), "{a}");
                continue;
            }
            let host = a
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .split(['/', ':'])
                .next()
                .unwrap();
            assert!(host.ends_with(".example.invalid"), "{a}");
            assert!(!host.contains('_'), "{a}");
        }
        assert!(
            inv.entries
                .iter()
                .any(|e| e.name == "Cổng dịch vụ công thành phố Hà Nội")
        );
    }

    #[test]
    fn each_kind_writes_its_own_keys() {
        let mut inv = build(&communes(), &Scope::Province("42".into())).unwrap();
        let text = inv.illustrative_toml(&TomlSettings::default());
        assert!(text.contains(
            "kind = \"icmp\"\nhost = \"bts.thanh-sen.ha-tinh.viettel.example.invalid\"\ncount = 3\nspacing = \"500ms\"\n"
        ));
        assert!(text.contains(
            "kind = \"dns\"\nserver = \"192.0.2.21:53\"\nquery = \"ha-tinh.gov.example\"\nrecord = \"A\"\n"
        ));
        inv.stand_in(ProbeKind::Icmp, ProbeKind::Tcp);
        assert_eq!(inv.count(ProbeKind::Icmp), 0);
        assert_eq!(inv.count(ProbeKind::Tcp), 2 * 4);
        assert!(inv.illustrative_toml(&TomlSettings::default()).contains(
            "kind = \"tcp\"\naddress = \"thanh-sen.ha-tinh.viettel.example.invalid:443\"\n"
        ));
    }

    #[test]
    fn names_with_quotes_are_escaped() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("Hà\tTĩnh"), "\"Hà\\u0009Tĩnh\"");
    }
}
