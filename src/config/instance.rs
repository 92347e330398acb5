//! `[instance]`: who this commwatch is among the vantage points a province runs (operations
//! room, backup site, national centre). Its id goes on every page, in `/api/v1/status` and in
//! `commwatch_instance_info`, so an officer reading any of them knows which room is speaking.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::resolve::Ctx;

/// What the operator writes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInstance {
    /// Stable, `[a-z0-9._-]`: it names this vantage point in records, messages and metrics.
    pub id: Option<String>,
    /// For people: "Phòng trực ban tỉnh Hà Tĩnh".
    pub name: Option<String>,
    /// Where it runs: "Thành Sen".
    pub location: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The local address every probe binds to, so a vantage point probes over the uplink it is
    /// meant to watch (IPv4 or IPv6; must be an address of this machine).
    pub source_address: Option<String>,
}

/// This instance's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceConfig {
    pub id: String,
    pub name: String,
    pub location: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub source_address: Option<std::net::IpAddr>,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        let id = default_id();
        InstanceConfig {
            name: id.clone(),
            id,
            location: None,
            labels: BTreeMap::new(),
            source_address: None,
        }
    }
}

/// Longest id: it is a metric label value and part of message keys.
const MAX_ID: usize = 64;
/// Longest name or location: they fit a page footer.
const MAX_TEXT: usize = 120;
/// Labels are for grouping vantage points on dashboards, not a store of data.
const MAX_LABELS: usize = 16;

/// The host's name made into an id (`OpsRoom-01.local` → `opsroom-01.local`), so two instances
/// left unconfigured still tell themselves apart; `commwatch` when the host has no usable name.
fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let id: String = host
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        .take(MAX_ID)
        .collect();
    if id.is_empty() {
        "commwatch".to_string()
    } else {
        id
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn valid_label(key: &str) -> bool {
    let mut b = key.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

pub(super) fn resolve_instance(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawInstance>>,
) -> InstanceConfig {
    let mut out = InstanceConfig::default();
    let Some(raw) = raw else { return out };
    let span = raw.span();
    let r = raw.get_ref();
    if let Some(id) = &r.id {
        if valid_id(id) {
            out.id = id.clone();
        } else {
            ctx.err_key(
                span.clone(),
                "id",
                format!("instance id must be 1-{MAX_ID} characters of a-z 0-9 . _ - (it names this vantage point in records and metrics)"),
            );
        }
    }
    out.name = match &r.name {
        Some(n) if n.trim().is_empty() || n.chars().count() > MAX_TEXT => {
            ctx.err_key(
                span.clone(),
                "name",
                format!("instance name must be 1-{MAX_TEXT} characters"),
            );
            out.id.clone()
        }
        Some(n) => n.trim().to_string(),
        None => out.id.clone(),
    };
    if let Some(l) = &r.location {
        if l.chars().count() > MAX_TEXT {
            ctx.err_key(
                span.clone(),
                "location",
                format!("instance location must be at most {MAX_TEXT} characters"),
            );
        } else if !l.trim().is_empty() {
            out.location = Some(l.trim().to_string());
        }
    }
    if r.labels.len() > MAX_LABELS {
        ctx.err_key(
            span.clone(),
            "labels",
            format!("at most {MAX_LABELS} instance labels"),
        );
    }
    for (k, v) in &r.labels {
        if !valid_label(k) {
            ctx.err_key(
                span.clone(),
                "labels",
                format!("instance label `{k}` must be a-z 0-9 _ and not start with a digit"),
            );
        } else if v.chars().count() > MAX_TEXT {
            ctx.err_key(
                span.clone(),
                "labels",
                format!("instance label `{k}` is longer than {MAX_TEXT} characters"),
            );
        }
    }
    out.labels = r.labels.clone();
    if let Some(a) = &r.source_address {
        match local_address(a) {
            Ok(ip) => out.source_address = Some(ip),
            Err(e) => ctx.err_key(span, "source_address", e),
        }
    }
    out
}

/// Parses a `source_address` and proves it is an address of this machine by binding a UDP
/// socket to it (nothing is sent), so a typo is refused at load rather than failing every probe.
pub(super) fn local_address(text: &str) -> Result<std::net::IpAddr, String> {
    let ip: std::net::IpAddr = text
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv4 or IPv6 address"))?;
    std::net::UdpSocket::bind((ip, 0))
        .map(|_| ip)
        .map_err(|e| format!("{ip} is not an address of this machine ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_labels_keep_to_their_alphabets() {
        assert!(valid_id("ops-room.ht_1"));
        assert!(!valid_id("Ops Room"));
        assert!(!valid_id(""));
        assert!(valid_label("site"));
        assert!(valid_label("_x9"));
        assert!(!valid_label("9site"));
        assert!(!valid_label("Site"));
        let d = default_id();
        assert!(valid_id(&d), "{d}");
    }
}
