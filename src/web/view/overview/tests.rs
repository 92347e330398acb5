//! Tests of the overview model: grouping, filters, search, sorting and pages.

use super::*;
use crate::state::TargetState;

pub(crate) fn board(spec: &[(&str, &str, &str, &str, State)]) -> Vec<TargetStatus> {
    let mut toml = String::new();
    for (i, (prov, commune, op, svc, _)) in spec.iter().enumerate() {
        toml.push_str(&format!(
                "[[targets]]\nid = \"t{i}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\nprovince = \"{prov}\"\ncommune = \"{commune}\"\noperator = \"{op}\"\nservice = \"{svc}\"\n\n"
            ));
    }
    let cfg = crate::config::Config::from_str_at(std::path::Path::new("t.toml"), &toml).unwrap();
    let now = crate::time::now_ms();
    cfg.targets
        .into_iter()
        .zip(spec)
        .map(|(t, s)| {
            let mut st = TargetState::new(now);
            st.state = s.4;
            TargetStatus {
                target: t,
                state: st,
                last: None,
            }
        })
        .collect()
}

fn q(pairs: &[(&str, &str)]) -> Filter {
    Filter::parse(
        &pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .unwrap()
}

fn sample() -> Vec<TargetStatus> {
    use State::*;
    board(&[
        ("Hà Tĩnh", "Cẩm Xuyên", "viettel", "mobile", Down),
        ("Hà Tĩnh", "Cẩm Xuyên", "vnpt", "mobile", Unreachable),
        ("Hà Tĩnh", "Kỳ Anh", "viettel", "mobile", Up),
        ("Hà Tĩnh", "Kỳ Anh", "vnpt", "mobile", Degraded),
        ("Hà Tĩnh", "Thành Sen", "viettel", "mobile", Up),
        ("Hà Tĩnh", "Thành Sen", "vnpost", "postal", Down),
        ("Nghệ An", "Vinh", "viettel", "mobile", Up),
    ])
}

#[test]
fn summary_counts_states_and_dark_communes() {
    let o = build(&sample(), q(&[]), crate::time::now_ms());
    assert_eq!(o.summary.targets, 7);
    assert_eq!(o.summary.states.get(State::Down), 2);
    assert_eq!(o.summary.communes, 4);
    assert_eq!(o.summary.communes_dark, 1);
    let o = build(
        &sample(),
        q(&[("province", "Nghệ An")]),
        crate::time::now_ms(),
    );
    assert_eq!(o.summary.targets, 1);
    assert_eq!(o.summary.communes_dark, 0);
    assert_eq!(o.provinces[0].province, "Hà Tĩnh", "worst province first");
}

#[test]
fn worst_first_then_by_name() {
    let o = build(&sample(), q(&[]), crate::time::now_ms());
    let names: Vec<&str> = o.communes.iter().map(|c| c.commune.as_str()).collect();
    assert_eq!(names, ["Cẩm Xuyên", "Thành Sen", "Kỳ Anh", "Vinh"]);
    assert!(o.communes[0].dark);
    let o = build(&sample(), q(&[("sort", "name")]), crate::time::now_ms());
    let names: Vec<&str> = o.communes.iter().map(|c| c.commune.as_str()).collect();
    assert_eq!(names, ["Cẩm Xuyên", "Kỳ Anh", "Thành Sen", "Vinh"]);
}

#[test]
fn filters_and_search_without_diacritics() {
    let o = build(&sample(), q(&[("q", "cam xuyen")]), crate::time::now_ms());
    assert_eq!(o.communes.len(), 1);
    assert_eq!(o.communes[0].commune, "Cẩm Xuyên");
    let o = build(
        &sample(),
        q(&[("operator", "vnpost")]),
        crate::time::now_ms(),
    );
    assert_eq!(o.columns, ["vnpost"]);
    assert_eq!(o.communes.len(), 1);
    let o = build(&sample(), q(&[("state", "problem")]), crate::time::now_ms());
    assert_eq!(o.communes.len(), 3);
    let o = build(
        &sample(),
        q(&[("state", "up"), ("cols", "service")]),
        crate::time::now_ms(),
    );
    assert_eq!(o.columns, ["mobile"]);
    assert_eq!(o.communes.len(), 3);
    assert!(Filter::parse(&[("state".to_string(), "x".to_string())].into()).is_err());
    assert!(Filter::parse(&[("page".to_string(), "0".to_string())].into()).is_err());
}

#[test]
fn pages_hold_per_page_communes() {
    let o = build(
        &sample(),
        q(&[("per_page", "3"), ("page", "2")]),
        crate::time::now_ms(),
    );
    assert_eq!(o.pages, 2);
    assert_eq!(o.matching_communes, 4);
    assert_eq!(o.communes.len(), 1);
    assert_eq!(o.communes[0].commune, "Vinh");
    // Cells line up with the columns.
    assert!(o.communes.iter().all(|c| c.cells.len() == o.columns.len()));
}
