//! The simulated province of `commwatch demo`: every commune of one province times the
//! endpoints of the inventory catalogue (the operators' DNS resolvers among them), grouped
//! into power zones (each watched through the heartbeat of its dispatch controller) — and the
//! configuration that points commwatch at their loopback stand-ins. Pure data: the sockets are
//! opened by [`super::Demo`].

use std::collections::BTreeMap;
use std::time::Duration;

use crate::rig::inventory::{self, Commune, Entry, Inventory, Per, ProbeKind, Scope, TomlSettings};
use crate::rig::sim::EndpointKind;

use super::DemoError;

/// The province the demo plays in (Hà Tĩnh, code 42: a coastal province on the storm track).
pub const PROVINCE_CODE: &str = "42";
/// Power zones the province's communes are split into, in list order (neighbours share one).
pub const ZONES: usize = 5;
/// The commune that goes dark (a mountain commune cut off by a landslide), when the list has
/// it; otherwise one from the first zone.
const DARK_COMMUNE: &str = "son_kim_1";
/// Label values of the power-zone heartbeat targets.
pub const POWER_OPERATOR: &str = "evn";
pub const POWER_SERVICE: &str = "power";

/// One power zone: a run of neighbouring communes fed by the same part of the grid.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Zone {
    /// The heartbeat target of the zone's dispatch controller.
    pub id: String,
    pub name: String,
    /// "khu vực Cẩm Trung – Kỳ Thượng": its first and last commune.
    pub area: String,
    /// Commune labels, as on the targets.
    pub communes: Vec<String>,
    /// Every commune-level target in the zone: they all depend on the zone.
    pub children: Vec<String>,
}

/// The whole simulated province, before any socket exists.
#[derive(Debug, Clone)]
pub struct Layout {
    pub province: String,
    pub inventory: Inventory,
    pub zones: Vec<Zone>,
    /// The commune label of the commune that is dark all along.
    pub dark_commune: String,
    /// Its full name ("Xã Sơn Kim 1"), for notes.
    pub dark_commune_full: String,
    /// Zone index per inventory entry (`None` for province-level entries).
    zone_of: Vec<Option<usize>>,
}

impl Layout {
    /// Lays out the province from the whole commune list.
    pub fn new(all: &[Commune]) -> Result<Layout, DemoError> {
        let mut inventory = inventory::build(all, &Scope::Province(PROVINCE_CODE.into()))?;
        inventory.stand_in(ProbeKind::Icmp, ProbeKind::Tcp);
        let communes: Vec<&Commune> = all
            .iter()
            .filter(|c| c.province_code == PROVINCE_CODE)
            .collect();
        let Some(first) = communes.first() else {
            return Err(DemoError::Setup(format!(
                "the commune list has no province {PROVINCE_CODE}"
            )));
        };
        let province = first.province_name.clone();
        let prefix = inventory::province_prefixes(all)
            .remove(PROVINCE_CODE)
            .unwrap_or_else(|| format!("p{PROVINCE_CODE}"));

        // Communes in list order (the entries keep it), split into nearly equal runs.
        let mut labels: Vec<String> = Vec::new();
        for e in &inventory.entries {
            if e.service.per == Per::Commune && labels.last() != Some(&e.commune) {
                labels.push(e.commune.clone());
            }
        }
        let zones_n = ZONES.min(labels.len()).max(1);
        let zone_index = |pos: usize| pos * zones_n / labels.len().max(1);
        let mut zones: Vec<Zone> = (0..zones_n)
            .map(|z| Zone {
                id: format!("{prefix}-power-{}", z + 1),
                name: String::new(),
                area: String::new(),
                communes: Vec::new(),
                children: Vec::new(),
            })
            .collect();
        for (pos, label) in labels.iter().enumerate() {
            zones[zone_index(pos)].communes.push(label.clone());
        }
        let zone_by_commune: BTreeMap<String, usize> = zones
            .iter()
            .enumerate()
            .flat_map(|(z, zone)| zone.communes.iter().map(move |c| (c.clone(), z)))
            .collect();
        let mut zone_of = Vec::with_capacity(inventory.entries.len());
        for e in &inventory.entries {
            let z = (e.service.per == Per::Commune)
                .then(|| zone_by_commune.get(&e.commune).copied())
                .flatten();
            if let Some(z) = z {
                zones[z].children.push(e.id.clone());
            }
            zone_of.push(z);
        }
        for z in &mut zones {
            let (a, b) = (
                z.communes.first().cloned().unwrap_or_default(),
                z.communes.last().cloned().unwrap_or_default(),
            );
            z.area = format!("khu vực {a} – {b}");
            z.name = format!("Điện lưới {} (điều độ)", z.area);
        }

        let dark = communes
            .iter()
            .find(|c| c.code_name == DARK_COMMUNE)
            .or_else(|| communes.get(labels.len() / (2 * zones_n)))
            .copied()
            .unwrap_or(first);
        let dark_commune = inventory
            .entries
            .iter()
            .find(|e| e.name.ends_with(&dark.full_name) && e.service.per == Per::Commune)
            .map_or_else(|| dark.name.clone(), |e| e.commune.clone());

        Ok(Layout {
            province,
            inventory,
            zones,
            dark_commune,
            dark_commune_full: dark.full_name.clone(),
            zone_of,
        })
    }

