//! The snmp kind's config keys resolved to its spec: address, version and secrets (read from
//! files, never shown), OIDs, retries, the preset and the checks it implies.

use super::presets::{DEFAULT_RUNWAY_WARN, IfSelect, Preset};
use super::values;
use super::{AuthProto, PrivProto, Secret, SnmpAuth, SnmpSpec};
use crate::probe::HostPort;
use crate::probe::keys::{Key, Resolve};

/// The port SNMP agents listen on when `address` names none.
const DEFAULT_PORT: u16 = 161;
/// Most retries a target may ask for: each costs a share of the timeout.
const MAX_RETRIES: u32 = 10;
/// Most OIDs one target may list: one GET carries them all, and a PDU must fit a datagram.
pub(super) const MAX_OIDS: usize = 64;

/// Reads a secret file named by `key`; the error names the file, never its content.
fn secret(r: &mut Resolve<'_, '_>, key: Key, raw: Option<&str>) -> Option<Secret> {
    let path = r.sink.path(raw?);
    match std::fs::read_to_string(&path) {
        Err(e) => {
            r.err(key, format!("cannot read {}: {e}", path.display()));
            None
        }
        Ok(s) => {
            // One line; a trailing newline from an editor or `echo` is not part of it.
            let s = s.trim_end_matches(['\n', '\r']).to_string();
            if s.is_empty() {
                r.err(key, format!("{} is empty", path.display()));
                None
            } else {
                Some(Secret(s))
            }
        }
    }
}

fn one_of<T: Copy>(
    r: &mut Resolve<'_, '_>,
    key: Key,
    v: Option<&str>,
    all: &[(&str, T)],
    default: T,
) -> Option<T> {
    let Some(v) = v else {
        return Some(default);
    };
    match all.iter().find(|(n, _)| n.eq_ignore_ascii_case(v)) {
        Some((_, t)) => Some(*t),
        None => {
            let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
            r.err(key, format!("`{v}` is not one of {}", names.join(", ")));
            None
        }
    }
}

