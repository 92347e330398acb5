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
