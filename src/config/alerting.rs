//! The `[alerting]`, `[[receivers]]`, `[[routes]]` and `[[maintenance]]` tables: their TOML
//! schema, validated form and label matching.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::Target;
use super::error::{ConfigError, key_line};

// ----- raw schema -------------------------------------------------------------------------

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

// ----- validated form ---------------------------------------------------------------------

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
        headers: BTreeMap<String, String>,
        hmac_secret: Option<String>,
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
}

impl ReceiverKind {
    pub fn name(&self) -> &'static str {
        match self {
            ReceiverKind::Webhook { .. } => "webhook",
            ReceiverKind::Slack { .. } => "slack",
            ReceiverKind::Telegram { .. } => "telegram",
            ReceiverKind::Zalo { .. } => "zalo",
            ReceiverKind::Alertmanager { .. } => "alertmanager",
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

// ----- resolution -------------------------------------------------------------------------

pub(super) struct Ctx<'a> {
    pub file: &'a std::path::Path,
    pub src: &'a str,
    pub errors: &'a mut Vec<ConfigError>,
}

impl Ctx<'_> {
    pub(super) fn err(
        &mut self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) {
        let line = key_line(self.src, span, key);
        self.errors
            .push(ConfigError::new(self.file, Some(line), Some(key), message));
    }
}

pub(super) fn resolve_alerting(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawAlerting>>,
) -> AlertingConfig {
    let mut a = AlertingConfig::default();
    let Some(raw) = raw else { return a };
    let span = raw.span();
    let r = raw.get_ref();
    if let Some(keys) = &r.group_by {
        let mut out = Vec::new();
        for k in keys {
            match LabelKey::parse(k) {
                Some(LabelKey::Tag) => ctx.err(
                    span.clone(),
                    "group_by",
                    "cannot group by `tag` (a target has several)",
                ),
                Some(key) => out.push(key),
                None => ctx.err(
                    span.clone(),
                    "group_by",
                    format!("unknown label `{k}`; use one of {}", LabelKey::NAMES),
                ),
            }
        }
        a.group_by = out;
    }
    a.group_wait = r.group_wait.unwrap_or(a.group_wait);
    a.group_interval = r.group_interval.unwrap_or(a.group_interval);
    a.repeat_interval = r.repeat_interval.unwrap_or(a.repeat_interval);
    a.language = r.language.unwrap_or_default();
    a.max_listed = r.max_listed.unwrap_or(a.max_listed);
    if a.group_interval.is_zero() {
        ctx.err(span.clone(), "group_interval", "must be greater than zero");
    }
    if a.repeat_interval < a.group_interval {
        ctx.err(
            span.clone(),
            "repeat_interval",
            "must not be shorter than group_interval",
        );
    }
    if a.max_listed == 0 {
        ctx.err(span, "max_listed", "must be at least 1");
    }
    a
}

fn http_url(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    key: &str,
    v: Option<&String>,
    default: Option<&str>,
) -> Option<url::Url> {
    let Some(v) = v.map(String::as_str).or(default) else {
        ctx.err(span, key, format!("this receiver kind needs `{key}`"));
        return None;
    };
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            ctx.err(
                span,
                key,
                format!("`{v}` must be an http:// or https:// URL"),
            );
            None
        }
    }
}

