//! The grouping bookkeeping on explicit times: no clock, no sockets.
use super::*;
use chrono::TimeZone;

fn config() -> Config {
    let mut toml = String::from(
        "[alerting]\ngroup_wait = \"30s\"\ngroup_interval = \"5m\"\nrepeat_interval = \"4h\"\n\n\
         [[receivers]]\nid = \"ops\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\n\
         [[routes]]\nreceiver = \"ops\"\n\n\
         [[targets]]\nid = \"ht-power-3\"\nname = \"Điện lực Kỳ Anh\"\nkind = \"tcp\"\n\
         address = \"127.0.0.1:9\"\noperator = \"evn\"\nprovince = \"Hà Tĩnh\"\ncommune = \"Kỳ Anh\"\n\n",
    );
    for (i, (op, commune)) in [
        ("viettel", "Kỳ Anh"),
        ("viettel", "Kỳ Lạc"),
        ("viettel", "Kỳ Sơn"),
        ("vnpt", "Kỳ Anh"),
        ("vnpt", "Kỳ Lạc"),
    ]
    .into_iter()
    .enumerate()
    {
        toml.push_str(&format!(
            "[[targets]]\nid = \"bts-{i}\"\nname = \"BTS {i}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n\
             operator = \"{op}\"\nprovince = \"Hà Tĩnh\"\ncommune = \"{commune}\"\n\
             depends_on = [\"ht-power-3\"]\n\n"
        ));
    }
    Config::from_str_at(std::path::Path::new("test.toml"), &toml).unwrap()
}

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + s, 0).single().unwrap()
}

fn firing(target: &str, s: i64) -> EventRow {
    EventRow {
        id: 1,
        target: target.into(),
        kind: "firing".into(),
        state: State::Down,
        at: at(s),
        started_at: Some(at(s)),
        cause: None,
        explained_by: None,
        drill_id: None,
    }
}

/// The first `n` children, UNREACHABLE because of the power zone.
fn children(cfg: &Config, n: usize) -> Vec<Explained> {
    cfg.targets
        .iter()
        .filter(|t| !t.depends_on.is_empty())
        .take(n)
        .map(|t| Explained {
            id: t.id.clone(),
            name: t.name.clone(),
            labels: target_labels(t),
        })
        .collect()
}

fn notifications(c: &GroupingCommit) -> Vec<Notification> {
    c.messages
        .iter()
        .map(|m| serde_json::from_str(&m.notification).unwrap())
        .collect()
}

#[test]
fn children_taken_down_after_the_parents_message_are_sent_as_one_update() {
    let cfg = config();
    let mut g = Grouping {
        groups: HashMap::new(),
    };
    let none = HashMap::new();
    g.apply(&cfg, &firing("ht-power-3", 0), None, &[], at(0));

    // The parent's message goes out after group_wait; its children are still counting
    // their own failures, so none is UNREACHABLE yet.
    let sent = notifications(&g.due(&cfg, at(30), &|_| Vec::new(), &[], &none));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, Kind::New);
    assert!(sent[0].targets[0].explained.is_empty());

    // Two children turn UNREACHABLE: nothing before group_interval...
    let two = |id: &str| {
        if id == "ht-power-3" {
            children(&cfg, 2)
        } else {
            Vec::new()
        }
    };
    assert!(g.due(&cfg, at(60), &two, &[], &none).messages.is_empty());
    // ...then the rest arrive too, and one update names all five, per commune and operator.
    let five = |id: &str| {
        if id == "ht-power-3" {
            children(&cfg, 5)
        } else {
            Vec::new()
        }
    };
    let sent = notifications(&g.due(&cfg, at(30 + 300), &five, &[], &none));
    assert_eq!(sent.len(), 1, "one update for the cause");
    let n = &sent[0];
    assert_eq!(n.kind, Kind::Update);
    assert_eq!(n.targets.len(), 1, "children never get lines of their own");
    assert_eq!(n.targets[0].id, "ht-power-3");
    assert_eq!(n.targets[0].explained.len(), 5);
    assert_eq!(n.targets[0].explains.len(), 5);
    let text = n.text();
    assert!(
        n.title().contains("kéo theo 5 mục tiêu ở 3 xã/phường"),
        "{}",
        n.title()
    );
    assert!(
        text.contains("kéo theo 5 mục tiêu ở 3 xã/phường (Viettel 3, VNPT/VinaPhone 2)"),
        "{text}"
    );

    // Nothing new: no more updates, only the reminder after repeat_interval.
    assert!(
        g.due(&cfg, at(30 + 600), &five, &[], &none)
            .messages
            .is_empty()
    );
    let sent = notifications(&g.due(&cfg, at(30 + 300 + 4 * 3600), &five, &[], &none));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, Kind::Repeat);
    assert_eq!(sent[0].targets[0].explained.len(), 5);
}

#[test]
fn children_taken_down_within_group_wait_are_in_the_first_message() {
    let cfg = config();
    let mut g = Grouping {
        groups: HashMap::new(),
    };
    let none = HashMap::new();
    g.apply(&cfg, &firing("ht-power-3", 0), None, &[], at(0));
    let five = |id: &str| {
        if id == "ht-power-3" {
            children(&cfg, 5)
        } else {
            Vec::new()
        }
    };
    assert!(g.due(&cfg, at(10), &five, &[], &none).messages.is_empty());
    let sent = notifications(&g.due(&cfg, at(30), &five, &[], &none));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].targets[0].explained.len(), 5);
    // Already named: no update follows.
    assert!(
        g.due(&cfg, at(30 + 300), &five, &[], &none)
            .messages
            .is_empty()
    );
}

