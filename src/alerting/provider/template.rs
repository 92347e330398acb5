//! A notification as template fields (see `config::alerting::template`), and the `text` fitted
//! into an SMS-sized character limit with a marker saying how many targets were left out.

use super::super::model::{AlertTarget, Notification, Status};
use crate::config::alerting::Language;
use crate::config::alerting::template::{Fields, LABELS, TargetFields};

fn label(labels: &std::collections::BTreeMap<String, String>, k: &str) -> String {
    labels.get(k).cloned().unwrap_or_default()
}

fn target(n: &Notification, t: &AlertTarget) -> TargetFields {
    TargetFields {
        id: t.id.clone(),
        name: t.name.clone(),
        state: t.state.as_str().to_string(),
        status: status(t.status).into(),
        cause: t.cause.clone().unwrap_or_default(),
        operator: label(&t.labels, "operator"),
        service: label(&t.labels, "service"),
        province: label(&t.labels, "province"),
        commune: label(&t.labels, "commune"),
        severity: label(&t.labels, "severity"),
        kind: label(&t.labels, "kind"),
        started_at: t.started_at.to_rfc3339(),
        ended_at: t.ended_at.map(|e| e.to_rfc3339()).unwrap_or_default(),
        acknowledged_by: t.acknowledged_by.clone().unwrap_or_default(),
        link: n.link(&format!("/targets/{}", t.id)).unwrap_or_default(),
    }
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Firing => "firing",
        Status::Resolved => "resolved",
    }
}

/// The fields of `n`; `text` fitted into `max_chars` when set.
pub fn fields(n: &Notification, max_chars: Option<usize>) -> Fields {
    let mut group: std::collections::BTreeMap<String, String> = LABELS
        .iter()
        .map(|k| (k.to_string(), String::new()))
        .collect();
    group.extend(n.group.iter().map(|(k, v)| (k.clone(), v.clone())));
    Fields {
        id: n.id.clone(),
        idempotency_key: n.idempotency_key.clone(),
        receiver: n.receiver.clone(),
        status: status(n.status).into(),
        kind: serde_json::to_value(n.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        language: match n.language {
            Language::Vi => "vi",
            Language::En => "en",
        }
        .into(),
        title: n.title(),
        text: match max_chars {
            Some(max) => fit(n, max),
            None => n.text(),
        },
        drill: n.drill.is_some(),
        drill_id: n.drill.as_ref().map(|d| d.id.clone()).unwrap_or_default(),
        drill_name: n.drill.as_ref().map(|d| d.name.clone()).unwrap_or_default(),
        group,
        firing: n.firing().count(),
        resolved: n.resolved().count(),
        communes: n.firing_communes().into_iter().map(String::from).collect(),
        targets: n.targets.iter().map(|t| target(n, t)).collect(),
        link: n.link("/").unwrap_or_default(),
        created_at: n.created_at.to_rfc3339(),
        created_local: crate::time::local_datetime(n.created_at),
    }
}

/// "… (+3 trạm)": what says that targets were left out of a shortened message.
fn marker(n: &Notification, left_out: usize) -> String {
    match n.language {
        Language::Vi => format!("… (+{left_out} trạm)"),
        Language::En => format!("… (+{left_out} more)"),
    }
}

/// The title, then as many whole target lines as fit in `max` characters (not bytes: an SMS
/// counts characters, and Vietnamese takes two or three bytes for many of them), then the
/// marker with the number of targets not named. A title longer than the limit is cut.
pub fn fit(n: &Notification, max: usize) -> String {
    let full = n.text();
    if full.chars().count() <= max {
        return full;
    }
    let title = n.title();
    let targets: Vec<String> = n
        .firing()
        .chain(n.resolved())
        .map(|t| n.describe(t))
        .collect();
    // What ends the text: the marker when targets are left out, "…" when only the footer
    // (drill name, time) is.
    let tail = |left: usize| {
        if left > 0 {
            format!("\n{}", marker(n, left))
        } else {
            "\n…".to_string()
        }
    };
    let mut out = title.clone();
    let mut named = 0;
    for line in &targets {
        let after = out.chars().count() + 1 + line.chars().count();
        if after + tail(targets.len() - named - 1).chars().count() > max {
            break;
        }
        out.push('\n');
        out.push_str(line);
        named += 1;
    }
    let tail = tail(targets.len() - named);
    let room = max.saturating_sub(tail.chars().count());
    if out.chars().count() > room {
        // Not even the title fits with the marker: cut it.
        out = title.chars().take(room).collect();
    }
    out.push_str(&tail);
    out
}

#[cfg(test)]
mod tests {
    // Tests unwrap: a panic is how a test reports a failure.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::alerting::model::Kind;
    use crate::state::State;

    fn storm(targets: usize) -> Notification {
        let at = Utc.with_ymd_and_hms(2026, 9, 7, 6, 5, 0).single().unwrap();
        let targets = (0..targets)
            .map(|i| AlertTarget {
                id: format!("t{i}"),
                name: format!("Trạm BTS Viettel số {i}"),
                labels: [("commune".to_string(), format!("Xã {i}"))].into(),
                state: State::Down,
                status: Status::Firing,
                cause: Some("connect: connection refused".into()),
                started_at: at,
                ended_at: None,
                explains: Vec::new(),
                explained: Vec::new(),
                flapping: None,
                acknowledged_by: None,
            })
            .collect();
        Notification {
            id: "cw-1".into(),
            idempotency_key: "cw-1-1".into(),
            receiver: "sms".into(),
            status: Status::Firing,
            kind: Kind::New,
            drill: None,
            group: [("operator".to_string(), "viettel".to_string())].into(),
            targets,
            created_at: at,
            language: Language::Vi,
            external_url: None,
            monitor_isolated: None,
            max_listed: 20,
        }
    }

    #[test]
    fn fitted_text_never_passes_the_limit_and_counts_what_it_left_out() {
        let n = storm(9);
        for max in 20..=400 {
            let s = fit(&n, max);
            assert!(s.chars().count() <= max, "{max}: {s}");
            let named = s.lines().filter(|l| l.starts_with("• ")).count();
            if named < 9 {
                assert!(
                    s.ends_with(&format!("… (+{} trạm)", 9 - named)),
                    "{max}: {s}"
                );
            }
        }
        // A short message is left alone.
        let one = storm(1);
        assert_eq!(fit(&one, 1_600), one.text());
        let f = fields(&storm(3), Some(60));
        assert!(f.text.chars().count() <= 60, "{}", f.text);
        assert_eq!(
            f.group["commune"], "",
            "every label is present, empty when not grouped"
        );
    }
}
