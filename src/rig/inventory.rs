//! Target inventories generated from Vietnam's commune list (`vn-communes.csv`): every commune
//! of one province, or of the whole country, times the endpoints a duty officer watches there,
//! written as commwatch configuration — pointing either at illustrative addresses (for example
//! configs, never probed) or at simulated endpoints on loopback (for the demo and benchmarks).
//!
//! The catalogue of endpoints is the [`CATALOGUE`] table: one row per endpoint kind a commune
//! (or a province) has, with the probe kind it uses — mobile sites answer pings, fixed lines,
//! post offices and portals answer HTTP, the government data network's commune link a TCP
//! connection, and every operator's resolver in the province a DNS query.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::rig::sim::EndpointKind;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}:{1}: {2}")]
    Parse(PathBuf, usize, String),
    #[error("no province matches `{0}` (use its code such as 42, or its name such as Hà Tĩnh)")]
    NoProvince(String),
    #[error("the commune list is empty")]
    Empty,
}

/// One commune-level unit, as listed in the CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commune {
    pub province_code: String,
    pub province_name: String,
    pub province_name_en: String,
    pub code: String,
    pub name: String,
    pub name_en: String,
    /// "Xã Kỳ Anh", "Phường Thành Sen", "Đặc khu ...".
    pub full_name: String,
    /// commune | ward | special_zone
    pub unit_type: String,
    /// ASCII, lowercase, words joined by `_` ("ky_anh").
    pub code_name: String,
}

const COLUMNS: [&str; 9] = [
    "province_code",
    "province_name",
    "province_name_en",
    "commune_code",
    "commune_name",
    "commune_name_en",
    "commune_full_name",
    "unit_type",
    "code_name",
];

/// The commune list shipped in `data/` (source and licence in `data/README.md`), compiled in so
/// the demo and the benchmark harness run anywhere, with no file beside the binary.
pub const SHIPPED_CSV: &str = include_str!("../../data/vn-communes.csv");

/// The commune list from `path`, or the shipped one when no path is given.
pub fn communes(path: Option<&Path>) -> Result<Vec<Commune>, InventoryError> {
    match path {
        Some(p) => load_communes(p),
        None => parse_communes(Path::new("data/vn-communes.csv (built in)"), SHIPPED_CSV),
    }
}

/// Reads the commune list.
pub fn load_communes(path: &Path) -> Result<Vec<Commune>, InventoryError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| InventoryError::Read(path.to_path_buf(), e))?;
    parse_communes(path, &text)
}

/// Parses the commune list (CRLF or LF). The file has no quoted fields; a quote or a wrong
/// number of fields is reported with its line rather than silently misread.
pub fn parse_communes(path: &Path, text: &str) -> Result<Vec<Commune>, InventoryError> {
    let err = |line: usize, msg: String| InventoryError::Parse(path.to_path_buf(), line, msg);
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = match lines.next() {
        Some((_, h)) => h.trim_start_matches('\u{feff}').split(',').collect(),
        None => return Err(InventoryError::Empty),
    };
    if header != COLUMNS {
        return Err(err(
            1,
            format!("expected the columns {}", COLUMNS.join(",")),
        ));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        if line.contains('"') {
            return Err(err(n, "quoted fields are not supported".into()));
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != COLUMNS.len() {
            return Err(err(
                n,
                format!("{} fields, expected {}", f.len(), COLUMNS.len()),
            ));
        }
        if f.iter().any(|v| v.is_empty()) {
            return Err(err(n, "empty field".into()));
        }
        let c = Commune {
            province_code: f[0].into(),
            province_name: f[1].into(),
            province_name_en: f[2].into(),
            code: f[3].into(),
            name: f[4].into(),
            name_en: f[5].into(),
            full_name: f[6].into(),
            unit_type: f[7].into(),
            code_name: f[8].into(),
        };
        if !c
            .code_name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(err(
                n,
                format!("code_name `{}` is not [a-z0-9_]", c.code_name),
            ));
        }
        out.push(c);
    }
    if out.is_empty() {
        return Err(InventoryError::Empty);
    }
    Ok(out)
}