/// Resolves an snmp target's keys to its spec, and the checks its preset implies.
pub(in crate::probe) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<SnmpSpec> {
    let k = r.keys;
    let address = match r.need(
        "snmp",
        "an `address` (\"host\" or \"host:port\")",
        k.address,
    ) {
        None => None,
        Some(a) => {
            let with_port = if HostPort::parse(a).is_err() && !a.contains(':') {
                format!("{a}:{DEFAULT_PORT}")
            } else {
                a.to_string()
            };
            match HostPort::parse(&with_port) {
                Ok(hp) => Some(hp),
                Err(e) => {
                    r.err(Key::Address, e);
                    None
                }
            }
        }
    };

    let auth = if k.user.is_some() {
        if k.community_file.is_some() {
            r.err(
                Key::CommunityFile,
                "is for SNMP v2c; a target with `user` speaks v3",
            );
        }
        let auth_protocol = one_of(
            r,
            Key::AuthProtocol,
            k.auth_protocol,
            &AuthProto::ALL,
            AuthProto::Sha,
        );
        let priv_protocol = one_of(
            r,
            Key::PrivProtocol,
            k.priv_protocol,
            &PrivProto::ALL,
            PrivProto::Aes,
        );
        if k.auth_key_file.is_none() || k.priv_key_file.is_none() {
            r.sink.err(
                "user",
                "SNMP v3 needs `auth_key_file` and `priv_key_file` (authPriv)".to_string(),
            );
        }
        let auth_key = secret(r, Key::AuthKeyFile, k.auth_key_file);
        let priv_key = secret(r, Key::PrivKeyFile, k.priv_key_file);
        for (key, s) in [(Key::AuthKeyFile, &auth_key), (Key::PrivKeyFile, &priv_key)] {
            // RFC 3414 §11.2: passphrases shorter than 8 characters are refused by agents.
            if s.as_ref().is_some_and(|s| s.0.chars().count() < 8) {
                r.err(
                    key,
                    "the passphrase in this file is shorter than 8 characters (RFC 3414)",
                );
            }
        }
        let user = k.user.map(str::to_string).filter(|u| !u.is_empty());
        if user.is_none() {
            r.err(Key::User, "must not be empty");
        }
        match (user, auth_protocol, auth_key, priv_protocol, priv_key) {
            (
                Some(user),
                Some(auth_protocol),
                Some(auth_key),
                Some(priv_protocol),
                Some(priv_key),
            ) => Some(SnmpAuth::V3 {
                user,
                auth_protocol,
                auth_key,
                priv_protocol,
                priv_key,
            }),
            _ => None,
        }
    } else {
        for (key, set) in [
            (Key::AuthProtocol, k.auth_protocol.is_some()),
            (Key::AuthKeyFile, k.auth_key_file.is_some()),
            (Key::PrivProtocol, k.priv_protocol.is_some()),
            (Key::PrivKeyFile, k.priv_key_file.is_some()),
        ] {
            if set {
                r.err(key, "is for SNMP v3 and needs `user`");
            }
        }
        if k.community_file.is_none() {
            r.sink.err(
                "kind",
                "kind `snmp` needs `community_file` (v2c) or `user` with `auth_key_file` and `priv_key_file` (v3)"
                    .to_string(),
            );
        }
        secret(r, Key::CommunityFile, k.community_file).map(|community| SnmpAuth::V2c { community })
    };

    let mut oids = Vec::new();
    for o in k.oids.unwrap_or(&[]) {
        match values::parse_oid(o) {
            Ok(arcs) => {
                let c = values::canonical(&arcs);
                if !oids.contains(&c) {
                    oids.push(c);
                }
            }
            Err(e) => {
                r.err(Key::Oids, e);
            }
        }
    }
    if oids.len() > MAX_OIDS {
        r.err(
            Key::Oids,
            format!("lists {} OIDs; at most {MAX_OIDS} fit one GET", oids.len()),
        );
    }

    let retries = match k.retries {
        None => 1,
        Some(n) if n <= MAX_RETRIES => n,
        Some(n) => {
            r.err(Key::Retries, format!("{n} is more than {MAX_RETRIES}"));
            1
        }
    };

    let preset = match k.preset {
        None => None,
        Some("uptime") => Some(Preset::Uptime),
        Some("ups") => Some(Preset::Ups),
        Some("interface") => match (k.if_index, k.if_name) {
            (Some(_), Some(_)) => {
                r.err(Key::IfName, "set `if_index` or `if_name`, not both");
                None
            }
            (Some(0), None) => {
                r.err(Key::IfIndex, "ifIndex starts at 1");
                None
            }
            (Some(i), None) => Some(Preset::Interface(IfSelect::Index(i))),
            (None, Some(n)) if !n.is_empty() => {
                Some(Preset::Interface(IfSelect::Name(n.to_string())))
            }
            _ => {
                r.err(
                    Key::Preset,
                    "preset `interface` needs `if_index` or `if_name`",
                );
                None
            }
        },
        Some(p) => {
            r.err(
                Key::Preset,
                format!("`{p}` is not one of {}", Preset::NAMES.join(", ")),
            );
            None
        }
    };
    let is_interface = matches!(preset, Some(Preset::Interface(_)));
    for (key, set) in [
        (Key::IfIndex, k.if_index.is_some()),
        (Key::IfName, k.if_name.is_some()),
    ] {
        if set && !is_interface && k.preset != Some("interface") {
            r.err(key, "only applies with preset = \"interface\"");
        }
    }
    if k.runway_warn.is_some() && k.preset != Some("ups") {
        r.err(Key::RunwayWarn, "only applies with preset = \"ups\"");
    }
    let runway_warn = k.runway_warn.unwrap_or(DEFAULT_RUNWAY_WARN);

    // The checks each preset implies: an interface that is down takes the target DOWN; a UPS
    // with no output power (battery exhausted) is DOWN, on battery it is DEGRADED with the
    // runway as the cause, and it warns below `runway_warn`.
    match &preset {
        Some(Preset::Interface(_)) => r.implied(Key::Preset, "if_oper_status == 1"),
        Some(Preset::Ups) => {
            r.implied(Key::Preset, "power != off");
            r.implied_degraded(Key::Preset, "power == mains");
            let warn = format!("runway >= {}s", runway_warn.as_secs());
            r.implied_degraded(Key::RunwayWarn, &warn);
        }
        _ => {}
    }

    Some(SnmpSpec {
        target: r.id.to_string(),
        address: address?,
        auth: auth?,
        oids,
        preset,
        retries,
        runway_warn,
    })
}
