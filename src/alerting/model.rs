//! The notification model stored in the outbox, and its text in Vietnamese and English. Every
//! receiver renders from this one model, so all of them say the same thing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::alerting::Language;
use crate::state::State;

/// Firing while any target in the group is still failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

/// Why this message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The group's first message.
    New,
    /// Something changed since the last message.
    Update,
    /// Nothing changed, still firing: a reminder.
    Repeat,
}

/// A drill the notification belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillRef {
    pub id: String,
    pub name: String,
}

/// A target taken down by another one: UNREACHABLE because of it (directly or through a
/// dependant that is itself UNREACHABLE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explained {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// One target as a message describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTarget {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: State,
    pub status: Status,
    pub cause: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Targets that depend on this one and are UNREACHABLE because of it (their names).
    #[serde(default)]
    pub explains: Vec<String>,
    /// The same targets with their ids and labels, for counts per commune and operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explained: Vec<Explained>,
    /// Flapping started (true) or stopped (false) since the last message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flapping: Option<bool>,
    /// Who acknowledged the outage, if anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
}

/// One message to one receiver, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable id of the alert group (same across its messages).
    pub id: String,
    /// Unique per message; receivers deduplicate on it.
    pub idempotency_key: String,
    pub receiver: String,
    pub status: Status,
    pub kind: Kind,
    pub drill: Option<DrillRef>,
    /// The grouping labels and their values.
    pub group: BTreeMap<String, String>,
    pub targets: Vec<AlertTarget>,
    pub created_at: DateTime<Utc>,
    pub language: Language,
    /// Base URL of the status page, for links.
    pub external_url: Option<String>,
    /// The monitor itself lost (true) or regained (false) its own link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_isolated: Option<bool>,
    /// Targets or communes named before "and N more".
    pub max_listed: usize,
}

impl Notification {
    pub fn firing(&self) -> impl Iterator<Item = &AlertTarget> {
        self.targets.iter().filter(|t| t.status == Status::Firing)
    }

    pub fn resolved(&self) -> impl Iterator<Item = &AlertTarget> {
        self.targets.iter().filter(|t| t.status == Status::Resolved)
    }

    /// Distinct communes among firing targets, in name order.
    pub fn firing_communes(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .firing()
            .filter_map(|t| t.labels.get("commune").map(String::as_str))
            .filter(|c| !c.is_empty())
            .collect();
        set.into_iter().collect()
    }

    pub fn link(&self, path: &str) -> Option<String> {
        self.external_url.as_ref().map(|u| format!("{u}{path}"))
    }