fn required(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    key: &str,
    v: &Option<String>,
) -> Option<String> {
    match v {
        Some(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => {
            ctx.err(span, key, format!("this receiver kind needs `{key}`"));
            None
        }
    }
}

pub(super) fn resolve_receivers(ctx: &mut Ctx<'_>, raw: &[Spanned<RawReceiver>]) -> Vec<Receiver> {
    let mut out: Vec<Receiver> = Vec::new();
    for rr in raw {
        let span = rr.span();
        let r = rr.get_ref();
        let before = ctx.errors.len();
        let valid_id = !r.id.is_empty()
            && r.id.len() <= 64
            && r.id.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if !valid_id {
            ctx.err(
                span.clone(),
                "id",
                format!(
                    "`{}` is not a valid receiver id: use a-z, 0-9, '.', '_', '-'",
                    r.id
                ),
            );
        }
        if out.iter().any(|o| o.id == r.id) {
            ctx.err(
                span.clone(),
                "id",
                format!("duplicate receiver id `{}`", r.id),
            );
        }
        let kind_name = format!("{:?}", r.kind).to_lowercase();
        let set = |v: bool, k: &'static str| (k, v);
        let allowed: &[&str] = match r.kind {
            RawReceiverKind::Webhook => &["url", "headers", "hmac_secret"],
            RawReceiverKind::Slack => &["url"],
            RawReceiverKind::Telegram => &["api_url", "bot_token", "chat_id"],
            RawReceiverKind::Zalo => &["api_url", "access_token", "recipient"],
            RawReceiverKind::Alertmanager => &["url", "resend_interval"],
        };
        for (key, present) in [
            set(r.url.is_some(), "url"),
            set(r.headers.is_some(), "headers"),
            set(r.hmac_secret.is_some(), "hmac_secret"),
            set(r.api_url.is_some(), "api_url"),
            set(r.bot_token.is_some(), "bot_token"),
            set(r.chat_id.is_some(), "chat_id"),
            set(r.access_token.is_some(), "access_token"),
            set(r.recipient.is_some(), "recipient"),
            set(r.resend_interval.is_some(), "resend_interval"),
        ] {
            if present && !allowed.contains(&key) {
                ctx.err(
                    span.clone(),
                    key,
                    format!("does not apply to receiver kind `{kind_name}`"),
                );
            }
        }
        let kind = match r.kind {
            RawReceiverKind::Webhook => http_url(ctx, span.clone(), "url", r.url.as_ref(), None)
                .map(|url| ReceiverKind::Webhook {
                    url,
                    headers: r.headers.clone().unwrap_or_default(),
                    hmac_secret: r.hmac_secret.clone(),
                }),
            RawReceiverKind::Slack => http_url(ctx, span.clone(), "url", r.url.as_ref(), None)
                .map(|url| ReceiverKind::Slack { url }),
            RawReceiverKind::Telegram => {
                let api = http_url(
                    ctx,
                    span.clone(),
                    "api_url",
                    r.api_url.as_ref(),
                    Some("https://api.telegram.org"),
                );
                let token = required(ctx, span.clone(), "bot_token", &r.bot_token);
                let chat = required(ctx, span.clone(), "chat_id", &r.chat_id);
                match (api, token, chat) {
                    (Some(api_url), Some(bot_token), Some(chat_id)) => {
                        Some(ReceiverKind::Telegram {
                            api_url,
                            bot_token,
                            chat_id,
                        })
                    }
                    _ => None,
                }
            }
            RawReceiverKind::Zalo => {
                let api = http_url(
                    ctx,
                    span.clone(),
                    "api_url",
                    r.api_url.as_ref(),
                    Some("https://openapi.zalo.me"),
                );
                let token = required(ctx, span.clone(), "access_token", &r.access_token);
                let to = required(ctx, span.clone(), "recipient", &r.recipient);
                match (api, token, to) {
                    (Some(api_url), Some(access_token), Some(recipient)) => {
                        Some(ReceiverKind::Zalo {
                            api_url,
                            access_token,
                            recipient,
                        })
                    }
                    _ => None,
                }
            }
            RawReceiverKind::Alertmanager => {
                let resend = r.resend_interval.unwrap_or(Duration::from_secs(60));
                if resend < Duration::from_secs(5) {
                    ctx.err(span.clone(), "resend_interval", "must be at least 5s");
                }
                http_url(ctx, span.clone(), "url", r.url.as_ref(), None).map(|url| {
                    ReceiverKind::Alertmanager {
                        url,
                        resend_interval: resend,
                    }
                })
            }
        };
        let timeout = r.timeout.unwrap_or(Duration::from_secs(10));
        if timeout.is_zero() || timeout > Duration::from_secs(120) {
            ctx.err(span.clone(), "timeout", "must be between 1ms and 120s");
        }
        if r.max_per_minute == Some(0) {
            ctx.err(span.clone(), "max_per_minute", "must be at least 1");
        }
        if ctx.errors.len() > before {
            continue;
        }
        if let Some(kind) = kind {
            out.push(Receiver {
                id: r.id.clone(),
                kind,
                language: r.language,
                timeout,
                max_per_minute: r.max_per_minute,
            });
        }
    }
    out
}

pub(super) fn resolve_routes(
    ctx: &mut Ctx<'_>,
    raw: &[Spanned<RawRoute>],
    receivers: &[Receiver],
    all_ids: &[String],
) -> Vec<Route> {
    let mut out = Vec::new();
    for rr in raw {
        let span = rr.span();
        let r = rr.get_ref();
        if !all_ids.contains(&r.receiver) {
            ctx.err(
                span.clone(),
                "receiver",
                format!("no receiver with id `{}`", r.receiver),
            );
            continue;
        }
        let matchers = match r.matchers.as_ref().map(Matchers::parse).transpose() {
            Ok(m) => m.unwrap_or_default(),
            Err(e) => {
                ctx.err(span.clone(), "match", e);
                continue;
            }
        };
        if receivers.iter().any(|x| x.id == r.receiver) {
            out.push(Route {
                receiver: r.receiver.clone(),
                matchers,
                drill: r.drill,
            });
        }
    }
    out
}

/// Reads a `timezone` (default Asia/Ho_Chi_Minh) and a local `start` (`YYYY-MM-DDTHH:MM[:SS]`),
/// reporting either key when it is wrong; used by maintenance windows and planned drills.
pub(super) fn local_start(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    timezone: Option<&str>,
    start: &str,
) -> (Option<chrono_tz::Tz>, Option<NaiveDateTime>) {
    let tz_name = timezone.unwrap_or(crate::time::ZONE_NAME);
    let tz: Option<chrono_tz::Tz> = tz_name.parse().ok();
    if tz.is_none() {
        ctx.err(
            span.clone(),
            "timezone",
            format!("`{tz_name}` is not an IANA time zone such as Asia/Ho_Chi_Minh"),
        );
    }
    let local = NaiveDateTime::parse_from_str(start, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(start, "%Y-%m-%dT%H:%M:%S"))
        .ok();
    if local.is_none() {
        ctx.err(
            span,
            "start",
            format!("`{start}` is not a local time such as 2026-12-01T14:00"),
        );
    }
    (tz, local)
}

pub(super) fn resolve_maintenance(
    ctx: &mut Ctx<'_>,
    raw: &[Spanned<RawMaintenance>],
) -> Vec<MaintenanceWindow> {
    let mut out = Vec::new();
    for rr in raw {
        let span = rr.span();
        let r = rr.get_ref();
        let (tz, start) = local_start(ctx, span.clone(), r.timezone.as_deref(), &r.start);
        if r.duration.is_zero() {
            ctx.err(span.clone(), "duration", "must be greater than zero");
        }
        let period = match r.repeat {
            Some(Repeat::Daily) => Some(Duration::from_secs(86_400)),
            Some(Repeat::Weekly) => Some(Duration::from_secs(7 * 86_400)),
            None => None,
        };
        if let Some(p) = period
            && r.duration >= p
        {
            ctx.err(
                span.clone(),
                "duration",
                "a repeating window must be shorter than its period",
            );
        }
        let matchers = match r.matchers.as_ref().map(Matchers::parse).transpose() {
            Ok(m) => m.unwrap_or_default(),
            Err(e) => {
                ctx.err(span.clone(), "match", e);
                continue;
            }
        };
        if let (Some(tz), Some(start)) = (tz, start) {
            out.push(MaintenanceWindow {
                name: r.name.clone(),
                matchers,
                start,
                duration: r.duration,
                repeat: r.repeat,
                timezone: tz,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_windows_recur_in_local_time() {
        let w = MaintenanceWindow {
            name: "VNPT".into(),
            matchers: Matchers::default(),
            start: NaiveDateTime::parse_from_str("2026-11-01T01:00", "%Y-%m-%dT%H:%M").unwrap(),
            duration: Duration::from_secs(7_200),
            repeat: Some(Repeat::Weekly),
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
        };
        // 2026-11-29 is a Sunday, as is 2026-11-01: 01:30 local = 18:30 UTC the day before.
        let inside = Utc
            .with_ymd_and_hms(2026, 11, 28, 18, 30, 0)
            .single()
            .unwrap();
        assert!(w.active_at(inside));
        assert!(!w.active_at(inside + chrono::Duration::hours(2)));
        assert!(!w.active_at(inside - chrono::Duration::days(1)));
        assert!(
            !w.active_at(
                Utc.with_ymd_and_hms(2026, 10, 31, 18, 30, 0)
                    .single()
                    .unwrap()
                    - chrono::Duration::days(1)
            )
        );
    }
}
