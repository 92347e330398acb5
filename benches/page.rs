//! Status page benchmark: time to build and render the overview (and its JSON) for the whole
//! country (3,321 communes × 6 targets) and for one province (69 × 6), with the page sizes raw
//! and gzipped. A third of the targets are down, with the failure reason on every cell, as in
//! a storm.
//!
//! `cargo bench --bench page`. Prints a Markdown table.

// A benchmark unwraps: a panic is how it reports a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use chrono::Utc;
use commwatch::config::Config;
use commwatch::state::{State, TargetState};
use commwatch::status::{LastResult, TargetStatus};
use commwatch::web::compress;
use commwatch::web::page::PageCtx;
use commwatch::web::page::i18n::Lang;
use commwatch::web::page::overview::render;
use commwatch::web::view::overview;
use commwatch::web::view::query::Query;
use commwatch::web::view::top::Top;

const OPS: [(&str, &str); 6] = [
    ("viettel", "mobile"),
    ("vnpt", "mobile"),
    ("mobifone", "mobile"),
    ("fpt", "fixed"),
    ("vnpost", "postal"),
    ("ubnd", "portal"),
];

/// Commune names built from Vietnamese syllables, `n` of them, spread over `provinces`.
fn inventory(provinces: usize, communes: usize) -> Vec<TargetStatus> {
    let a = [
        "Cẩm", "Kỳ", "Thạch", "Hương", "Đức", "Nghi", "Can", "Lộc", "Vũ", "Hồng", "Tân", "Phú",
        "Quỳnh", "Diễn", "Yên",
    ];
    let b = [
        "Xuyên", "Anh", "Hà", "Khê", "Thọ", "Xuân", "Lộc", "Quang", "Lĩnh", "Sơn", "Bình", "Mỹ",
        "Long", "An", "Hòa",
    ];
    let mut toml = String::new();
    for c in 0..communes {
        let province = format!("Tỉnh {:02}", c % provinces);
        let name = format!(
            "{} {} {}",
            a[c % a.len()],
            b[(c / a.len()) % b.len()],
            c / (a.len() * b.len())
        );
        for (op, svc) in OPS {
            toml.push_str(&format!(
                "[[targets]]\nid = \"c{c}-{op}\"\nname = \"{op} — xã {name}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\noperator = \"{op}\"\nservice = \"{svc}\"\nprovince = \"{province}\"\ncommune = \"{name}\"\n\n"
            ));
        }
    }
    let cfg = Config::from_str_at(std::path::Path::new("bench.toml"), &toml).expect("config");
    let now = Utc::now();
    cfg.targets
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let down = i % 3 == 0;
            let mut st = TargetState::new(now - chrono::Duration::minutes((i % 600) as i64));
            st.state = if down { State::Down } else { State::Up };
            st.incident_open = down;
            TargetStatus {
                target: t,
                state: st,
                last: Some(LastResult {
                    at: now,
                    ok: !down,
                    latency_seconds: 0.012,
                    error: down.then(|| "conn_refused".to_string()),
                    detail: down.then(|| {
                        "connect to 127.0.0.1:9: Connection refused (os error 111)".to_string()
                    }),
                }),
            }
        })
        .collect()
}

fn query(pairs: &[(&str, &str)]) -> Query {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn measure(label: &str, rows: &[TargetStatus], pairs: &[(&str, &str)]) {
    let q = query(pairs);
    let ctx = PageCtx {
        gzip: true,
        ..PageCtx::plain(Lang::Vi, "/", q.clone())
    };
    let top = Top {
        monitor_isolated: false,
        drills: Vec::new(),
        incidents: Vec::new(),
    };
    let runs = 10;
    let mut html = String::new();
    let mut json = Vec::new();
    let started = Instant::now();
    for _ in 0..runs {
        let ov = overview::build(
            rows,
            overview::Filter::parse(&q).expect("filter"),
            Utc::now(),
        );
        html = render(&ctx, &ov, &top).into_string();
        json = serde_json::to_vec(&ov).expect("json");
    }
    let per = started.elapsed() / runs;
    let t0 = Instant::now();
    let gz = compress::gzip(html.as_bytes()).expect("gzip");
    let gz_time = t0.elapsed();
    let jgz = compress::gzip(&json).expect("gzip");
    println!(
        "| {label} | {} | {:.1} ms | {:.1} ms | {} KB | {} KB | {} KB | {} KB |",
        rows.len(),
        per.as_secs_f64() * 1e3,
        gz_time.as_secs_f64() * 1e3,
        html.len() / 1024,
        gz.len() / 1024,
        json.len() / 1024,
        jgz.len() / 1024,
    );
}

fn main() {
    let country = inventory(34, 3_321);
    let province = inventory(1, 69);
    println!(
        "| view | targets | build + render + JSON | gzip | HTML | HTML gzip | JSON | JSON gzip |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    measure("Hà Tĩnh-sized province, all 69 communes", &province, &[]);
    measure("country, page 1 (100 worst communes)", &country, &[]);
    measure(
        "country, one province",
        &country,
        &[("province", "Tỉnh 07")],
    );
    measure(
        "country, search \"cam xuyen\"",
        &country,
        &[("q", "cam xuyen")],
    );
    measure(
        "country, down only, 500 per page",
        &country,
        &[("state", "down"), ("per_page", "500")],
    );
}
