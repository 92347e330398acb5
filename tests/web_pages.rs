//! The status pages over real HTTP: hostile target names are escaped and isolated on every
//! page, Vietnamese by default and English on request (remembered), times with their zone,
//! filters and diacritics-free search, acknowledgements shown, a province's overview under
//! 100 KB gzipped, and state colours that meet WCAG AA contrast.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::*;
use sha2::Digest;

const OFFICER: &str = "officer-secret-token";

/// A TOML basic string.
fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[allow(clippy::too_many_arguments)]
fn target(
    id: &str,
    name: &str,
    probe: &str,
    op: &str,
    svc: &str,
    province: &str,
    commune: &str,
) -> String {
    format!(
        "[[targets]]\nid = {}\nname = {}\n{probe}\noperator = {}\nservice = {}\nprovince = {}\ncommune = {}\n\n",
        q(id),
        q(name),
        q(op),
        q(svc),
        q(province),
        q(commune)
    )
}

fn head(officer: bool) -> String {
    let mut s = String::from(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\n",
    );
    if officer {
        let hex: String = sha2::Sha256::digest(OFFICER.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        s.push_str(&format!(
            "[[auth.tokens]]\nname = \"truc-ban-1\"\nrole = \"officer\"\nsha256 = \"{hex}\"\n\n"
        ));
    }
    s
}

const EVIL_NAME: &str = "<script>alert('x')</script> \"quoted\" & 'single'";
const EVIL_COMMUNE: &str = "<img src=x onerror=alert(1)>";
const EVIL_OPERATOR: &str = "\"><svg onload=alert(2)>";
const RTL_NAME: &str = "\u{202E}gnp.exe — Trạm Cẩm Xuyên";

fn long_name() -> String {
    "Trạm thu phát sóng di động của Tập đoàn Công nghiệp – Viễn thông Quân đội tại thôn Đông Hà, \
     xã Thạch Hà, tỉnh Hà Tĩnh (trạm dự phòng cấp điện bằng máy phát diesel và ắc quy lithium), "
        .repeat(2)
}

async fn hostile_app(dir: &std::path::Path) -> (commwatch::app::App, std::net::SocketAddr) {
    let ok = http_server(200).await;
    let refused = refused_addr().await;
    let tcp_refused = format!("kind = \"tcp\"\naddress = \"{refused}\"");
    let http_ok = format!("kind = \"http\"\nurl = \"http://{ok}/\"");
    let mut toml = head(true);
    toml.push_str(&target(
        "evil-1",
        EVIL_NAME,
        &tcp_refused,
        EVIL_OPERATOR,
        "mobile",
        "Hà Tĩnh",
        EVIL_COMMUNE,
    ));
    toml.push_str(&target(
        "rtl-1",
        RTL_NAME,
        &tcp_refused,
        "viettel",
        "mobile",
        "Hà Tĩnh",
        "Cẩm Xuyên",
    ));
    toml.push_str(&target(
        "long-1",
        &long_name(),
        &http_ok,
        "viettel",
        "mobile",
        "Hà Tĩnh",
        "Thạch Hà",
    ));
    toml.push_str(&target(
        "ky-anh-1",
        "VNPost — Kỳ Anh",
        &http_ok,
        "vnpost",
        "postal",
        "Hà Tĩnh",
        "Kỳ Anh",
    ));
    let app = start_app(dir, &toml).await;
    let addr = app.local_addr();
    wait_for(Duration::from_secs(20), "all states settled", || async {
        let st = states(addr).await;
        (st["evil-1"]["state"] == "down"
            && st["rtl-1"]["state"] == "down"
            && st["long-1"]["state"] == "up"
            && st["ky-anh-1"]["state"] == "up")
            .then_some(())
    })
    .await;
    (app, addr)
}

/// Every U+202E (right-to-left override) in `html` sits inside a `<bdi>` element, an attribute
/// value, or the `<title>`, so it cannot flip the text around it.
fn rtl_is_isolated(html: &str) -> Result<(), String> {
    for (i, _) in html.match_indices('\u{202E}') {
        let before = &html[..i];
        let open = before.rfind('<').unwrap_or(0);
        let close = before.rfind('>').unwrap_or(0);
        if open > close {
            continue; // inside a tag: an attribute value
        }
        let tag = &html[open..=close];
        if tag == "<bdi>" || tag == "<title>" {
            continue;
        }
        return Err(format!("U+202E after `{tag}` at byte {i}"));
    }
    Ok(())
}

fn assert_safe(path: &str, html: &str) {
    for raw in [
        "<script>alert",
        "<img src=x",
        "<svg onload",
        "\"quoted\"",
        "javascript:",
        " style=",
        "<style",
    ] {
        assert!(!html.contains(raw), "{path}: raw `{raw}` in the page");
    }
    // The only script is ours, loaded from /assets (the CSP forbids inline script).
    for (i, _) in html.match_indices("<script") {
        assert!(
            html[i..].starts_with("<script src=\"/assets/commwatch.js"),
            "{path}: inline or foreign script at {i}"
        );
    }
    if let Err(e) = rtl_is_isolated(html) {
        panic!("{path}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_escaped_on_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let (app, addr) = hostile_app(dir.path()).await;
    let enc = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let pages = [
        "/".to_string(),
        "/?lang=en".to_string(),
        "/?state=down&cols=service".to_string(),
        "/fragments/top".to_string(),
        "/targets/evil-1".to_string(),
        "/targets/rtl-1".to_string(),
        "/targets/long-1".to_string(),
        "/incidents?status=all".to_string(),
        "/groups/operator".to_string(),
        "/groups/commune".to_string(),
        format!(
            "/groups/commune/{}?province=H%C3%A0%20T%C4%A9nh",
            enc(EVIL_COMMUNE)
        ),
        format!("/groups/operator/{}", enc(EVIL_OPERATOR)),
        "/targets/%3Cscript%3E".to_string(),
    ];
    let c = client();
    for p in &pages {
        let r = c.get(format!("http://{addr}{p}")).send().await.unwrap();
        let status = r.status().as_u16();
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let html = r.text().await.unwrap();
        assert_eq!(
            status,
            if p.starts_with("/targets/%3C") {
                404
            } else {
                200
            },
            "{p}"
        );
        assert_safe(p, &html);
    }

    // The escaped forms are there, so the names are shown, not dropped.
    let (_, html) = get_text(addr, "/").await;
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "commune not shown"
    );
    assert!(
        html.contains("&quot;&gt;&lt;svg onload=alert(2)&gt;"),
        "operator not shown"
    );
    assert!(
        html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &quot;quoted&quot; &amp; 'single'")
    );
    assert!(
        html.contains("<bdi>\u{202E}gnp.exe — Trạm Cẩm Xuyên</bdi>"),
        "RTL name not isolated"
    );
    let (_, html) = get_text(addr, "/targets/long-1").await;
    assert!(html.contains(&long_name()), "long name cut");
    let (_, html) = get_text(addr, "/targets/evil-1").await;
    assert!(html.contains("<h1><bdi>&lt;script&gt;alert('x')&lt;/script&gt;"));
    // JSON is escaped by its own rules and served as JSON.
    let r = c
        .get(format!("http://{addr}/api/v1/overview"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    let names: Vec<String> = v["communes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["commune"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&EVIL_COMMUNE.to_string()));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_time_zone_filters_search_and_acks() {
    let dir = tempfile::tempdir().unwrap();
    let (app, addr) = hostile_app(dir.path()).await;
    let c = client();

    // Vietnamese by default, times with their zone, relative times.
    let (_, html) = get_text(addr, "/").await;
    assert!(html.contains("<html lang=\"vi\">"));
    assert!(html.contains("Trạng thái liên lạc"));
    assert!(html.contains("(+07)") && html.contains("Asia/Ho_Chi_Minh"));
    assert!(html.contains("giây trước") || html.contains("phút trước"));
    assert!(html.contains("<noscript><meta http-equiv=\"refresh\" content=\"30\">"));
    // Summary: 2 down, 2 up; the two communes whose only target is down are fully dark.
    assert!(html.contains("data-count=\"down\"><span class=\"ic\" aria-hidden=\"true\">✖</span> Mất liên lạc: <strong>2</strong>"), "{html}");
    assert!(html.contains("<strong>2</strong>/4 xã mất liên lạc hoàn toàn"));

    // English on request, remembered in a cookie.
    let r = c
        .get(format!("http://{addr}/?lang=en"))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("lang=en;") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Communications status"));
    assert!(
        html.contains("seconds ago") || html.contains("minutes ago") || html.contains("second ago")
    );
    let html = c
        .get(format!("http://{addr}/incidents"))
        .header("cookie", "lang=en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Not acknowledged"));
    let r = c
        .get(format!("http://{addr}/?lang=vi"))
        .header("cookie", "lang=en")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("lang=vi;")
    );

    // Search with or without diacritics, filters as query parameters (grid rows end in </a>;
    // the incidents above the grid name communes too).
    for query in ["cam+xuyen", "C%E1%BA%A8M%20XUY%C3%8AN", "xuyen"] {
        let (_, html) = get_text(addr, &format!("/?q={query}")).await;
        assert!(html.contains("<bdi>Cẩm Xuyên</bdi></a>"), "{query}");
        assert!(!html.contains("<bdi>Kỳ Anh</bdi></a>"), "{query}");
        assert!(html.contains("1–1"), "{query}");
    }
    let (_, html) = get_text(addr, "/?state=up").await;
    assert!(html.contains("<bdi>Kỳ Anh</bdi></a>") && !html.contains("<bdi>Cẩm Xuyên</bdi></a>"));
    let (_, html) = get_text(addr, "/?operator=vnpost").await;
    assert!(html.contains("<bdi>Kỳ Anh</bdi></a>") && !html.contains("<bdi>Thạch Hà</bdi></a>"));
    // Worst first: the dark communes come before the healthy ones.
    let (_, html) = get_text(addr, "/").await;
    let pos = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(pos("<bdi>Cẩm Xuyên</bdi></a>") < pos("<bdi>Kỳ Anh</bdi></a>"));
    // Pages of one commune each.
    let (_, html) = get_text(addr, "/?per_page=1&page=2&sort=name").await;
    assert!(
        html.contains("Trang 2/4")
            && html.contains("rel=\"prev\"")
            && html.contains("rel=\"next\"")
    );

    // The target page: failing check in resolved form, uptime, chart, samples.
    let (_, html) = get_text(addr, "/targets/evil-1").await;
    assert!(html.contains("conn_refused"), "error code missing");
    assert!(html.contains("24 giờ") && html.contains("90 ngày"));
    assert!(html.contains("<svg viewBox=\"0 0 640 178\" role=\"img\""));
    assert!(html.contains("class=\"strip\""));
    assert!(html.contains("Mẫu đo gần nhất") && html.contains("✖ Lỗi"));

    // An acknowledgement shows on the overview, the incidents page and the target page.
    let id = wait_for(Duration::from_secs(10), "incident for evil-1", || async {
        get_json(addr, "/api/v1/incidents?status=open&target=evil-1").await["incidents"][0]["id"]
            .as_i64()
    })
    .await;
    let r = c
        .post(format!("http://{addr}/api/v1/incidents/{id}/ack"))
        .bearer_auth(OFFICER)
        .json(&serde_json::json!({ "comment": "đã báo <b>Viettel</b>" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for p in ["/", "/incidents", "/targets/evil-1", "/fragments/top"] {
        let (_, html) = get_text(addr, p).await;
        assert!(
            html.contains("✓ Đã nhận: <strong><bdi>truc-ban-1</bdi></strong>"),
            "{p}: ack not shown"
        );
        assert!(
            html.contains("đã báo &lt;b&gt;Viettel&lt;/b&gt;"),
            "{p}: comment not escaped"
        );
        assert_safe(p, &html);
    }
    let (_, html) = get_text(addr, "/incidents?lang=en").await;
    assert!(html.contains("✓ Acknowledged: <strong><bdi>truc-ban-1</bdi></strong>"));
    app.shutdown().await;
}

/// Hà Tĩnh–sized commune names: 69 of them.
fn communes() -> Vec<String> {
    let a = [
        "Cẩm", "Kỳ", "Thạch", "Hương", "Đức", "Nghi", "Can", "Lộc", "Vũ",
    ];
    let b = ["Xuyên", "Anh", "Hà", "Khê", "Thọ", "Xuân", "Lộc", "Quang"];
    a.iter()
        .flat_map(|x| b.iter().map(move |y| format!("{x} {y}")))
        .take(69)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_overview_stays_under_100_kb_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let refused = refused_addr().await;
    let ops = [
        ("viettel", "mobile", "Viettel"),
        ("vnpt", "mobile", "VinaPhone"),
        ("mobifone", "mobile", "MobiFone"),
        ("fpt", "fixed", "FPT Telecom"),
        ("vnpost", "postal", "Bưu điện VNPost"),
        ("ubnd", "portal", "Cổng thông tin UBND"),
    ];
    let mut toml = head(false).replace("interval = \"1s\"", "interval = \"3s\"");
    let mut n = 0;
    for (ci, commune) in communes().iter().enumerate() {
        for (oi, (op, svc, label)) in ops.iter().enumerate() {
            // A storm: a third of the province is down, with the reason on every cell.
            let probe = if (ci + oi) % 3 == 0 {
                format!("kind = \"tcp\"\naddress = \"{refused}\"")
            } else {
                format!("kind = \"http\"\nurl = \"http://{ok}/\"")
            };
            let id = format!("ht-{ci}-{op}");
            toml.push_str(&target(
                &id,
                &format!("{label} — xã {commune}"),
                &probe,
                op,
                svc,
                "Hà Tĩnh",
                commune,
            ));
            n += 1;
        }
    }
    assert_eq!(n, 414);
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    wait_for(Duration::from_secs(30), "every target checked", || async {
        let v = get_json(addr, "/api/v1/status").await;
        (v["states"]["unknown"] == 0).then_some(())
    })
    .await;

    let r = client()
        .get(format!("http://{addr}/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(
        r.headers()["vary"]
            .to_str()
            .unwrap()
            .contains("accept-encoding")
    );
    let gz = r.bytes().await.unwrap();
    let mut raw = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut raw)
        .unwrap();
    let (_, plain) = get_text(addr, "/").await;
    // The two reads are a moment apart, and the page says how long ago each target was
    // checked ("3 giây trước"), so a few characters may differ; anything more is a broken
    // encoding.
    assert!(
        plain.len().abs_diff(raw.len()) < 256,
        "gzip ({}) and plain ({}) pages differ",
        raw.len(),
        plain.len()
    );
    assert_eq!(
        raw.matches("data-target=").count(),
        414,
        "not every target on the page"
    );
    assert!(raw.contains("1–69 trên 69 xã"));
    println!(
        "overview for {n} targets / 69 communes: {} bytes raw, {} bytes gzip",
        raw.len(),
        gz.len()
    );
    assert!(
        gz.len() < 100 * 1024,
        "overview is {} bytes gzipped",
        gz.len()
    );
    // Assets are small and compressed too.
    for a in ["/assets/commwatch.css", "/assets/commwatch.js"] {
        let r = client()
            .get(format!("http://{addr}{a}"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-encoding"], "gzip", "{a}");
        let len = r.bytes().await.unwrap().len();
        println!("{a}: {len} bytes gzip");
        assert!(len < 8 * 1024);
    }
    app.shutdown().await;
}

/// WCAG relative luminance of `#rrggbb`.
fn luminance(hex: &str) -> f64 {
    let c = |i: usize| {
        let v = u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * c(1) + 0.7152 * c(3) + 0.0722 * c(5)
}

fn contrast(a: &str, b: &str) -> f64 {
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[test]
fn state_colours_meet_wcag_aa_in_light_and_dark() {
    let css = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/assets/commwatch.css"),
    )
    .unwrap();
    let dark_at = css.find("prefers-color-scheme: dark").expect("dark mode");
    let vars = |block: &str| -> std::collections::HashMap<String, String> {
        block
            .split("--")
            .skip(1)
            .filter_map(|d| {
                let (k, v) = d.split_once(':')?;
                let v = v.trim().split([';', ' ', '}']).next()?;
                v.starts_with('#')
                    .then(|| (k.trim().to_string(), v.to_string()))
            })
            .collect()
    };
    let light = vars(&css[..dark_at]);
    let dark = vars(&css[dark_at..css[dark_at..].find("}\n}").unwrap() + dark_at]);
    let pairs = [
        ("fg", "bg"),
        ("muted", "bg"),
        ("link", "bg"),
        ("fg", "panel"),
        ("muted", "panel"),
        ("up", "up-bg"),
        ("down", "down-bg"),
        ("deg", "deg-bg"),
        ("unk", "unk-bg"),
        ("live", "panel"),
        ("lost", "panel"),
    ];
    for (scheme, v) in [("light", &light), ("dark", &dark)] {
        for (fg, bg) in pairs {
            let r = contrast(&v[fg], &v[bg]);
            assert!(r >= 4.5, "{scheme}: --{fg} on --{bg} is {r:.2}:1, below AA");
        }
    }
}