#[test]
fn a_group_saved_before_the_children_were_tracked_sends_no_spurious_update() {
    let cfg = config();
    let mut g = Grouping {
        groups: HashMap::new(),
    };
    let none = HashMap::new();
    g.apply(&cfg, &firing("ht-power-3", 0), None, &[], at(0));
    let five = |id: &str| {
        if id == "ht-power-3" {
            children(&cfg, 5)
        } else {
            Vec::new()
        }
    };
    assert_eq!(g.due(&cfg, at(30), &five, &[], &none).messages.len(), 1);
    // Saved by an older commwatch: the field is missing.
    for group in g.groups.values_mut() {
        let mut v = serde_json::to_value(&*group).unwrap();
        v.as_object_mut().unwrap().remove("explained");
        *group = serde_json::from_value(v).unwrap();
        assert_eq!(group.explained, None);
    }
    assert!(
        g.due(&cfg, at(30 + 300), &five, &[], &none)
            .messages
            .is_empty()
    );
}

/// An alert event with its own store id, as the outbox hands them out.
fn event(id: i64, target: &str, kind: &str, s: i64) -> EventRow {
    EventRow {
        id,
        kind: kind.into(),
        state: match kind {
            "resolved" | "reconnected" => State::Up,
            _ => State::Down,
        },
        target: target.into(),
        ..firing(target, s)
    }
}

/// The idempotency keys of the messages a run of events sends, each applied at its own time,
/// looking for due messages every 30 s up to an hour past the last event.
fn keys(steps: &[EventRow]) -> Vec<String> {
    let cfg = config();
    let mut g = Grouping {
        groups: HashMap::new(),
    };
    let none = HashMap::new();
    let last = steps.iter().map(|e| e.at).max().unwrap();
    let mut out = Vec::new();
    let mut events = steps.iter().peekable();
    let mut now = at(0);
    while now <= last + chrono::Duration::hours(1) {
        while let Some(e) = events.next_if(|e| e.at <= now) {
            g.apply(&cfg, e, None, &[], now);
        }
        let commit = g.due(&cfg, now, &|_| Vec::new(), &[], &none);
        out.extend(commit.messages.into_iter().map(|m| m.idempotency_key));
        now += chrono::Duration::seconds(30);
    }
    out
}

#[test]
fn a_second_outage_of_a_dropped_group_never_reuses_an_earlier_key() {
    // Down, back, down again: the group is dropped after the resolved message, and the second
    // outage starts a new one. The outbox keeps delivered keys; a repeated key would be taken
    // for a message already sent and the second outage would page nobody.
    let steps = [
        event(1, "bts-0", "firing", 0),
        event(2, "bts-0", "resolved", 100),
        event(3, "bts-0", "firing", 1000),
        event(4, "bts-0", "resolved", 1100),
    ];
    let k = keys(&steps);
    assert_eq!(k.len(), 4, "{k:?}");
    let distinct: BTreeSet<&String> = k.iter().collect();
    assert_eq!(distinct.len(), 4, "a key came back: {k:?}");
}

#[test]
fn the_same_story_gives_the_same_keys_whenever_it_is_told() {
    // A grouping rebuilt from the same events (after a crash, before its commit) must name its
    // messages as before, so that the outbox recognises one it already holds.
    let steps = [
        event(7, "bts-0", "firing", 0),
        event(8, "bts-1", "firing", 10),
        event(9, "bts-0", "resolved", 600),
        event(10, "bts-1", "resolved", 700),
    ];
    let first = keys(&steps);
    assert!(!first.is_empty());
    assert_eq!(first, keys(&steps));
}

#[test]
fn each_isolation_of_the_monitor_is_its_own_message() {
    let steps = [
        event(20, "", "isolated", 0),
        event(21, "", "reconnected", 400),
        event(22, "", "isolated", 2000),
        event(23, "", "reconnected", 2400),
    ];
    let k = keys(&steps);
    assert_eq!(k.len(), 4, "{k:?}");
    let distinct: BTreeSet<&String> = k.iter().collect();
    assert_eq!(distinct.len(), 4, "a key came back: {k:?}");
}

#[test]
fn a_group_saved_before_keys_named_their_event_keeps_counting() {
    let cfg = config();
    let mut g = Grouping {
        groups: HashMap::new(),
    };
    let none = HashMap::new();
    g.apply(&cfg, &event(5, "bts-0", "firing", 0), None, &[], at(0));
    let first = g.due(&cfg, at(30), &|_| Vec::new(), &[], &none);
    assert!(first.messages[0].idempotency_key.ends_with("-e5-1"));
    for group in g.groups.values_mut() {
        let mut v = serde_json::to_value(&*group).unwrap();
        v.as_object_mut().unwrap().remove("opened_by");
        *group = serde_json::from_value(v).unwrap();
    }
    g.apply(&cfg, &event(6, "bts-0", "resolved", 60), None, &[], at(60));
    let next = g.due(&cfg, at(30 + 300), &|_| Vec::new(), &[], &none);
    // The old form: `cw-<group>-<seq>`.
    let key = &next.messages[0].idempotency_key;
    assert!(key.ends_with("-2") && key.split('-').count() == 3, "{key}");
}