    fn words(&self) -> &'static Words {
        match self.language {
            Language::Vi => &VI,
            Language::En => &EN,
        }
    }

    /// `[DIỄN TẬP] ` / `[DRILL] ` for drill traffic, so nobody mistakes it for the real thing.
    pub fn prefix(&self) -> &'static str {
        if self.drill.is_some() {
            self.words().drill
        } else {
            ""
        }
    }

    /// One line: what happened, to whom, where.
    pub fn title(&self) -> String {
        let w = self.words();
        let mut s = String::from(self.prefix());
        if self.kind == Kind::Repeat {
            s.push_str(w.reminder);
        }
        if let Some(isolated) = self.monitor_isolated {
            s.push_str(if isolated { w.isolated } else { w.reconnected });
            return s;
        }
        let who = self
            .group
            .get("operator")
            .filter(|o| !o.is_empty())
            .map(|o| operator_name(o))
            .unwrap_or(w.all_operators);
        let place = self.group.get("province").filter(|p| !p.is_empty());
        let firing: Vec<&AlertTarget> = self.firing().collect();
        if firing.is_empty() {
            s.push_str(&format!("✅ {who}: {}", w.restored));
        } else {
            let communes = self.firing_communes().len();
            let down = firing.iter().filter(|t| t.state != State::Degraded).count();
            let (n, unit) = if communes > 0 {
                (communes, w.communes)
            } else {
                (firing.len(), w.targets)
            };
            let what = if down == 0 { w.degraded } else { w.down };
            s.push_str(&format!("🔴 {who}: {n} {unit} {what}"));
        }
        if let Some(p) = place {
            s.push_str(&format!(" {} {p}", w.in_place));
        }
        // What the failing targets took down with them, which is often the bigger news.
        let mut taken = BTreeSet::new();
        let mut communes = BTreeSet::new();
        for e in firing.iter().flat_map(|t| &t.explained) {
            if taken.insert(e.id.as_str())
                && let Some(c) = e.labels.get("commune").filter(|c| !c.is_empty())
            {
                communes.insert(c.as_str());
            }
        }
        if !taken.is_empty() {
            s.push_str(&format!(
                ", {} {}",
                w.explains,
                self.count_words(taken.len(), communes.len())
            ));
        }
        s
    }

    /// "13 mục tiêu ở 9 xã/phường" / "13 targets in 9 communes" (no communes: targets only).
    fn count_words(&self, targets: usize, communes: usize) -> String {
        let w = self.words();
        if communes > 0 {
            format!(
                "{targets} {} {} {communes} {}",
                w.targets, w.in_communes, w.communes
            )
        } else {
            format!("{targets} {}", w.targets)
        }
    }

    /// "; kéo theo 13 mục tiêu ở 9 xã/phường (Viettel 5, VNPT/VinaPhone 8): A, B, … và 3 mục
    /// khác": how many targets in how many communes, per operator, then the first names.
    fn describe_explained(&self, t: &AlertTarget) -> String {
        let w = self.words();
        let communes: BTreeSet<&str> = t
            .explained
            .iter()
            .filter_map(|e| e.labels.get("commune").map(String::as_str))
            .filter(|c| !c.is_empty())
            .collect();
        let mut per_operator: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &t.explained {
            let op = e.labels.get("operator").map_or("", String::as_str);
            *per_operator.entry(op).or_default() += 1;
        }
        let mut s = format!(
            "; {} {}",
            w.explains,
            self.count_words(t.explained.len(), communes.len())
        );
        if per_operator.keys().any(|op| !op.is_empty()) {
            let ops: Vec<String> = per_operator
                .iter()
                .map(|(op, n)| {
                    let name = if op.is_empty() {
                        w.other_operator
                    } else {
                        operator_name(op)
                    };
                    format!("{name} {n}")
                })
                .collect();
            s.push_str(&format!(" ({})", ops.join(", ")));
        }
        let names: Vec<String> = t
            .explained
            .iter()
            .take(self.max_listed)
            .map(
                |e| match e.labels.get("commune").filter(|c| !c.is_empty()) {
                    Some(c) => format!("{c}: {}", e.name),
                    None => e.name.clone(),
                },
            )
            .collect();
        s.push_str(&format!(": {}", names.join(", ")));
        if t.explained.len() > self.max_listed {
            s.push_str(&format!(
                " … {} {} {}",
                w.and,
                t.explained.len() - self.max_listed,
                w.more
            ));
        }
        s
    }

    /// The message body as plain lines (receivers add their own markup).
    pub fn lines(&self) -> Vec<String> {
        let w = self.words();
        let mut out = Vec::new();
        let firing: Vec<&AlertTarget> = self.firing().collect();
        for t in firing.iter().take(self.max_listed) {
            out.push(self.describe(t));
        }
        if firing.len() > self.max_listed {
            out.push(format!(
                "… {} {} {}",
                w.and,
                firing.len() - self.max_listed,
                w.more
            ));
        }
        let resolved: Vec<&AlertTarget> = self.resolved().collect();
        if !resolved.is_empty() {
            out.push(format!("{}:", w.restored_header));
            for t in resolved.iter().take(self.max_listed) {
                out.push(self.describe(t));
            }
            if resolved.len() > self.max_listed {
                out.push(format!(
                    "… {} {} {}",
                    w.and,
                    resolved.len() - self.max_listed,
                    w.more
                ));
            }
        }
        if let Some(d) = &self.drill {
            out.push(format!("{}: {} ({})", w.drill_label, d.name, d.id));
        }
        out.push(format!(
            "{} {}",
            w.sent_at,
            crate::time::local_datetime(self.created_at)
        ));
        out
    }

    /// One target's line: commune, name, state, since when, why, who acknowledged.
    pub fn describe(&self, t: &AlertTarget) -> String {
        let w = self.words();
        let commune = t.labels.get("commune").filter(|c| !c.is_empty());
        let mut s = String::from("• ");
        if let Some(c) = commune {
            s.push_str(&format!("{c}: "));
        }
        s.push_str(&t.name);
        match t.status {
            Status::Firing => {
                s.push_str(&format!(
                    " — {} {} {}",
                    state_word(w, t.state),
                    w.since,
                    crate::time::local_short(t.started_at)
                ));
                if let Some(c) = &t.cause {
                    s.push_str(&format!(" ({c})"));
                }
            }
            Status::Resolved => {
                if let Some(end) = t.ended_at {
                    // Under a minute in seconds: "lasted 0 min" reads as "nothing happened".
                    let secs = (end - t.started_at).num_seconds().max(0);
                    let lasted = if secs < 60 {
                        format!("{secs} {}", w.seconds)
                    } else {
                        format!("{} {}", secs / 60, w.minutes)
                    };
                    s.push_str(&format!(
                        " — {} {} ({} {lasted})",
                        w.restored_at,
                        crate::time::local_short(end),
                        w.lasted,
                    ));
                }
            }
        }
        if let Some(f) = t.flapping {
            s.push_str(&format!(
                " [{}]",
                if f { w.flapping_start } else { w.flapping_stop }
            ));
        }
        if !t.explained.is_empty() {
            s.push_str(&self.describe_explained(t));
        } else if !t.explains.is_empty() {
            // A message written before the counts existed names the targets only.
            s.push_str(&format!(
                "; {} {}: {}",
                w.explains,
                t.explains.len(),
                t.explains.join(", ")
            ));
        }
        if let Some(by) = &t.acknowledged_by {
            s.push_str(&format!("; {} {by}", w.acknowledged_by));
        }
        s
    }

    /// Title and lines joined, for receivers that take plain text.
    pub fn text(&self) -> String {
        let mut s = self.title();
        for l in self.lines() {
            s.push('\n');
            s.push_str(&l);
        }
        s
    }
}

