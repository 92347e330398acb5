//! Templated webhook bodies end to end: the real daemon sees targets go down and posts to the
//! loopback collector a body rendered from the receiver's template: an SMS gateway's form
//! within its character limit, a JSON API body that stays JSON whatever a target is named,
//! and templated headers. A template naming a field that does not exist stops
//! `commwatch check` with the file, line and key.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::collector::{Collector, Received};
use common::*;

/// Typed by a person: quotes, an ampersand, an equals sign, a backslash and a line break.
const HOSTILE: &str = "Trạm \"Kỳ Anh\" & Co =1 \\ dự phòng\nhàng 2";

/// `name` as a TOML basic string.
fn toml_str(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

fn target(id: &str, name: &str, addr: &str, commune: &str) -> String {
    format!(
        "[[targets]]\nid = \"{id}\"\nname = {}\nkind = \"tcp\"\naddress = \"{addr}\"\n\
         interval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\
         operator = \"viettel\"\nprovince = \"Hà Tĩnh\"\ncommune = \"{commune}\"\n\n",
        toml_str(name)
    )
}

/// Fast alerting and one webhook receiver with `extra` keys, routed everything.
fn receiver(url: &str, extra: &str) -> String {
    format!(
        "[alerting]\ngroup_wait = \"1s\"\ngroup_interval = \"2s\"\nrepeat_interval = \"1h\"\n\n\
         [[receivers]]\nid = \"gw\"\nkind = \"webhook\"\nurl = \"{url}\"\n{extra}\n\
         [[routes]]\nreceiver = \"gw\"\n\n"
    )
}

async fn first_accepted(c: &Collector) -> Received {
    wait_for(
        Duration::from_secs(30),
        "a message at the collector",
        || async { c.accepted().into_iter().next() },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_form_body_fits_its_limit_with_a_truncation_marker() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    let dead = refused_addr().await.to_string();
    let mut toml = receiver(
        &c.url("/sms"),
        "content_type = \"application/x-www-form-urlencoded\"\n\
         body_template = \"phone=0912345678&brand=STTTT-HT&message={{ text }}&n={{ firing }}\"\n\
         max_chars = 160\n",
    );
    let communes = [
        "Kỳ Anh",
        "Cẩm Xuyên",
        "Thạch Hà",
        "Hương Sơn",
        "Đức Thọ",
        "Nghi Xuân",
    ];
    toml.push_str(&target("v0", HOSTILE, &dead, communes[0]));
    for (i, commune) in communes.iter().enumerate().skip(1) {
        toml.push_str(&target(
            &format!("v{i}"),
            &format!("Trạm BTS Viettel {commune}"),
            &dead,
            commune,
        ));
    }
    let app = start_app(dir.path(), &toml).await;
    // Targets may fail a second apart; the message that names all six is the one to read.
    let r = wait_for(
        Duration::from_secs(40),
        "a message for six targets",
        || async {
            c.accepted()
                .into_iter()
                .find(|r| url::form_urlencoded::parse(&r.body).any(|(k, v)| k == "n" && v == "6"))
        },
    )
    .await;
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&r.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    // The `&` and `=` in the hostile name did not make fields of their own.
    assert_eq!(keys, ["phone", "brand", "message", "n"], "{fields:?}");
    let message = &fields[2].1;
    let chars = message.chars().count();
    assert!(chars <= 160, "{chars} characters: {message}");
    assert!(
        message.len() > chars,
        "the limit must count characters, and this text has multi-byte ones"
    );
    assert!(
        message.starts_with("🔴 Viettel: 6 xã/phường mất liên lạc tại Hà Tĩnh"),
        "{message}"
    );
    let named = message.lines().filter(|l| l.starts_with("• ")).count();
    assert!(named < 6, "nothing was cut: {message}");
    assert!(
        message.ends_with(&format!("… (+{} trạm)", 6 - named)),
        "{message}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_stays_json_with_a_hostile_name_and_headers_are_templated() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    let dead = refused_addr().await.to_string();
    let template = r#"body_template = '''
{"title": {{ title }}, "status": {{ status }}, "drill": {{ drill }},
 "stations": [{% for t in targets %}{"name": {{ t.name }}, "commune": {{ t.commune | json }}}{% if not loop.last %}, {% endif %}{% endfor %}],
 "text": {{ text }}}
'''
headers = { "X-Commwatch-Group" = "{{ group.province }}/{{ group.operator }}: {{ firing }}", "X-Station" = "{{ targets[0].name }}" }
hmac_secret = "k3y"
"#;
    let toml = format!(
        "{}{}",
        receiver(&c.url("/api"), template),
        target("v0", HOSTILE, &dead, "Kỳ Anh"),
    );
    let app = start_app(dir.path(), &toml).await;
    let r = first_accepted(&c).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&r.body)));
    assert_eq!(v["stations"][0]["name"], HOSTILE);
    assert_eq!(v["stations"][0]["commune"], "Kỳ Anh");
    assert_eq!(v["status"], "firing");
    assert_eq!(v["drill"], false);
    assert!(v["text"].as_str().unwrap().contains(HOSTILE), "{v}");
    assert_eq!(
        v["title"],
        "🔴 Viettel: 1 xã/phường mất liên lạc tại Hà Tĩnh"
    );
    assert_eq!(r.header("x-commwatch-group"), Some("Hà Tĩnh/viettel: 1"));
    // The line break in the name cannot split the header.
    assert_eq!(
        r.header("x-station"),
        Some(HOSTILE.replace('\n', " ").as_str())
    );
    // The signature covers the rendered body.
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k3y").unwrap();
    mac.update(&r.body);
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        r.header("x-commwatch-signature"),
        Some(format!("sha256={sig}").as_str())
    );
    app.shutdown().await;
}

#[test]
fn check_refuses_a_template_with_an_unknown_field_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("commwatch.toml");
    let text = "[[receivers]]\nid = \"sms\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/sms\"\n\
                content_type = \"application/x-www-form-urlencoded\"\n\
                body_template = \"message={{ text }}&place={{ group.provnce }}\"\n";
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_commwatch"))
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the configuration was accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:6: key `body_template`: names a field that does not exist: `{{{{ group.provnce }}}}`",
            file.display()
        )),
        "{stderr}"
    );
}
