//! The snmp presets (`uptime`, `interface`, `ups`): the OIDs each reads, the facts it derives
//! from them, and what it remembers between probes of one target (the previous uptime, error
//! counters, the charge when the UPS went on battery) to see reboots, error rates and the
//! battery runway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::values::SnmpValue;

/// sysUpTime.0 (SNMPv2-MIB): hundredths of a second since the agent (re)started.
pub const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";
/// IF-MIB ifTable columns; the instance is the ifIndex.
pub const IF_DESCR: &str = "1.3.6.1.2.1.2.2.1.2";
pub const IF_OPER_STATUS: &str = "1.3.6.1.2.1.2.2.1.8";
pub const IF_IN_ERRORS: &str = "1.3.6.1.2.1.2.2.1.14";
pub const IF_OUT_ERRORS: &str = "1.3.6.1.2.1.2.2.1.20";
/// IF-MIB ifXTable ifName, tried after ifDescr when `if_name` is looked up.
pub const IF_NAME: &str = "1.3.6.1.2.1.31.1.1.1.1";
/// UPS-MIB (RFC 1628) scalars.
pub const UPS_OUTPUT_SOURCE: &str = "1.3.6.1.2.1.33.1.4.1.0";
pub const UPS_BATTERY_STATUS: &str = "1.3.6.1.2.1.33.1.2.1.0";
pub const UPS_MINUTES_REMAINING: &str = "1.3.6.1.2.1.33.1.2.3.0";
pub const UPS_CHARGE_REMAINING: &str = "1.3.6.1.2.1.33.1.2.4.0";

/// The default below which a UPS on battery warns (`runway_warn`).
pub const DEFAULT_RUNWAY_WARN: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preset {
    Uptime,
    /// ifOperStatus and error counters of one interface, by index or by name.
    Interface(IfSelect),
    Ups,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfSelect {
    Index(u32),
    Name(String),
}

impl Preset {
    pub const NAMES: [&'static str; 3] = ["uptime", "interface", "ups"];

    pub fn name(&self) -> &'static str {
        match self {
            Preset::Uptime => "uptime",
            Preset::Interface(_) => "interface",
            Preset::Ups => "ups",
        }
    }

    /// The OIDs the preset GETs once the interface index is known.
    pub fn oids(&self, if_index: Option<u32>) -> Vec<String> {
        match self {
            Preset::Uptime => vec![SYS_UPTIME.to_string()],
            Preset::Interface(_) => match if_index {
                Some(i) => [IF_DESCR, IF_OPER_STATUS, IF_IN_ERRORS, IF_OUT_ERRORS]
                    .iter()
                    .map(|c| format!("{c}.{i}"))
                    .collect(),
                None => Vec::new(),
            },
            Preset::Ups => [
                UPS_OUTPUT_SOURCE,
                UPS_BATTERY_STATUS,
                UPS_MINUTES_REMAINING,
                UPS_CHARGE_REMAINING,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }
}

/// What the uptime preset saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UptimeFacts {
    #[serde(with = "crate::probe::observation::secs")]
    pub uptime: Duration,
    /// Set when the uptime went back since the previous probe: the agent restarted this long
    /// ago (often the first sign of a power cut at the site).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::probe::observation::opt_secs"
    )]
    pub rebooted_ago: Option<Duration>,
    /// The event for people: "rebooted 3 min ago".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// What the interface preset saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterfaceFacts {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ifOperStatus: 1 up, 2 down, 3 testing, 5 dormant, 7 lowerLayerDown ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oper_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_errors: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_errors: Option<u64>,
    /// Errors per second since the previous probe (absent on the first probe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_errors_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_errors_rate: Option<f64>,
}

/// Where the site's power comes from, as the UPS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Power {
    /// Normal, bypass, booster or reducer: the grid feeds the load.
    Mains,
    Battery,
    /// No output (upsOutputSource none) or the battery is exhausted: the site goes dark.
    Off,
    Unknown,
}

impl Power {
    pub const WORDS: [&'static str; 4] = ["mains", "battery", "off", "unknown"];

    pub fn as_str(self) -> &'static str {
        match self {
            Power::Mains => "mains",
            Power::Battery => "battery",
            Power::Off => "off",
            Power::Unknown => "unknown",
        }
    }
}

