//! One `[[targets]]` table resolved: inherited defaults, timing bounds (interval, timeout),
//! thresholds, the id rule, and the kind's own keys through `config::kinds`.

use std::time::Duration;

use toml::Spanned;

use super::error::key_offset;
use super::resolve::Ctx;
use super::schema::RawTarget;
use super::*;

/// The smallest interval accepted: below it a probe storm costs more than it tells.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The largest: a target probed less than daily is not being watched (and `100000d` is a typo).
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// No probe needs longer than this to answer; more is a typo that would hold sockets for hours.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// Which of interval and timeout a table sets itself; what it inherits was checked where it
/// was written, so an inherited mistake is reported once, at its own key.
#[derive(Clone, Copy)]
pub(super) struct SetHere {
    pub interval: bool,
    pub timeout: bool,
}

pub(super) fn check_timing(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    interval: Duration,
    timeout: Duration,
    here: SetHere,
) {
    let fmt = |d: Duration| humantime::format_duration(d).to_string();
    if here.interval {
        if interval < MIN_INTERVAL {
            let msg = format!("interval {} is below the minimum of 1s", fmt(interval));
            ctx.err_key(span, "interval", msg);
            // The timeout cannot be judged against an interval that is itself wrong.
            return;
        }
        if interval > MAX_INTERVAL {
            let msg = format!("interval {} is above the maximum of 1d", fmt(interval));
            ctx.err_key(span, "interval", msg);
            return;
        }
    }
    if here.timeout {
        if timeout.is_zero() {
            ctx.err_key(span, "timeout", "timeout must be greater than zero");
            return;
        }
        if timeout > MAX_TIMEOUT {
            let msg = format!("timeout {} is above the maximum of 10m", fmt(timeout));
            ctx.err_key(span, "timeout", msg);
            return;
        }
    }
    if !(here.interval || here.timeout) || timeout < interval {
        return;
    }
    // An inherited interval that is itself wrong was reported where it was written.
    if !here.interval && !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return;
    }
    // Point at whichever key this table set, so the fix is obvious.
    let key = if here.timeout { "timeout" } else { "interval" };
    let msg = format!(
        "timeout {} must be below interval {}",
        fmt(timeout),
        fmt(interval)
    );
    ctx.err_key(span, key, msg);
}

pub(super) fn check_threshold(ctx: &mut Ctx<'_>, span: std::ops::Range<usize>, key: &str, v: u32) {
    if v == 0 || v > 100 {
        ctx.err_key(span, key, format!("must be between 1 and 100, got {v}"));
    }
}

/// Ids appear in URLs, metric labels and file names: keep them to a safe alphabet.
pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

pub(super) fn resolve_target(
    ctx: &mut Ctx<'_>,
    raw: &Spanned<RawTarget>,
    defaults: &Defaults,
) -> Option<Target> {
    let span = raw.span();
    let r = raw.get_ref();
    let before = ctx.errors.len();

    if !valid_id(&r.id) {
        ctx.err_key(
            span.clone(),
            "id",
            format!(
                "`{}` is not a valid id: use 1-128 characters from a-z, 0-9, '.', '_' and '-'",
                r.id
            ),
        );
    }
    let interval = r.interval.unwrap_or(defaults.interval);
    let timeout = r.timeout.unwrap_or(defaults.timeout);
    let here = SetHere {
        interval: r.interval.is_some(),
        timeout: r.timeout.is_some(),
    };
    check_timing(ctx, span.clone(), interval, timeout, here);
    let failure_threshold = r.failure_threshold.unwrap_or(defaults.failure_threshold);
    let success_threshold = r.success_threshold.unwrap_or(defaults.success_threshold);
    check_threshold(ctx, span.clone(), "failure_threshold", failure_threshold);
    check_threshold(ctx, span.clone(), "success_threshold", success_threshold);

    let parts = super::kinds::resolve(ctx, raw, &r.id, timeout);

    for (key, value) in [
        ("operator", &r.operator),
        ("service", &r.service),
        ("province", &r.province),
        ("commune", &r.commune),
    ] {
        if let Some(v) = value
            && v.len() > 200
        {
            ctx.err_key(span.clone(), key, "label values are limited to 200 bytes");
        }
    }

    if let Some(sev) = &r.severity
        && !matches!(sev.as_str(), "critical" | "warning" | "info")
    {
        ctx.err_key(
            span.clone(),
            "severity",
            format!("`{sev}` must be critical, warning or info"),
        );
    }

    let source_address = match &r.source_address {
        Some(a) => match super::instance::local_address(a) {
            Ok(ip) => Some(ip),
            Err(e) => {
                ctx.err_key(span.clone(), "source_address", e);
                None
            }
        },
        None => defaults.source_address,
    };

    if ctx.errors.len() > before {
        return None;
    }
    let spec = parts.spec?;
    Some(Target {
        id: r.id.clone(),
        name: r
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| r.id.clone()),
        spec,
        interval,
        timeout,
        failure_threshold,
        success_threshold,
        checks: parts.checks,
        degraded: parts.degraded,
        labels: Labels {
            operator: r.operator.clone().unwrap_or_default(),
            service: r.service.clone().unwrap_or_default(),
            province: r.province.clone().unwrap_or_default(),
            commune: r.commune.clone().unwrap_or_default(),
            tags: r.tags.clone(),
        },
        severity: r.severity.clone().unwrap_or_else(|| "critical".to_string()),
        depends_on: r.depends_on.clone(),
        source_address,
        origin: Origin {
            file: ctx.file.to_path_buf(),
            line: {
                let at = key_offset(ctx.src, span.clone(), "id");
                ctx.line_at(at)
            },
        },
    })
}
