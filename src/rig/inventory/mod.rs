//! Target inventories generated from Vietnam's commune list (`vn-communes.csv`): every commune
//! of one province, or of the whole country, times the endpoints a duty officer watches there,
//! written as commwatch configuration — pointing either at illustrative addresses (for example
//! configs, never probed) or at simulated endpoints on loopback (for the demo and benchmarks).
//!
//! The catalogue of endpoints is the [`CATALOGUE`] table: one row per endpoint kind a commune
//! (or a province) has, with the probe kind it uses — mobile sites answer pings, fixed lines,
//! post offices and portals answer HTTP, the government data network's commune link a TCP
//! connection, and every operator's resolver in the province a DNS query.
//!
//! Rooms: `communes` reads the list, `catalogue` says what each commune and province has,
//! this file builds the entries, and `output` writes them as configuration.

mod catalogue;
mod communes;
mod output;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

pub use catalogue::{CATALOGUE, ICMP_COUNT, ICMP_SPACING, Per, ProbeKind, Service};
pub use communes::{Commune, SHIPPED_CSV, communes, load_communes, parse_communes};
pub use output::{ATTRIBUTION, TomlSettings};

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

/// Which communes to cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Country,
    /// A province by code ("42") or by name, with or without diacritics ("Hà Tĩnh", "ha tinh").
    Province(String),
}

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

#[cfg(test)]
mod tests {
    use super::communes::tests::sample as communes;
    use super::*;

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
}