/// What the ups preset saw, and the runway it forecasts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpsFacts {
    pub power: Power,
    /// upsOutputSource: 1 other, 2 none, 3 normal, 4 bypass, 5 battery, 6 booster, 7 reducer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_source: Option<i64>,
    /// upsBatteryStatus: 1 unknown, 2 normal, 3 low, 4 depleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes_remaining: Option<i64>,
    /// Percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge_remaining: Option<i64>,
    /// On battery: how long until the site goes dark.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::probe::observation::opt_secs"
    )]
    pub runway: Option<Duration>,
    /// `ups` (upsEstimatedMinutesRemaining), `charge_trend` (estimated from the charge lost
    /// since the UPS went on battery) or `push` (the minutes a heartbeat reported, less the
    /// time since).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runway_from: Option<&'static str>,
    /// For people and causes: "on battery, ~42 min left".
    pub summary: String,
}

/// What one target's previous probe left for the next.
#[derive(Debug, Clone, Default)]
struct Previous {
    at: Option<DateTime<Utc>>,
    uptime_ticks: Option<u64>,
    in_errors: Option<u64>,
    out_errors: Option<u64>,
    /// The charge and time of the first probe on battery, for the charge trend.
    on_battery_since: Option<(i64, DateTime<Utc>)>,
    /// The ifIndex found for `if_name`.
    if_index: Option<(String, u32)>,
}

/// The per-target memory of the snmp kind, held by the [`crate::probe::Prober`] (one per
/// process, shared by every run). Keyed by target id; an entry is a few numbers, so the map
/// is bounded by the number of snmp targets configured.
#[derive(Clone, Default)]
pub struct Memory(Arc<Mutex<HashMap<String, Previous>>>);

impl Memory {
    fn with<T>(&self, target: &str, f: impl FnOnce(&mut Previous) -> T) -> T {
        // A poisoned lock only means a panic elsewhere mid-update of plain numbers.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(target.to_string()).or_default())
    }

    /// The ifIndex remembered for interface `name`, if it was looked up before.
    pub fn if_index(&self, target: &str, name: &str) -> Option<u32> {
        self.with(target, |p| match &p.if_index {
            Some((n, i)) if n == name => Some(*i),
            _ => None,
        })
    }

    pub fn set_if_index(&self, target: &str, name: &str, index: u32) {
        self.with(target, |p| p.if_index = Some((name.to_string(), index)));
    }

    /// Forgets the remembered index (the agent no longer has it, e.g. after a reboot).
    pub fn forget_if_index(&self, target: &str) {
        self.with(target, |p| p.if_index = None);
    }
}

fn find<'v>(values: &'v [SnmpValue], oid: &str) -> Option<&'v SnmpValue> {
    values.iter().find(|v| v.oid == oid)
}

fn int(values: &[SnmpValue], oid: &str) -> Option<i64> {
    find(values, oid)
        .and_then(SnmpValue::number)
        .map(|n| n as i64)
}

fn unsigned(values: &[SnmpValue], oid: &str) -> Option<u64> {
    find(values, oid)
        .and_then(SnmpValue::number)
        .filter(|n| *n >= 0.0)
        .map(|n| n as u64)
}

/// "3 min" / "2 h 5 min" / "40 s": how long, for people.
pub fn fmt_minutes(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", (s + 30) / 60)
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
}

/// The facts the presets derive from one probe's values, updating the target's memory.
pub struct Derived {
    pub uptime: Option<UptimeFacts>,
    pub interface: Option<InterfaceFacts>,
    pub ups: Option<UpsFacts>,
}

/// Counter32 values wrap at 2^32. A smaller value than before is a wrap only when the previous
/// one was in the counter's upper half; otherwise the counter was reset (a reboot, often a
/// power cut's first sign) and there is no rate to give: reading a reset as a wrap would show
/// millions of errors a second after every restart.
fn counter_delta(prev: u64, now: u64) -> Option<u64> {
    if now >= prev {
        Some(now - prev)
    } else if (1u64 << 31..1u64 << 32).contains(&prev) {
        Some((now + (1u64 << 32)).saturating_sub(prev))
    } else {
        None
    }
}

