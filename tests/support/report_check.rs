//! Checks that a drill report's HTML, CSV and JSON forms say the same numbers (shared by the
//! drill report tests).

use commwatch::web::page::i18n::Lang;
use serde_json::Value;

/// Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF), after the byte-order mark.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let text = text
        .strip_prefix('\u{feff}')
        .expect("CSV starts with a BOM");
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(!quoted, "unterminated quote");
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

/// One CSV section: title, header, rows.
pub type Section = (String, Vec<String>, Vec<Vec<String>>);

/// The sections of the CSV, in order.
pub fn sections(rows: &[Vec<String>]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let r = &rows[i];
        if r.len() == 1 && r[0].is_empty() {
            i += 1;
            continue;
        }
        let title = r[0]
            .strip_prefix("# ")
            .expect("a section starts with its title");
        let header = rows[i + 1].clone();
        let mut body = Vec::new();
        i += 2;
        while i < rows.len() && !(rows[i].len() == 1 && rows[i][0].is_empty()) {
            assert_eq!(
                rows[i].len(),
                header.len(),
                "ragged row in {title}: {:?}",
                rows[i]
            );
            body.push(rows[i].clone());
            i += 1;
        }
        out.push((title.to_string(), header, body));
    }
    out
}

/// One section's rows as maps from column name to value.
pub fn table(secs: &[Section], index: usize) -> Vec<std::collections::HashMap<String, String>> {
    let (_, header, rows) = &secs[index];
    rows.iter()
        .map(|r| header.iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

/// HTML text escaping as the pages do it.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct3(v: &Value) -> String {
    v.as_f64()
        .map(|r| format!("{:.3}", r * 100.0))
        .unwrap_or_default()
}

fn ratio(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// The HTML of one table row, found by an attribute (`data-target-row="a1"`).
fn row<'a>(html: &'a str, attr: &str) -> &'a str {
    let at = html
        .find(attr)
        .unwrap_or_else(|| panic!("{attr} not in the page"));
    let end = html[at..].find("</tr>").expect("row ends") + at;
    &html[at..end]
}

/// Asserts that `html` (in `lang`) and `csv` show the numbers of `json`; returns how many
/// values were compared.
pub fn assert_agree(html: &str, csv: &str, json: &Value, lang: Lang) -> usize {
    let mut checked = 0;
    let secs = sections(&parse_csv(csv));
    assert_eq!(
        secs.len(),
        7,
        "CSV sections: {:?}",
        secs.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    for (i, title) in lang.d().csv_sections.iter().enumerate() {
        assert_eq!(&secs[i].0, title);
    }

    // Summary.
    let summary: std::collections::HashMap<String, String> = secs[0]
        .2
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let s = &json["summary"];
    assert_eq!(
        summary["availability_percent"],
        pct3(&s["drill"]["availability"])
    );
    assert_eq!(
        summary["downtime_minutes"],
        format!(
            "{:.2}",
            s["drill"]["downtime_seconds"].as_f64().unwrap() / 60.0
        )
    );
    assert_eq!(summary["outages"], s["drill"]["outages"].to_string());
    assert_eq!(summary["targets"], s["targets"].to_string());
    assert_eq!(summary["drill_id"], json["drill"]["id"].to_string());
    let overall = lang.percent(ratio(&s["drill"]["availability"]));
    assert!(
        html.contains(&format!(
            "<strong data-value=\"availability\">{overall}</strong>"
        )),
        "overall availability {overall} not on the page"
    );
    checked += 5;

    // Targets.
    let targets = table(&secs, 2);
    let list = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), list.len());
    for (t, c) in list.iter().zip(&targets) {
        let id = t["id"].as_str().unwrap();
        assert_eq!(c["target"].trim_start_matches('\''), id);
        assert_eq!(
            c["name"].trim_start_matches('\''),
            t["name"].as_str().unwrap()
        );
        assert_eq!(
            c["availability_percent"],
            pct3(&t["drill"]["availability"]),
            "{id}"
        );
        assert_eq!(
            c["baseline_availability_percent"],
            pct3(&t["baseline"]["availability"]),
            "{id}"
        );
        let down = t["drill"]["downtime_seconds"].as_f64().unwrap();
        assert_eq!(c["downtime_minutes"], format!("{:.2}", down / 60.0), "{id}");
        assert_eq!(c["outages"], t["drill"]["outages"].to_string(), "{id}");
        assert_eq!(c["samples"], t["drill"]["samples"].to_string(), "{id}");
        let r = row(html, &format!("data-target-row=\"{}\"", esc(id)));
        let a = lang.percent(ratio(&t["drill"]["availability"]));
        assert!(
            r.contains(&format!("<span class=\"pct\">{a}</span>")),
            "{id}: {a} not in {r}"
        );
        let b = lang.percent(ratio(&t["baseline"]["availability"]));
        assert!(
            r.contains(&format!("<td class=\"num\">{b}</td>")),
            "{id}: {b} not in {r}"
        );
        let m = lang.number(down / 60.0, 1);
        assert!(
            r.contains(&format!("<td class=\"num\">{m}</td>")),
            "{id}: {m} not in {r}"
        );
        assert!(r.contains(&format!("<td class=\"num\">{}</td>", t["drill"]["outages"])));
        checked += 10;
    }

    // Groups: operator, service, commune in one CSV table.
    let groups = table(&secs, 1);
    let mut k = 0;
    for (by, field) in [
        ("operator", "by_operator"),
        ("service", "by_service"),
        ("commune", "by_commune"),
    ] {
        for g in json[field].as_array().unwrap() {
            let c = &groups[k];
            k += 1;
            assert_eq!(c["group_by"], by);
            let key = g["key"].as_str().unwrap();
            assert_eq!(c["key"].trim_start_matches('\''), key);
            assert_eq!(c["availability_percent"], pct3(&g["drill"]["availability"]));
            assert_eq!(c["targets"], g["targets"].to_string());
            if by == "operator" {
                let r = row(html, &format!("data-group=\"{}\"", esc(key)));
                let a = lang.percent(ratio(&g["drill"]["availability"]));
                assert!(
                    r.contains(&format!("<span class=\"pct\">{a}</span>")),
                    "{key}: {a}"
                );
            }
            checked += 3;
        }
    }
    assert_eq!(k, groups.len());

    // Outages and their alerts.
    let outages = table(&secs, 3);
    let list = json["outages"].as_array().unwrap();
    assert_eq!(outages.len(), list.len());
    for (o, c) in list.iter().zip(&outages) {
        assert_eq!(c["incident_id"], o["incident_id"].to_string());
        assert_eq!(
            c["detection_seconds"],
            format!("{:.1}", o["detection_seconds"].as_f64().unwrap())
        );
        assert_eq!(c["worst_state"], o["worst_state"].as_str().unwrap());
        assert!(html.contains(&format!("data-incident=\"{}\"", o["incident_id"])));
        checked += 3;
    }
    let deliveries: usize = list
        .iter()
        .map(|o| o["deliveries"].as_array().unwrap().len())
        .sum();
    assert_eq!(table(&secs, 4).len(), deliveries);
    assert_eq!(
        table(&secs, 5).len(),
        json["expected_faults"].as_array().unwrap().len()
    );
    assert_eq!(
        table(&secs, 6).len(),
        json["timeline"].as_array().unwrap().len()
    );
    checked
}