/// Which communes to cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Country,
    /// A province by code ("42") or by name, with or without diacritics ("Hà Tĩnh", "ha tinh").
    Province(String),
}

/// The probe kinds the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Http,
    Tcp,
    Icmp,
    Dns,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 4] = [
        ProbeKind::Http,
        ProbeKind::Tcp,
        ProbeKind::Icmp,
        ProbeKind::Dns,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Http => "http",
            ProbeKind::Tcp => "tcp",
            ProbeKind::Icmp => "icmp",
            ProbeKind::Dns => "dns",
        }
    }

    /// The simulated endpoint that can stand in for this kind.
    pub fn sim_kind(self) -> EndpointKind {
        match self {
            ProbeKind::Http => EndpointKind::Http,
            ProbeKind::Tcp => EndpointKind::Tcp,
            ProbeKind::Icmp => EndpointKind::Ping,
            ProbeKind::Dns => EndpointKind::Dns,
        }
    }

    /// The target key that holds the endpoint.
    fn address_key(self) -> &'static str {
        match self {
            ProbeKind::Http => "url",
            ProbeKind::Tcp => "address",
            ProbeKind::Icmp => "host",
            ProbeKind::Dns => "server",
        }
    }
}

/// Echo requests per ICMP probe of a mobile site, and their spacing: three give a loss figure
/// without tripling the load of a national inventory, and 0.5 s apart they fit any timeout
/// above one second.
pub const ICMP_COUNT: u32 = 3;
pub const ICMP_SPACING: &str = "500ms";

/// Whether an endpoint exists once per commune or once per province.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Commune,
    Province,
}

/// One row of the endpoint catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The id suffix (`ht-ky_anh-viettel`) and the key of its illustrative address.
    pub key: &'static str,
    pub operator: &'static str,
    pub service: &'static str,
    pub per: Per,
    pub probe: ProbeKind,
    /// Name prefix; the commune's full name (or the province's) follows.
    pub name: &'static str,
}

/// What a duty officer watches in every commune and province. The commune's link on the
/// government's dedicated data network (the commune level of the central → province → commune
/// connection) is the sixth endpoint of a commune; each province adds its two portals and the
/// resolvers of the four operators that run them there.
pub const CATALOGUE: &[Service] = &[
    Service {
        key: "viettel",
        operator: "viettel",
        service: "mobile",
        per: Per::Commune,
        probe: ProbeKind::Icmp,
        name: "Di động Viettel",
    },
    Service {
        key: "vinaphone",
        operator: "vnpt",
        service: "mobile",
        per: Per::Commune,
        probe: ProbeKind::Icmp,
        name: "Di động VinaPhone (VNPT)",
    },
    Service {
        key: "mobifone",
        operator: "mobifone",
        service: "mobile",
        per: Per::Commune,
        probe: ProbeKind::Icmp,
        name: "Di động MobiFone",
    },
    Service {
        key: "fpt",
        operator: "fpt",
        service: "fixed",
        per: Per::Commune,
        probe: ProbeKind::Http,
        name: "Internet cáp quang FPT",
    },
    Service {
        key: "vnpost",
        operator: "vnpost",
        service: "postal",
        per: Per::Commune,
        probe: ProbeKind::Http,
        name: "Bưu cục VNPost",
    },
    Service {
        key: "tslcd",
        operator: "vnpt",
        service: "government",
        per: Per::Commune,
        probe: ProbeKind::Tcp,
        name: "Mạng truyền số liệu chuyên dùng — UBND",
    },
    Service {
        key: "portal",
        operator: "gov",
        service: "portal",
        per: Per::Province,
        probe: ProbeKind::Http,
        name: "Cổng thông tin điện tử",
    },
    Service {
        key: "dichvucong",
        operator: "gov",
        service: "portal",
        per: Per::Province,
        probe: ProbeKind::Http,
        name: "Cổng dịch vụ công",
    },
    Service {
        key: "dns-viettel",
        operator: "viettel",
        service: "dns",
        per: Per::Province,
        probe: ProbeKind::Dns,
        name: "Máy chủ DNS Viettel",
    },
    Service {
        key: "dns-vnpt",
        operator: "vnpt",
        service: "dns",
        per: Per::Province,
        probe: ProbeKind::Dns,
        name: "Máy chủ DNS VNPT",
    },
    Service {
        key: "dns-mobifone",
        operator: "mobifone",
        service: "dns",
        per: Per::Province,
        probe: ProbeKind::Dns,
        name: "Máy chủ DNS MobiFone",
    },
    Service {
        key: "dns-fpt",
        operator: "fpt",
        service: "dns",
        per: Per::Province,
        probe: ProbeKind::Dns,
        name: "Máy chủ DNS FPT Telecom",
    },
];