/// How operators are written in messages; unknown ids are shown as configured.
pub fn operator_name(id: &str) -> &str {
    match id {
        "viettel" => "Viettel",
        "vnpt" => "VNPT/VinaPhone",
        "vinaphone" => "VinaPhone",
        "mobifone" => "MobiFone",
        "vietnamobile" => "Vietnamobile",
        "gmobile" => "Gmobile",
        "fpt" => "FPT Telecom",
        "vnpost" => "VNPost",
        "viettelpost" | "viettel-post" => "Viettel Post",
        other => other,
    }
}

fn state_word(w: &Words, s: State) -> &'static str {
    match s {
        State::Down => w.state_down,
        State::Degraded => w.state_degraded,
        State::Unreachable => w.state_unreachable,
        _ => w.state_other,
    }
}

struct Words {
    drill: &'static str,
    drill_label: &'static str,
    reminder: &'static str,
    isolated: &'static str,
    reconnected: &'static str,
    all_operators: &'static str,
    restored: &'static str,
    communes: &'static str,
    targets: &'static str,
    down: &'static str,
    degraded: &'static str,
    in_place: &'static str,
    and: &'static str,
    more: &'static str,
    restored_header: &'static str,
    sent_at: &'static str,
    since: &'static str,
    restored_at: &'static str,
    lasted: &'static str,
    minutes: &'static str,
    seconds: &'static str,
    flapping_start: &'static str,
    flapping_stop: &'static str,
    explains: &'static str,
    in_communes: &'static str,
    other_operator: &'static str,
    acknowledged_by: &'static str,
    state_down: &'static str,
    state_degraded: &'static str,
    state_unreachable: &'static str,
    state_other: &'static str,
}

