//! The `[[drills]]` table: drills planned ahead in the configuration (start in local time and a
//! duration), and the drill scope (a label selector) shared with the API and the CLI.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::Target;
use super::alerting::{Ctx, LabelKey, local_start};

/// Probing interval in scope when a drill names none: the pace the drill leaders asked for.
pub const DEFAULT_DRILL_INTERVAL: Duration = Duration::from_secs(10);
/// Length of the comparison window before a drill when none is given.
pub const DEFAULT_BASELINE: Duration = Duration::from_secs(7 * 86_400);
/// Drills longer than this are almost certainly a typo (`duration = "30d"` for "30m").
pub const MAX_DRILL_DURATION: Duration = Duration::from_secs(7 * 86_400);
/// Faster than this would hammer the very endpoints the province depends on.
pub const MIN_DRILL_INTERVAL: Duration = Duration::from_secs(1);

/// One value or several, so `commune = "Kỳ Anh"` and `commune = ["Kỳ Anh", "Cẩm Xuyên"]` both read.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Which targets a drill covers: for every named label, the target's value must be one of the
/// listed values (several labels must all match). Empty covers every target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(pub Vec<(LabelKey, Vec<String>)>);

impl Scope {
    pub fn matches(&self, t: &Target) -> bool {
        self.0.iter().all(|(k, allowed)| {
            k.values(t)
                .iter()
                .any(|v| allowed.iter().any(|a| a.as_str() == *v))
        })
    }

    /// Parses `{ label = "value" | ["value", ...] }`, naming the first unknown label or empty list.
    pub fn parse(raw: &BTreeMap<String, OneOrMany>) -> Result<Scope, String> {
        let mut out = Vec::new();
        for (k, v) in raw {
            let key = LabelKey::parse(k)
                .ok_or_else(|| format!("unknown label `{k}`; use one of {}", LabelKey::NAMES))?;
            let values = v.clone().into_vec();
            if values.is_empty() || values.iter().any(|s| s.trim().is_empty()) {
                return Err(format!("label `{k}` needs at least one non-empty value"));
            }
            out.push((key, values));
        }
        Ok(Scope(out))
    }

    /// The scope as JSON (label -> values), as stored and as the API shows it.
    pub fn to_map(&self) -> BTreeMap<String, Vec<String>> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
            .collect()
    }

    /// Reads back what [`Scope::to_map`] wrote.
    pub fn from_map(map: &BTreeMap<String, Vec<String>>) -> Result<Scope, String> {
        Scope::parse(
            &map.iter()
                .map(|(k, v)| (k.clone(), OneOrMany::Many(v.clone())))
                .collect(),
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrill {
    pub name: String,
    #[serde(default)]
    pub scenario: String,
    #[serde(default)]
    pub scope: BTreeMap<String, OneOrMany>,
    /// Local start time in `timezone`, `YYYY-MM-DDTHH:MM`.
    pub start: String,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub baseline: Option<Duration>,
    #[serde(default)]
    pub leaders: Vec<String>,
    pub timezone: Option<String>,
}

/// A drill planned in the configuration; the daemon starts it at `start` and ends it after
/// `duration`, once (a restart during or after it never starts it again).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledDrill {
    pub name: String,
    pub scenario: String,
    pub scope: Scope,
    pub start: DateTime<Utc>,
    pub duration: Duration,
    pub interval: Duration,
    pub baseline: Duration,
    pub leaders: Vec<String>,
}

impl ScheduledDrill {
    /// Identifies this planned drill in the store: the same name and start never run twice.
    pub fn schedule_key(&self) -> String {
        format!("{}@{}", self.name, self.start.timestamp())
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(self.duration).unwrap_or_default()
    }
}

/// Why a drill's timing is refused; the key it names is [`Timing::key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Timing {
    #[error("must be greater than zero")]
    ZeroDuration,
    #[error("must be at most 7 days")]
    DurationTooLong,
    #[error("must be at least 1s")]
    IntervalTooShort,
}

impl Timing {
    /// The key (config) or field (API) at fault.
    pub fn key(self) -> &'static str {
        match self {
            Timing::ZeroDuration | Timing::DurationTooLong => "duration",
            Timing::IntervalTooShort => "interval",
        }
    }
}