/// One generated target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub name: String,
    pub service: &'static Service,
    pub province: String,
    /// Empty for province-level endpoints.
    pub commune: String,
    /// The DNS-safe stem of its illustrative hostname ("ky-anh.ha-tinh").
    host_stem: String,
    /// The province's stem ("ha-tinh"): resolvers are asked for its portal's name.
    province_stem: String,
    /// The catalogue's probe kind, unless [`Inventory::stand_in`] replaced it.
    probe: ProbeKind,
}

impl Entry {
    pub fn probe(&self) -> ProbeKind {
        self.probe
    }

    /// The name a resolver entry asks for: the province portal's, under `.example` (reserved
    /// for documentation, RFC 2606). Not `.invalid` like the other illustrative names: the
    /// DNS library answers those NXDOMAIN itself without asking the server (RFC 6761), so
    /// the probe would never reach the resolver it watches. Only commwatch's own simulated
    /// resolvers are ever asked in tests, demos and benchmarks; they answer any name.
    pub fn dns_query(&self) -> String {
        format!("{}.gov.example", self.province_stem)
    }
}

/// A generated inventory, in a stable order (province, commune as listed, catalogue order).
#[derive(Debug, Clone)]
pub struct Inventory {
    pub entries: Vec<Entry>,
    pub provinces: usize,
    pub communes: usize,
}

/// The six centrally-run cities: their portals say "thành phố", the others "tỉnh".
const CITIES: [&str; 6] = ["01", "31", "46", "48", "79", "92"];

/// Lowercase ASCII from Vietnamese text: diacritics dropped, đ → d.
pub fn fold(s: &str) -> String {
    const GROUPS: [(&str, char); 6] = [
        ("àáảãạăằắẳẵặâầấẩẫậ", 'a'),
        ("èéẻẽẹêềếểễệ", 'e'),
        ("ìíỉĩị", 'i'),
        ("òóỏõọôồốổỗộơờớởỡợ", 'o'),
        ("ùúủũụưừứửữự", 'u'),
        ("ỳýỷỹỵ", 'y'),
    ];
    s.to_lowercase()
        .chars()
        .map(|c| {
            if c == 'đ' {
                return 'd';
            }
            GROUPS
                .iter()
                .find(|(set, _)| set.contains(c))
                .map_or(c, |(_, base)| *base)
        })
        .collect()
}

fn words(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Short id prefixes per province code: the initials of the name ("Hà Tĩnh" → `ht`), with the
/// province code appended where two provinces share initials (`tn19`, `tn80`).
pub fn province_prefixes(communes: &[Commune]) -> HashMap<String, String> {
    let mut names: Vec<(&str, &str)> = communes
        .iter()
        .map(|c| (c.province_code.as_str(), c.province_name.as_str()))
        .collect();
    names.sort();
    names.dedup();
    let initials: Vec<(&str, String)> = names
        .iter()
        .map(|(code, name)| {
            let i: String = words(name)
                .iter()
                .filter_map(|w| w.chars().next())
                .collect();
            (*code, i)
        })
        .collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, i) in &initials {
        *count.entry(i.as_str()).or_default() += 1;
    }
    initials
        .iter()
        .map(|(code, i)| {
            let p = if count[i.as_str()] > 1 {
                format!("{i}{code}")
            } else {
                i.clone()
            };
            (code.to_string(), p)
        })
        .collect()
}