    /// Entries (index, entry) of one operator-service row of the catalogue.
    pub fn entries_of(&self, key: &str) -> impl Iterator<Item = (usize, &Entry)> {
        self.inventory
            .entries
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.service.key == key)
    }

    /// The zone an entry's commune belongs to.
    pub fn zone_of(&self, entry: usize) -> Option<usize> {
        self.zone_of.get(entry).copied().flatten()
    }

    /// The simulated endpoints, in simulator order: one per inventory entry. Heartbeat
    /// targets have none (the demo pushes for them).
    pub fn endpoints(&self) -> Vec<(String, EndpointKind)> {
        self.inventory
            .entries
            .iter()
            .map(|e| (e.id.clone(), e.probe().sim_kind()))
            .collect()
    }

    /// Every target id the configuration will hold.
    pub fn target_count(&self) -> usize {
        self.inventory.entries.len() + self.zones.len()
    }
}

/// What the configuration needs beyond the layout.
pub struct ConfigParts<'a> {
    pub listen: String,
    pub storage_path: String,
    pub pace: &'a super::Pace,
    /// Target id -> the simulated endpoint's `url`/`address`/`server`.
    pub addresses: &'a BTreeMap<String, String>,
    pub heartbeat_token: &'a str,
    pub webhook_url: String,
    /// Hex SHA-256 of the demo's admin token.
    pub admin_sha256: String,
}

fn secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

/// The id of the demo's webhook receiver (the loopback collector).
pub const WEBHOOK_ID: &str = "demo-webhook";

fn str_value(s: &str) -> toml::Value {
    toml::Value::String(s.to_string())
}

fn table<const N: usize>(pairs: [(&str, toml::Value); N]) -> toml::Value {
    toml::Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl Layout {
    /// The configuration text: every endpoint on the demo's loopback simulator.
    pub fn config(&self, p: &ConfigParts<'_>) -> Result<String, DemoError> {
        let pace = p.pace;
        let degraded = toml::Value::Array(vec![toml::Value::String(format!(
            "latency < {}",
            ms(pace.latency_limit())
        ))]);
        let settings = TomlSettings {
            header: vec![
                "Written by `commwatch demo`: a simulated province on loopback. Every address is"
                    .into(),
                "a simulated endpoint on 127.0.0.0/8 that exists only while the demo runs.".into(),
            ],
            listen: p.listen.clone(),
            storage_path: p.storage_path.clone(),
            interval: pace.normal_interval(),
            timeout: pace.timeout(),
            max_concurrency: None,
            failure_threshold: Some(super::FAILURE_THRESHOLD),
            success_threshold: Some(super::SUCCESS_THRESHOLD),
        };
        if let Some(e) = self
            .inventory
            .entries
            .iter()
            .find(|e| !p.addresses.contains_key(&e.id))
        {
            return Err(DemoError::Setup(format!(
                "no simulated endpoint for {}",
                e.id
            )));
        }
        let text = self.inventory.to_toml_with(
            &settings,
            |_, e| p.addresses.get(&e.id).cloned().unwrap_or_default(),
            |i, e| {
                let mut s = String::new();
                if let Some(z) = self.zone_of(i) {
                    let parent =
                        toml::Value::Array(vec![toml::Value::String(self.zones[z].id.clone())]);
                    s.push_str(&format!("depends_on = {parent}\n"));
                }
                if matches!(e.probe(), ProbeKind::Http | ProbeKind::Dns) {
                    s.push_str(&format!("degraded = {degraded}\n"));
                }
                s
            },
        );

        let province = || str_value(&self.province);
        let mut targets: Vec<toml::Value> = Vec::new();
        for z in &self.zones {
            targets.push(table([
                ("id", str_value(&z.id)),
                ("name", str_value(&z.name)),
                ("kind", str_value("heartbeat")),
                ("token", str_value(p.heartbeat_token)),
                ("period", str_value(&secs(pace.unit))),
                ("grace", str_value(&secs(pace.heartbeat_grace()))),
                ("operator", str_value(POWER_OPERATOR)),
                ("service", str_value(POWER_SERVICE)),
                ("province", province()),
                ("tags", toml::Value::Array(vec![str_value("power-zone")])),
            ]));
        }
        let rest = table([
            (
                "alerting",
                table([
                    (
                        "group_by",
                        toml::Value::Array(vec![str_value("province"), str_value("operator")]),
                    ),
                    ("group_wait", str_value(&secs(pace.unit * 2))),
                    ("group_interval", str_value(&secs(pace.unit * 6))),
                    ("repeat_interval", str_value("1h")),
                ]),
            ),
            (
                "receivers",
                toml::Value::Array(vec![table([
                    ("id", str_value(WEBHOOK_ID)),
                    ("kind", str_value("webhook")),
                    ("url", str_value(&p.webhook_url)),
                ])]),
            ),
            (
                "routes",
                toml::Value::Array(vec![table([("receiver", str_value(WEBHOOK_ID))])]),
            ),
            (
                "auth",
                table([(
                    "tokens",
                    toml::Value::Array(vec![table([
                        ("name", str_value(super::ADMIN_NAME)),
                        ("role", str_value("admin")),
                        ("sha256", str_value(&p.admin_sha256)),
                    ])]),
                )]),
            ),
            ("targets", toml::Value::Array(targets)),
        ]);
        let tail = toml::to_string(&rest)
            .map_err(|e| DemoError::Setup(format!("cannot write the configuration: {e}")))?;
        Ok(format!("{text}\n{tail}"))
    }
}