pub fn derive(
    preset: &Preset,
    if_index: Option<u32>,
    values: &[SnmpValue],
    at: DateTime<Utc>,
    target: &str,
    memory: &Memory,
) -> Derived {
    memory.with(target, |prev| {
        let elapsed = prev
            .at
            .and_then(|p| (at - p).to_std().ok())
            .filter(|d| !d.is_zero());
        let mut out = Derived {
            uptime: None,
            interface: None,
            ups: None,
        };
        match preset {
            Preset::Uptime => {
                if let Some(ticks) = unsigned(values, SYS_UPTIME) {
                    out.uptime = Some(uptime(prev.uptime_ticks, ticks, elapsed));
                    prev.uptime_ticks = Some(ticks);
                }
            }
            Preset::Interface(sel) => {
                if let Some(index) = if_index {
                    let col = |c: &str| format!("{c}.{index}");
                    let in_errors = unsigned(values, &col(IF_IN_ERRORS));
                    let out_errors = unsigned(values, &col(IF_OUT_ERRORS));
                    let rate = |p: Option<u64>, n: Option<u64>| match (p, n, elapsed) {
                        (Some(p), Some(n), Some(dt)) => {
                            counter_delta(p, n).map(|d| d as f64 / dt.as_secs_f64())
                        }
                        _ => None,
                    };
                    let name = match sel {
                        IfSelect::Name(n) => Some(n.clone()),
                        IfSelect::Index(_) => {
                            find(values, &col(IF_DESCR)).and_then(SnmpValue::text)
                        }
                    };
                    out.interface = Some(InterfaceFacts {
                        index,
                        name,
                        oper_status: int(values, &col(IF_OPER_STATUS)),
                        in_errors,
                        out_errors,
                        in_errors_rate: rate(prev.in_errors, in_errors),
                        out_errors_rate: rate(prev.out_errors, out_errors),
                    });
                    prev.in_errors = in_errors;
                    prev.out_errors = out_errors;
                }
            }
            Preset::Ups => out.ups = Some(ups(values, at, &mut prev.on_battery_since)),
        }
        prev.at = Some(at);
        out
    })
}

/// The longest runway reported: a week, far past any battery.
const MAX_RUNWAY_MINUTES: i64 = 7 * 24 * 60;

/// sysUpTime is in hundredths of a second and wraps after about 497 days.
const TICKS_WRAP: u64 = 1 << 32;

fn uptime(prev: Option<u64>, ticks: u64, elapsed: Option<Duration>) -> UptimeFacts {
    // TimeTicks are 32 bits; an agent sending a larger type here cannot overflow the sum.
    let uptime = Duration::from_millis(ticks.saturating_mul(10));
    let rebooted = match prev {
        Some(p) if ticks < p => {
            // A wrap, not a restart, when the previous value plus the time since is past the
            // wrap point and the new value is where that lands.
            let expected = p.saturating_add(elapsed.map_or(0, |e| (e.as_millis() / 10) as u64));
            let wrapped = expected >= TICKS_WRAP && ticks <= expected - TICKS_WRAP + 6000;
            !wrapped
        }
        _ => false,
    };
    let rebooted_ago = rebooted.then_some(uptime);
    UptimeFacts {
        uptime,
        rebooted_ago,
        event: rebooted_ago.map(|d| format!("rebooted {} ago", fmt_minutes(d))),
    }
}

