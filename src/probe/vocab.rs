//! The vocabulary checks use for what probes report: numeric [`Metric`]s (`status`, `loss`,
//! `rtt_p50` ...), the other subjects ([`TextFact`]: `body`, `rcode` ...) and [`StatusExpect`].
//! Each kind's file lists the ones it reports, so which check applies to which kind is data the
//! compiler sees, not a list of kind names.

use std::time::Duration;

use super::keys::Key;
use super::observation::Observation;
use crate::time::fmt_secs;

/// What status codes count as healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusExpect {
    /// Any 2xx: the default when a target names no list.
    Success,
    OneOf(Vec<u16>),
}

/// A numeric fact and how its values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Status,
    Sent,
    Received,
    BodyBytes,
    CertDays,
    Loss,
    RttMin,
    RttAvg,
    RttP50,
    RttMax,
    Jitter,
    Latency,
    Dns,
    Connect,
    Tls,
    FirstByte,
    Transfer,
    PushAge,
    Uptime,
    RebootedAgo,
    IfOperStatus,
    IfInErrorsRate,
    IfOutErrorsRate,
    BatteryCharge,
    Runway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Ratio,
    Duration,
}

impl Metric {
    /// Every name a check may use, aliases included (`rtt_median` is `rtt_p50`).
    pub const ALL: [(&'static str, Metric); 26] = [
        ("status", Metric::Status),
        ("sent", Metric::Sent),
        ("received", Metric::Received),
        ("body_bytes", Metric::BodyBytes),
        ("cert_days", Metric::CertDays),
        ("loss", Metric::Loss),
        ("rtt_min", Metric::RttMin),
        ("rtt_avg", Metric::RttAvg),
        ("rtt_p50", Metric::RttP50),
        ("rtt_median", Metric::RttP50),
        ("rtt_max", Metric::RttMax),
        ("jitter", Metric::Jitter),
        ("latency", Metric::Latency),
        ("dns", Metric::Dns),
        ("connect", Metric::Connect),
        ("tls", Metric::Tls),
        ("first_byte", Metric::FirstByte),
        ("transfer", Metric::Transfer),
        ("push_age", Metric::PushAge),
        ("uptime", Metric::Uptime),
        ("rebooted_ago", Metric::RebootedAgo),
        ("if_oper_status", Metric::IfOperStatus),
        ("if_in_errors_rate", Metric::IfInErrorsRate),
        ("if_out_errors_rate", Metric::IfOutErrorsRate),
        ("battery_charge", Metric::BatteryCharge),
        ("runway", Metric::Runway),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::Status
            | Metric::Sent
            | Metric::Received
            | Metric::BodyBytes
            | Metric::CertDays
            | Metric::IfOperStatus
            | Metric::IfInErrorsRate
            | Metric::IfOutErrorsRate
            | Metric::BatteryCharge => Unit::Count,
            Metric::Loss => Unit::Ratio,
            _ => Unit::Duration,
        }
    }

    /// The observed value: a count, a ratio, or seconds.
    pub fn value(self, obs: &Observation) -> Option<f64> {
        let f = &obs.facts;
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let icmp = f.icmp.as_ref();
        let snmp = f.snmp.as_ref();
        let ups = f.power();
        let iface = snmp.and_then(|s| s.interface.as_ref());
        match self {
            Metric::Status => f
                .http_status
                .or_else(|| f.sip.as_ref().map(|s| s.status))
                .map(f64::from),
            Metric::Sent => icmp.map(|i| f64::from(i.sent)),
            Metric::Received => icmp.map(|i| f64::from(i.received)),
            Metric::BodyBytes => f.body_bytes.map(|b| b as f64),
            Metric::CertDays => f.tls.as_ref().map(|t| t.days_left as f64),
            Metric::Loss => icmp.map(|i| i.loss),
            Metric::RttMin => secs(icmp.and_then(|i| i.rtt_min)),
            Metric::RttAvg => secs(icmp.and_then(|i| i.rtt_avg)),
            Metric::RttP50 => secs(icmp.and_then(|i| i.rtt_median)),
            Metric::RttMax => secs(icmp.and_then(|i| i.rtt_max)),
            Metric::Jitter => secs(icmp.and_then(|i| i.jitter)),
            Metric::Latency => Some(obs.duration.as_secs_f64()),
            Metric::Dns => secs(obs.phases.dns),
            Metric::Connect => secs(obs.phases.connect),
            Metric::Tls => secs(obs.phases.tls),
            Metric::FirstByte => secs(obs.phases.first_byte),
            Metric::Transfer => secs(obs.phases.transfer),
            Metric::PushAge => f.heartbeat.as_ref().map(|h| h.age.as_secs_f64()),
            Metric::Uptime => secs(snmp.and_then(|s| s.uptime.as_ref()).map(|u| u.uptime)),
            Metric::RebootedAgo => secs(
                snmp.and_then(|s| s.uptime.as_ref())
                    .and_then(|u| u.rebooted_ago),
            ),
            Metric::IfOperStatus => iface.and_then(|i| i.oper_status).map(|s| s as f64),
            Metric::IfInErrorsRate => iface.and_then(|i| i.in_errors_rate),
            Metric::IfOutErrorsRate => iface.and_then(|i| i.out_errors_rate),
            Metric::BatteryCharge => ups.and_then(|u| u.charge_remaining).map(|c| c as f64),
            // Only on battery: on mains there is no runway to hold a check to.
            Metric::Runway => secs(ups.and_then(|u| u.runway)),
        }
    }

    pub fn show(self, v: f64) -> String {
        match self.unit() {
            Unit::Count => format!("{v}"),
            Unit::Ratio => format!("{v:.2}"),
            Unit::Duration => fmt_secs(v),
        }
    }
}

/// What a check may compare as text or as words rather than as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFact {
    /// The HTTP response body.
    Body,
    /// What a TCP service said.
    Reply,
    /// One HTTP response header.
    Header,
    /// A value in a JSON body, by pointer.
    Json,
    /// The DNS response code.
    Rcode,
    /// The status of the last heartbeat push.
    PushStatus,
    /// The DNS answers.
    Answers,
    /// A portal's integrity verdict (`ok`, `learning`, `compromised`).
    Integrity,
    /// The names of a portal's signals, space-separated.
    Signals,
    /// One SNMP value, by OID.
    Oid,
    /// Where a UPS's output comes from (mains, battery, off).
    Power,
}

/// What one kind tells the config and check layers about itself; each kind's file holds its
/// own, so the lists of which key and which check applies to which kind are written once, per
/// kind, where the compiler sees them.
#[derive(Debug)]
pub struct KindVocab {
    /// The name as written in the config and shown in metrics, the API and the page.
    pub name: &'static str,
    /// The kind-specific keys a target of this kind may set.
    pub keys: &'static [Key],
    /// The numeric facts it reports, which checks may read.
    pub metrics: &'static [Metric],
    /// The facts it reports that checks compare as text or words.
    pub texts: &'static [TextFact],
}