/// Checks what both planned and ad-hoc drills must satisfy.
pub fn check_timing(duration: Duration, interval: Duration) -> Result<(), Timing> {
    if duration.is_zero() {
        return Err(Timing::ZeroDuration);
    }
    if duration > MAX_DRILL_DURATION {
        return Err(Timing::DurationTooLong);
    }
    if interval < MIN_DRILL_INTERVAL {
        return Err(Timing::IntervalTooShort);
    }
    Ok(())
}

/// How long a drill started without a `duration` runs unless stopped: long enough for a
/// typhoon's first days, short enough that a forgotten drill does not tag a week of records.
pub const DEFAULT_OPEN_ENDED: Duration = Duration::from_secs(72 * 3_600);

/// `[drill_defaults]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrillDefaults {
    /// The length of a drill started without one (it ends by itself then).
    #[serde(default, with = "humantime_serde")]
    pub open_ended: Option<Duration>,
}

/// How drills started from the API, the CLI or a page behave when the request leaves a
/// setting out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrillDefaults {
    pub open_ended: Duration,
}

impl Default for DrillDefaults {
    fn default() -> Self {
        DrillDefaults {
            open_ended: DEFAULT_OPEN_ENDED,
        }
    }
}

pub(super) fn resolve_drill_defaults(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawDrillDefaults>>,
) -> DrillDefaults {
    let mut d = DrillDefaults::default();
    if let Some(raw) = raw
        && let Some(v) = raw.get_ref().open_ended
    {
        if (Duration::from_secs(60)..=MAX_DRILL_DURATION).contains(&v) {
            d.open_ended = v;
        } else {
            ctx.err(
                raw.span(),
                "open_ended",
                format!("{} is outside 1m..7d", humantime::format_duration(v)),
            );
        }
    }
    d
}

pub(super) fn resolve_drills(
    ctx: &mut Ctx<'_>,
    raw: &[Spanned<RawDrill>],
    targets: &[Target],
) -> Vec<ScheduledDrill> {
    let mut out: Vec<ScheduledDrill> = Vec::new();
    for rr in raw {
        let span = rr.span();
        let r = rr.get_ref();
        let before = ctx.errors.len();
        if r.name.trim().is_empty() {
            ctx.err(span.clone(), "name", "must not be empty");
        }
        let (tz, local) = local_start(ctx, span.clone(), r.timezone.as_deref(), &r.start);
        let interval = r.interval.unwrap_or(DEFAULT_DRILL_INTERVAL);
        if let Err(e) = check_timing(r.duration, interval) {
            ctx.err(span.clone(), e.key(), e.to_string());
        }
        let scope = match Scope::parse(&r.scope) {
            Ok(s) => {
                if !targets.iter().any(|t| s.matches(t)) {
                    ctx.err(span.clone(), "scope", "matches no configured target");
                }
                s
            }
            Err(e) => {
                ctx.err(span.clone(), "scope", e);
                Scope::default()
            }
        };
        let start = match (tz, local) {
            // A local time skipped by a DST change has no instant; Vietnam has none, other
            // zones might.
            (Some(tz), Some(l)) => match tz.from_local_datetime(&l).earliest() {
                Some(t) => Some(t.with_timezone(&Utc)),
                None => {
                    ctx.err(
                        span.clone(),
                        "start",
                        "that local time does not exist in the zone",
                    );
                    None
                }
            },
            _ => None,
        };
        if ctx.errors.len() > before {
            continue;
        }
        let Some(start) = start else { continue };
        let d = ScheduledDrill {
            name: r.name.trim().to_string(),
            scenario: r.scenario.clone(),
            scope,
            start,
            duration: r.duration,
            interval,
            baseline: r.baseline.unwrap_or(DEFAULT_BASELINE),
            leaders: r.leaders.clone(),
        };
        // Two drills may run at once only over different targets: a sample belongs to one drill.
        let clash = out.iter().any(|o| {
            o.start < d.end()
                && d.start < o.end()
                && targets
                    .iter()
                    .any(|t| o.scope.matches(t) && d.scope.matches(t))
        });
        if clash {
            ctx.err(
                span.clone(),
                "scope",
                "overlaps another planned drill at the same time over the same targets",
            );
            continue;
        }
        out.push(d);
    }
    out
}