const VI: Words = Words {
    drill: "[DIỄN TẬP] ",
    drill_label: "Diễn tập",
    reminder: "Nhắc lại: ",
    isolated: "⚠️ Máy giám sát mất kết nối: mọi điểm neo đều không trả lời, kết quả tạm coi là chưa rõ",
    reconnected: "✅ Máy giám sát đã có kết nối trở lại",
    all_operators: "Tất cả nhà mạng",
    restored: "đã khôi phục liên lạc",
    communes: "xã/phường",
    targets: "mục tiêu",
    down: "mất liên lạc",
    degraded: "suy giảm chất lượng",
    in_place: "tại",
    and: "và",
    more: "mục khác",
    restored_header: "Đã khôi phục",
    sent_at: "Gửi lúc",
    since: "từ",
    restored_at: "khôi phục lúc",
    lasted: "kéo dài",
    minutes: "phút",
    seconds: "giây",
    flapping_start: "chập chờn",
    flapping_stop: "hết chập chờn",
    explains: "kéo theo",
    in_communes: "ở",
    other_operator: "khác",
    acknowledged_by: "đã tiếp nhận:",
    state_down: "mất liên lạc",
    state_degraded: "suy giảm",
    state_unreachable: "không tới được",
    state_other: "chưa rõ",
};

const EN: Words = Words {
    drill: "[DRILL] ",
    drill_label: "Drill",
    reminder: "Reminder: ",
    isolated: "⚠️ Monitor cut off: no anchor answers, results are treated as unknown",
    reconnected: "✅ Monitor connectivity restored",
    all_operators: "All operators",
    restored: "service restored",
    communes: "communes",
    targets: "targets",
    down: "down",
    degraded: "degraded",
    in_place: "in",
    and: "and",
    more: "more",
    restored_header: "Restored",
    sent_at: "Sent at",
    since: "since",
    restored_at: "restored at",
    lasted: "lasted",
    minutes: "min",
    seconds: "s",
    flapping_start: "flapping",
    flapping_stop: "no longer flapping",
    explains: "takes down",
    in_communes: "in",
    other_operator: "other",
    acknowledged_by: "acknowledged by",
    state_down: "down",
    state_degraded: "degraded",
    state_unreachable: "unreachable",
    state_other: "unknown",
};

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn restored(secs: i64, language: Language) -> String {
        let start = Utc.with_ymd_and_hms(2026, 9, 7, 6, 5, 0).single().unwrap();
        let t = AlertTarget {
            id: "ht-son-giang-fpt".into(),
            name: "FPT — Sơn Giang".into(),
            labels: BTreeMap::new(),
            state: State::Up,
            status: Status::Resolved,
            cause: None,
            started_at: start,
            ended_at: Some(start + chrono::Duration::seconds(secs)),
            explains: Vec::new(),
            explained: Vec::new(),
            flapping: None,
            acknowledged_by: None,
        };
        let n = Notification {
            id: "cw-1".into(),
            idempotency_key: "cw-1-1".into(),
            receiver: "ops".into(),
            status: Status::Resolved,
            kind: Kind::Update,
            drill: None,
            group: BTreeMap::new(),
            targets: vec![t.clone()],
            created_at: start,
            language,
            external_url: None,
            monitor_isolated: None,
            max_listed: 20,
        };
        n.describe(&t)
    }

    #[test]
    fn a_short_outage_says_how_many_seconds_it_lasted() {
        assert!(restored(20, Language::Vi).ends_with("(kéo dài 20 giây)"));
        assert!(restored(20, Language::En).ends_with("(lasted 20 s)"));
        assert!(restored(95 * 60 + 30, Language::Vi).ends_with("(kéo dài 95 phút)"));
        assert!(restored(60, Language::En).ends_with("(lasted 1 min)"));
    }
}
