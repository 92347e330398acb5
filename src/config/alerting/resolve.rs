//! From the raw alerting tables to their validated form: `[alerting]`, `[[routes]]` and
//! `[[maintenance]]`, and the error context every resolver reports through.

use std::time::Duration;

use chrono::NaiveDateTime;
use toml::Spanned;

use super::{
    AlertingConfig, LabelKey, MaintenanceWindow, Matchers, RawAlerting, RawMaintenance, RawRoute,
    Receiver, Repeat, Route,
};
use crate::config::error::{ConfigError, key_line};

pub(in crate::config) struct Ctx<'a> {
    pub file: &'a std::path::Path,
    pub src: &'a str,
    pub errors: &'a mut Vec<ConfigError>,
}

impl Ctx<'_> {
    pub(in crate::config) fn err(
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

pub(in crate::config) fn resolve_alerting(
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

pub(in crate::config) fn resolve_routes(
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
pub(in crate::config) fn local_start(
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

pub(in crate::config) fn resolve_maintenance(
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