fn ups(
    values: &[SnmpValue],
    at: DateTime<Utc>,
    since: &mut Option<(i64, DateTime<Utc>)>,
) -> UpsFacts {
    let output_source = int(values, UPS_OUTPUT_SOURCE);
    let battery_status = int(values, UPS_BATTERY_STATUS);
    let minutes_remaining = int(values, UPS_MINUTES_REMAINING);
    let charge_remaining = int(values, UPS_CHARGE_REMAINING);
    let on_battery = output_source == Some(5);
    let mut runway = None;
    let mut runway_from = None;
    if on_battery {
        if let Some(m) = minutes_remaining.filter(|m| *m >= 0) {
            // Values come from the agent: a week is far past any battery, and keeps the
            // arithmetic bounded.
            runway = Some(Duration::from_secs(m.min(MAX_RUNWAY_MINUTES) as u64 * 60));
            runway_from = Some("ups");
        } else if let Some(c) = charge_remaining {
            // The trend from the first probe on battery: a few percent over several probes
            // says more than the one-percent steps between two probes.
            match *since {
                Some((c0, t0)) if c < c0 => {
                    let dt = (at - t0).to_std().unwrap_or_default().as_secs_f64();
                    // Charge is a percentage; an agent's nonsense is clamped, not trusted.
                    let (c0, c) = (c0.clamp(0, 100), c.clamp(0, 100));
                    let per_sec = (c0 - c) as f64 / dt.max(1.0);
                    runway = (per_sec > 0.0)
                        .then(|| {
                            Duration::try_from_secs_f64(c as f64 / per_sec)
                                .ok()
                                .map(|d| d.min(Duration::from_secs(MAX_RUNWAY_MINUTES as u64 * 60)))
                        })
                        .flatten();
                    runway_from = Some("charge_trend");
                }
                Some(_) => {}
                None => *since = Some((c, at)),
            }
        }
    } else {
        *since = None;
    }
    let exhausted = on_battery
        && (battery_status == Some(4)
            || runway.is_some_and(|r| r.is_zero())
            || charge_remaining == Some(0));
    let power = match output_source {
        _ if exhausted => Power::Off,
        Some(5) => Power::Battery,
        Some(2) => Power::Off,
        Some(3 | 4 | 6 | 7) => Power::Mains,
        _ => Power::Unknown,
    };
    UpsFacts {
        summary: summary(power, on_battery, runway),
        power,
        output_source,
        battery_status,
        minutes_remaining,
        charge_remaining,
        runway,
        runway_from,
    }
}

/// The cause officers read: "on battery, ~42 min left", "battery exhausted".
fn summary(power: Power, on_battery: bool, runway: Option<Duration>) -> String {
    match power {
        Power::Battery => match runway {
            Some(r) => format!("on battery, ~{} min left", (r.as_secs() + 30) / 60),
            None => "on battery, runway not known yet".to_string(),
        },
        Power::Off if on_battery => "battery exhausted".to_string(),
        Power::Off => "no output power".to_string(),
        Power::Mains => "on mains".to_string(),
        Power::Unknown => "power source not reported".to_string(),
    }
}