fn matches_province(c: &Commune, wanted: &str) -> bool {
    let w = words(wanted);
    c.province_code == wanted.trim() || (!w.is_empty() && words(&c.province_name) == w)
}

/// Builds the inventory for `scope` from the whole commune list (the whole list is needed to
/// keep province prefixes the same whatever the scope).
pub fn build(all: &[Commune], scope: &Scope) -> Result<Inventory, InventoryError> {
    if all.is_empty() {
        return Err(InventoryError::Empty);
    }
    let prefixes = province_prefixes(all);
    let selected: Vec<&Commune> = match scope {
        Scope::Country => all.iter().collect(),
        Scope::Province(p) => {
            let s: Vec<&Commune> = all.iter().filter(|c| matches_province(c, p)).collect();
            if s.is_empty() {
                return Err(InventoryError::NoProvince(p.clone()));
            }
            s
        }
    };
    // code_name is unique within most provinces, but two communes may fold to the same ASCII
    // ("Văn Lang" / "Vân Lang"): those get their commune code appended.
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for c in &selected {
        *seen
            .entry((c.province_code.as_str(), c.code_name.as_str()))
            .or_default() += 1;
    }
    let mut entries = Vec::new();
    let mut provinces_done: HashSet<&str> = HashSet::new();
    let mut provinces = 0;
    for (i, c) in selected.iter().enumerate() {
        let prefix = prefixes
            .get(&c.province_code)
            .cloned()
            .unwrap_or_else(|| format!("p{}", c.province_code));
        let province_slug = words(&c.province_name).join("-");
        let unique = seen[&(c.province_code.as_str(), c.code_name.as_str())] == 1;
        let commune_key = if unique {
            c.code_name.clone()
        } else {
            format!("{}_{}", c.code_name, c.code)
        };
        let commune_label = if unique {
            c.name.clone()
        } else {
            format!("{} ({})", c.name, c.code)
        };
        for s in CATALOGUE.iter().filter(|s| s.per == Per::Commune) {
            entries.push(Entry {
                id: format!("{prefix}-{commune_key}-{}", s.key),
                name: format!("{} — {}", s.name, c.full_name),
                service: s,
                province: c.province_name.clone(),
                commune: commune_label.clone(),
                host_stem: format!("{}.{province_slug}", commune_key.replace('_', "-")),
                province_stem: province_slug.clone(),
                probe: s.probe,
            });
        }
        // Province-level endpoints follow the province's last commune.
        let last_of_province = selected
            .get(i + 1)
            .is_none_or(|n| n.province_code != c.province_code);
        if last_of_province && provinces_done.insert(c.province_code.as_str()) {
            provinces += 1;
            let level = if CITIES.contains(&c.province_code.as_str()) {
                "thành phố"
            } else {
                "tỉnh"
            };
            for s in CATALOGUE.iter().filter(|s| s.per == Per::Province) {
                entries.push(Entry {
                    id: format!("{prefix}-{}", s.key),
                    name: format!("{} {level} {}", s.name, c.province_name),
                    service: s,
                    province: c.province_name.clone(),
                    commune: String::new(),
                    host_stem: province_slug.clone(),
                    province_stem: province_slug.clone(),
                    probe: s.probe,
                });
            }
        }
    }
    Ok(Inventory {
        entries,
        provinces,
        communes: selected.len(),
    })
}

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
    use super::*;

    const CSV: &str = "province_code,province_name,province_name_en,commune_code,commune_name,commune_name_en,commune_full_name,unit_type,code_name\r\n\
42,Hà Tĩnh,Ha Tinh,18073,Thành Sen,Thanh Sen,Phường Thành Sen,ward,thanh_sen\r\n\
42,Hà Tĩnh,Ha Tinh,18200,Kỳ Anh,Ky Anh,Xã Kỳ Anh,commune,ky_anh\r\n\
19,Thái Nguyên,Thai Nguyen,05001,Văn Lang,Van Lang,Xã Văn Lang,commune,van_lang\r\n\
19,Thái Nguyên,Thai Nguyen,05002,Vân Lang,Van Lang,Xã Vân Lang,commune,van_lang\r\n\
80,Tây Ninh,Tay Ninh,25001,Tân An,Tan An,Phường Tân An,ward,tan_an\r\n\
01,Hà Nội,Hanoi,00004,Ba Đình,Ba Dinh,Phường Ba Đình,ward,ba_dinh\r\n";

    fn communes() -> Vec<Commune> {
        parse_communes(Path::new("t.csv"), CSV).unwrap()
    }

    #[test]
    fn folds_vietnamese() {
        assert_eq!(fold("Hà Tĩnh"), "ha tinh");
        assert_eq!(fold("Đắk Lắk"), "dak lak");
        assert_eq!(fold("Thanh Hoá"), "thanh hoa");
        assert_eq!(fold("Hưng Yên"), "hung yen");
    }

    #[test]
    fn prefixes_are_initials_with_the_code_where_they_collide() {
        let p = province_prefixes(&communes());
        assert_eq!(p["42"], "ht");
        assert_eq!(p["01"], "hn");
        assert_eq!(p["19"], "tn19");
        assert_eq!(p["80"], "tn80");
    }

    #[test]
    fn province_inventory_has_every_commune_endpoint_and_the_portals() {
        let inv = build(&communes(), &Scope::Province("ha tinh".into())).unwrap();
        assert_eq!((inv.provinces, inv.communes), (1, 2));
        let ids: Vec<&str> = inv.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 2 * 6 + 6);
        assert_eq!(ids[0], "ht-thanh_sen-viettel");
        assert!(ids.contains(&"ht-ky_anh-vnpost"));
        assert_eq!(
            &ids[12..],
            [
                "ht-portal",
                "ht-dichvucong",
                "ht-dns-viettel",
                "ht-dns-vnpt",
                "ht-dns-mobifone",
                "ht-dns-fpt"
            ]
        );
        let e = &inv.entries[6];
        assert_eq!(e.name, "Di động Viettel — Xã Kỳ Anh");
        assert_eq!(
            (e.province.as_str(), e.commune.as_str()),
            ("Hà Tĩnh", "Kỳ Anh")
        );
        assert_eq!(inv.entries[12].name, "Cổng thông tin điện tử tỉnh Hà Tĩnh");
        assert_eq!(
            build(&communes(), &Scope::Province("42".into()))
                .unwrap()
                .entries,
            inv.entries
        );
        assert!(matches!(
            build(&communes(), &Scope::Province("Atlantis".into())),
            Err(InventoryError::NoProvince(_))
        ));
    }

    #[test]
    fn communes_that_fold_alike_get_distinct_ids_and_labels() {
        let inv = build(&communes(), &Scope::Province("19".into())).unwrap();
        assert!(
            inv.entries
                .iter()
                .any(|e| e.id == "tn19-van_lang_05001-fpt")
        );
        assert!(
            inv.entries
                .iter()
                .any(|e| e.id == "tn19-van_lang_05002-fpt")
        );
        assert!(inv.entries.iter().any(|e| e.commune == "Vân Lang (05002)"));
    }

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
    fn bad_csv_lines_are_reported_with_their_line() {
        let bad = CSV.replace("ward,ba_dinh", "ward");
        let e = parse_communes(Path::new("x.csv"), &bad).unwrap_err();
        assert!(e.to_string().starts_with("x.csv:7:"), "{e}");
        assert!(parse_communes(Path::new("x.csv"), "a,b\n").is_err());
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
