//! The TOML schema of the alerting tables, as serde reads it: unknown keys are refused here,
//! everything else is checked in `resolve`, where the line of each mistake is known.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{Language, Repeat};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerting {
    pub group_by: Option<Vec<String>>,
    #[serde(default, with = "humantime_serde")]
    pub group_wait: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub group_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub repeat_interval: Option<Duration>,
    pub language: Option<Language>,
    /// Communes/targets named in one message before "and N more".
    pub max_listed: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawReceiverKind {
    Webhook,
    Slack,
    Telegram,
    Zalo,
    Alertmanager,
    Email,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    pub id: String,
    pub kind: RawReceiverKind,
    pub url: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub hmac_secret: Option<String>,
    pub api_url: Option<String>,
    pub bot_token: Option<String>,
    pub chat_id: Option<String>,
    pub access_token: Option<String>,
    pub recipient: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub resend_interval: Option<Duration>,
    pub language: Option<Language>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Messages per minute at most (an SMS gateway must never be flooded).
    pub max_per_minute: Option<u32>,
    /// Webhook: a template for the body instead of the JSON payload, its content type, and a
    /// character limit on the `text` field (SMS).
    pub body_template: Option<String>,
    pub content_type: Option<String>,
    pub max_chars: Option<usize>,
    /// E-mail: the SMTP relay, how it is secured, the envelope and the login.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
    pub username: Option<String>,
    pub password_file: Option<String>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub receiver: String,
    #[serde(rename = "match")]
    pub matchers: Option<BTreeMap<String, String>>,
    /// true: drill traffic only; false: real traffic only; absent: both.
    pub drill: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMaintenance {
    pub name: String,
    #[serde(rename = "match")]
    pub matchers: Option<BTreeMap<String, String>>,
    /// Local start time in `timezone`, `YYYY-MM-DDTHH:MM`.
    pub start: String,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    pub repeat: Option<Repeat>,
    pub timezone: Option<String>,
}