impl UpsFacts {
    /// What a site reported itself in a heartbeat push (`{"on_battery": true,
    /// "battery_minutes": 42}`), `age` after the push: the minutes it reported, less the time
    /// since, are the runway. Reported 0 minutes on battery: exhausted.
    pub fn from_push(on_battery: bool, minutes: Option<u32>, age: Duration) -> UpsFacts {
        let reported = minutes.map(|m| Duration::from_secs(u64::from(m) * 60));
        let runway = if on_battery {
            reported.map(|r| r.saturating_sub(age))
        } else {
            None
        };
        let power = match (on_battery, minutes) {
            (false, _) => Power::Mains,
            (true, Some(0)) => Power::Off,
            (true, _) => Power::Battery,
        };
        UpsFacts {
            summary: summary(power, on_battery, runway),
            power,
            output_source: None,
            battery_status: None,
            minutes_remaining: minutes.map(i64::from),
            charge_remaining: None,
            runway,
            runway_from: runway.map(|_| "push"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::values::{SnmpData, SnmpType};
    use super::*;

    fn v(oid: &str, n: i64) -> SnmpValue {
        SnmpValue {
            oid: oid.into(),
            kind: SnmpType::Integer,
            value: SnmpData::Int(n),
        }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn uptime_going_back_is_a_reboot_and_a_wrap_is_not() {
        let ten_min = Some(Duration::from_secs(600));
        assert_eq!(uptime(None, 100, None).rebooted_ago, None);
        assert_eq!(uptime(Some(100), 60_100, ten_min).rebooted_ago, None);
        let r = uptime(Some(1_000_000), 18_000, ten_min);
        assert_eq!(r.rebooted_ago, Some(Duration::from_secs(180)));
        assert_eq!(r.event.as_deref(), Some("rebooted 3 min ago"));
        // Just below the wrap point, ten minutes later: past it, not a restart.
        let near = TICKS_WRAP - 100;
        assert_eq!(uptime(Some(near), 59_900, ten_min).rebooted_ago, None);
    }

    #[test]
    fn runway_from_the_ups_or_from_the_charge_trend() {
        let mut since = None;
        let on_battery = |m: Option<i64>, c: i64| {
            let mut vals = vec![v(UPS_OUTPUT_SOURCE, 5), v(UPS_BATTERY_STATUS, 2)];
            if let Some(m) = m {
                vals.push(v(UPS_MINUTES_REMAINING, m));
            }
            vals.push(v(UPS_CHARGE_REMAINING, c));
            vals
        };
        let f = ups(&on_battery(Some(42), 80), t0(), &mut since);
        assert_eq!((f.power, f.runway_from), (Power::Battery, Some("ups")));
        assert_eq!(f.summary, "on battery, ~42 min left");
        // No minutes reported: 90% at t0, 80% ten minutes later: 10% per 10 min, 80 min left.
        let mut since = None;
        let f = ups(&on_battery(None, 90), t0(), &mut since);
        assert_eq!(f.runway, None);
        assert_eq!(f.summary, "on battery, runway not known yet");
        let later = t0() + chrono::Duration::minutes(10);
        let f = ups(&on_battery(None, 80), later, &mut since);
        assert_eq!(f.runway, Some(Duration::from_secs(80 * 60)));
        assert_eq!(f.runway_from, Some("charge_trend"));
        // Depleted: off. Back on mains: the trend is forgotten.
        let mut vals = on_battery(Some(3), 2);
        vals[1] = v(UPS_BATTERY_STATUS, 4);
        assert_eq!(ups(&vals, later, &mut since).summary, "battery exhausted");
        let f = ups(&[v(UPS_OUTPUT_SOURCE, 3)], later, &mut since);
        assert_eq!((f.power, since), (Power::Mains, None));
    }

    #[test]
    fn nonsense_from_an_agent_bounds_the_runway_instead_of_panicking() {
        let mut since = None;
        let huge = vec![v(UPS_OUTPUT_SOURCE, 5), v(UPS_MINUTES_REMAINING, i64::MAX)];
        let f = ups(&huge, t0(), &mut since);
        assert_eq!(f.runway, Some(Duration::from_secs(7 * 24 * 3600)));
        // A charge far past 100 % falling slowly: clamped, and a bounded runway.
        let charge = |c| vec![v(UPS_OUTPUT_SOURCE, 5), v(UPS_CHARGE_REMAINING, c)];
        let mut since = None;
        ups(&charge(i64::MAX), t0(), &mut since);
        let f = ups(
            &charge(i64::MAX - 1),
            t0() + chrono::Duration::hours(1),
            &mut since,
        );
        assert!(
            f.runway
                .is_none_or(|r| r <= Duration::from_secs(7 * 24 * 3600)),
            "{:?}",
            f.runway
        );
        let up = uptime(Some(5), u64::MAX, None);
        assert!(up.uptime > Duration::ZERO);
    }

    #[test]
    fn error_rates_across_a_counter_wrap() {
        assert_eq!(counter_delta(10, 25), Some(15));
        assert_eq!(counter_delta(u64::from(u32::MAX) - 4, 5), Some(10));
        // A reset (the router restarted) gives no rate, not four billion errors.
        assert_eq!(counter_delta(1_000, 3), None);
        let m = Memory::default();
        let p = Preset::Interface(IfSelect::Index(3));
        let vals = |n| {
            vec![
                v("1.3.6.1.2.1.2.2.1.14.3", n),
                v("1.3.6.1.2.1.2.2.1.8.3", 1),
            ]
        };
        let first = derive(&p, Some(3), &vals(100), t0(), "x", &m);
        assert_eq!(first.interface.unwrap().in_errors_rate, None);
        let later = t0() + chrono::Duration::seconds(10);
        let second = derive(&p, Some(3), &vals(150), later, "x", &m)
            .interface
            .unwrap();
        assert_eq!(
            (second.in_errors_rate, second.oper_status),
            (Some(5.0), Some(1))
        );
    }
}
