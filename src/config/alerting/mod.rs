//! The `[alerting]`, `[[receivers]]`, `[[routes]]` and `[[maintenance]]` tables: their TOML
//! schema, validated form and label matching.
//!
//! This file is the validated form the rest of commwatch reads; `raw` is the TOML schema,
//! `resolve` and `receivers` turn one into the other, reporting every mistake with its line.

mod raw;
mod receivers;
mod resolve;
pub mod template;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::Target;

pub use raw::{RawAlerting, RawMaintenance, RawReceiver, RawReceiverKind, RawRoute};
pub use receivers::read_password;
pub(super) use receivers::resolve_receivers;
pub(super) use resolve::{Ctx, local_start, resolve_alerting, resolve_maintenance, resolve_routes};

/// Message language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Vi,
    En,
}

/// Labels that routes, silences, maintenance windows and grouping may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelKey {
    Target,
    Kind,
    Operator,
    Service,
    Province,
    Commune,
    /// Matches when any of the target's tags equals the value.
    Tag,
    Severity,
}

impl LabelKey {
    pub const NAMES: &'static str =
        "target, kind, operator, service, province, commune, tag, severity";

    pub fn parse(s: &str) -> Option<LabelKey> {
        Some(match s {
            "target" => LabelKey::Target,
            "kind" => LabelKey::Kind,
            "operator" => LabelKey::Operator,
            "service" => LabelKey::Service,
            "province" => LabelKey::Province,
            "commune" => LabelKey::Commune,
            "tag" | "tags" => LabelKey::Tag,
            "severity" => LabelKey::Severity,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LabelKey::Target => "target",
            LabelKey::Kind => "kind",
            LabelKey::Operator => "operator",
            LabelKey::Service => "service",
            LabelKey::Province => "province",
            LabelKey::Commune => "commune",
            LabelKey::Tag => "tag",
            LabelKey::Severity => "severity",
        }
    }

    /// The target's value(s) for this label.
    pub fn values(self, t: &Target) -> Vec<&str> {
        match self {
            LabelKey::Target => vec![t.id.as_str()],
            LabelKey::Kind => vec![t.kind()],
            LabelKey::Operator => vec![t.labels.operator.as_str()],
            LabelKey::Service => vec![t.labels.service.as_str()],
            LabelKey::Province => vec![t.labels.province.as_str()],
            LabelKey::Commune => vec![t.labels.commune.as_str()],
            LabelKey::Tag => t.labels.tags.iter().map(String::as_str).collect(),
            LabelKey::Severity => vec![t.severity.as_str()],
        }
    }
}

/// A conjunction of `label = value` tests; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Matchers(pub Vec<(LabelKey, String)>);

impl Matchers {
    pub fn matches(&self, t: &Target) -> bool {
        self.0
            .iter()
            .all(|(k, v)| k.values(t).contains(&v.as_str()))
    }

    /// Parses `{ label = "value" }`, reporting unknown labels.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Matchers, String> {
        let mut out = Vec::new();
        for (k, v) in raw {
            let key = LabelKey::parse(k)
                .ok_or_else(|| format!("unknown label `{k}`; use one of {}", LabelKey::NAMES))?;
            out.push((key, v.clone()));
        }
        Ok(Matchers(out))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertingConfig {
    pub group_by: Vec<LabelKey>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub language: Language,
    pub max_listed: usize,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            group_by: vec![LabelKey::Province, LabelKey::Operator],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3_600),
            language: Language::Vi,
            max_listed: 20,
        }
    }
}

/// Where and how a receiver is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverKind {
    /// Generic JSON POST, optionally signed with HMAC-SHA256.
    Webhook {
        url: url::Url,
        /// Header values are templates too (a plain value renders as itself).
        headers: BTreeMap<String, String>,
        hmac_secret: Option<String>,
        /// A body rendered from a template instead of the JSON payload.
        body: Option<BodyTemplate>,
    },
    /// Slack-compatible incoming webhook (also Mattermost, Rocket.Chat).
    Slack { url: url::Url },
    Telegram {
        api_url: url::Url,
        bot_token: String,
        chat_id: String,
    },
    /// Zalo Official Account message API.
    Zalo {
        api_url: url::Url,
        access_token: String,
        recipient: String,
    },
    /// Alertmanager's `POST /api/v2/alerts`; firing alerts are re-sent every `resend_interval`.
    Alertmanager {
        url: url::Url,
        resend_interval: Duration,
    },
    /// E-mail through an SMTP relay.
    Email(EmailSettings),
}

/// A webhook body written as a template (`body_template`), checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyTemplate {
    pub source: String,
    /// Sent as `content-type`; it also chooses the escaping of every value the template prints.
    pub content_type: String,
    /// The `text` field is fitted into this many characters (not bytes), for SMS.
    pub max_chars: Option<usize>,
}

/// How the connection to the SMTP relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is then required (port 587).
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No encryption: only accepted towards a relay on the loopback interface.
    None,
}

impl SmtpTls {
    pub const NAMES: [&'static str; 3] = ["starttls", "implicit", "none"];

    pub fn parse(s: &str) -> Option<SmtpTls> {
        Some(match s {
            "starttls" => SmtpTls::Starttls,
            "implicit" => SmtpTls::Implicit,
            "none" => SmtpTls::None,
            _ => return None,
        })
    }

    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        }
    }
}

/// An e-mail receiver's relay, envelope and login. The password stays in its file until a
/// message is sent, so it is never part of the configuration anyone can print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// `Name <address>` or a bare address, checked at load.
    pub from: String,
    pub to: Vec<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Extra certificate authorities for a relay with a private certificate.
    pub ca_file: Option<PathBuf>,
}

impl ReceiverKind {
    pub fn name(&self) -> &'static str {
        match self {
            ReceiverKind::Webhook { .. } => "webhook",
            ReceiverKind::Slack { .. } => "slack",
            ReceiverKind::Telegram { .. } => "telegram",
            ReceiverKind::Zalo { .. } => "zalo",
            ReceiverKind::Alertmanager { .. } => "alertmanager",
            ReceiverKind::Email(_) => "email",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub id: String,
    pub kind: ReceiverKind,
    pub language: Option<Language>,
    pub timeout: Duration,
    pub max_per_minute: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub receiver: String,
    pub matchers: Matchers,
    pub drill: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Repeat {
    Daily,
    Weekly,
}

/// A planned window during which matching targets show MAINTENANCE and do not notify.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindow {
    pub name: String,
    pub matchers: Matchers,
    pub start: NaiveDateTime,
    pub duration: Duration,
    pub repeat: Option<Repeat>,
    pub timezone: chrono_tz::Tz,
}

impl MaintenanceWindow {
    /// Whether the window covers `now`. Recurring windows repeat in local time, so a weekly
    /// window stays at the same wall-clock hour whatever the zone's offset does.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        let local_now = now.with_timezone(&self.timezone).naive_local();
        let period = match self.repeat {
            None => None,
            Some(Repeat::Daily) => Some(chrono::Duration::days(1)),
            Some(Repeat::Weekly) => Some(chrono::Duration::weeks(1)),
        };
        let mut start = self.start;
        if let Some(p) = period
            && local_now > start
        {
            let n = (local_now - start).num_seconds() / p.num_seconds();
            start += p * n as i32;
        }
        let Some(start_utc) = self.timezone.from_local_datetime(&start).earliest() else {
            return false;
        };
        let Ok(d) = chrono::Duration::from_std(self.duration) else {
            return false;
        };
        let start_utc = start_utc.with_timezone(&Utc);
        now >= start_utc && now < start_utc + d
    }
}
