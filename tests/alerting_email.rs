//! The e-mail receiver end to end: the real daemon sees a target go down and mails a real SMTP
//! relay on loopback (Debian's aiosmtpd, run by tests/fixtures/smtp/server.py) over plain
//! SMTP, STARTTLS and implicit TLS with a certificate made for the test. The relay stores what
//! it accepts and can be told to answer 451 or 550; messages are decoded by Python's own
//! e-mail parser, not by the crate that wrote them.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::needs::{self, PYTHON};
use common::*;

const FROM: &str = "Commwatch Hà Tĩnh <commwatch@stc.hatinh.gov.vn>";
const TO: &str = "truc-ban@stc.hatinh.gov.vn";
const USER: &str = "commwatch";
const PASSWORD: &str = "mật-khẩu đúng";
/// Typed by a person: markup, quotes and an ampersand.
const HOSTILE: &str = r#"Trạm <b onmouseover="x">Kỳ Anh</b> & "Thiên Cầm""#;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/smtp")
        .join(name)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Plain,
    Starttls,
    Implicit,
}

/// The relay, stopped (its stdin closed, then killed) when dropped.
struct Relay {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// The CA that signed the relay's certificate, for `ca_file`.
    ca: Option<PathBuf>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Relay {
    /// Starts the relay in `root/smtp`, or says why it cannot (see `needs`).
    fn start(test: &str, root: &Path, mode: Mode) -> Option<Relay> {
        if !needs::python_module(test, "aiosmtpd", "python3-aiosmtpd") {
            return None;
        }
        let dir = root.join("smtp");
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(PYTHON);
        cmd.arg(fixture("server.py")).arg(&dir);
        cmd.arg(match mode {
            Mode::Plain => "plain",
            Mode::Starttls => "starttls",
            Mode::Implicit => "implicit",
        });
        cmd.args([USER, PASSWORD]);
        let mut ca = None;
        if mode != Mode::Plain {
            let (ca_file, cert, key) = common::postgres::write_tls_files(root);
            cmd.arg(cert).arg(key);
            ca = Some(ca_file);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the SMTP relay did not start: {line:?}"));
        Some(Relay {
            child,
            port,
            dir,
            ca,
        })
    }

    fn control(&self, json: &str) {
        let tmp = self.dir.join("control.json.new");
        std::fs::write(&tmp, json).unwrap();
        std::fs::rename(tmp, self.dir.join("control.json")).unwrap();
    }

    /// Stored messages, decoded, in arrival order.
    fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let out = Command::new(PYTHON)
                    .arg(fixture("decode.py"))
                    .arg(f)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                serde_json::from_slice(&out.stdout).unwrap()
            })
            .collect()
    }

    /// The relay's answers to DATA and AUTH, in order ("451", "250", "535").
    fn attempts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("attempts.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

/// Fast alerting, one e-mail receiver to `relay`, and the password file it reads.
fn config(dir: &Path, relay: &Relay, mode: Mode, to: &[&str], password: &str) -> String {
    std::fs::write(dir.join("smtp-password"), format!("{password}\n")).unwrap();
    let tls = match mode {
        Mode::Plain => "none",
        Mode::Starttls => "starttls",
        Mode::Implicit => "implicit",
    };
    let ca = relay
        .ca
        .as_ref()
        .map(|p| format!("ca_file = \"{}\"\n", p.display()))
        .unwrap_or_default();
    let to: Vec<String> = to.iter().map(|t| format!("\"{t}\"")).collect();
    // The certificate names 127.0.0.1 and localhost; implicit TLS goes by name.
    let host = if mode == Mode::Implicit {
        "localhost"
    } else {
        "127.0.0.1"
    };
    format!(
        "[alerting]\ngroup_wait = \"1s\"\ngroup_interval = \"2s\"\nrepeat_interval = \"1h\"\n\n\
         [[receivers]]\nid = \"mail\"\nkind = \"email\"\nhost = \"{host}\"\nport = {}\n\
         tls = \"{tls}\"\nfrom = \"{FROM}\"\nto = [{}]\nusername = \"{USER}\"\n\
         password_file = \"smtp-password\"\n{ca}timeout = \"5s\"\n\n\
         [[routes]]\nreceiver = \"mail\"\n\n",
        relay.port,
        to.join(", ")
    )
}

/// A TCP target that is down from the start (nothing listens on `addr`).
fn target(id: &str, name: &str, addr: &str, commune: &str) -> String {
    format!(
        "[[targets]]\nid = \"{id}\"\nname = '{name}'\nkind = \"tcp\"\naddress = \"{addr}\"\n\
         interval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\
         operator = \"viettel\"\nprovince = \"Hà Tĩnh\"\ncommune = \"{commune}\"\n\n"
    )
}

/// [`config`] and one target, down from the start, in the group it mails.
async fn one_down_target(
    dir: &Path,
    relay: &Relay,
    mode: Mode,
    to: &[&str],
    password: &str,
) -> String {
    let dead = refused_addr().await.to_string();
    format!(
        "{}{}",
        config(dir, relay, mode, to, password),
        target("v1", "Viettel — Kỳ Anh", &dead, "Kỳ Anh"),
    )
}

/// The outbox rows once every one has left `pending`.
async fn settled_outbox(addr: std::net::SocketAddr, secs: u64) -> Vec<serde_json::Value> {
    wait_for(
        Duration::from_secs(secs),
        "every outbox row delivered or dead",
        || async {
            let v = get_json(addr, "/api/v1/alerts/outbox").await;
            let rows = v["messages"].as_array()?.clone();
            (!rows.is_empty() && rows.iter().all(|r| r["status"] != "pending")).then_some(rows)
        },
    )
    .await
}

fn part<'a>(m: &'a serde_json::Value, ty: &str) -> &'a str {
    m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == ty)
        .unwrap_or_else(|| panic!("no {ty} part in {m}"))["text"]
        .as_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_group_arrives_as_one_vietnamese_email_with_escaped_html() {
    let dir = tempfile::tempdir().unwrap();
    let Some(relay) = Relay::start("email_down", dir.path(), Mode::Plain) else {
        return;
    };
    let dead = refused_addr().await.to_string();
    let toml = format!(
        "{}{}{}",
        config(dir.path(), &relay, Mode::Plain, &[TO], PASSWORD),
        target("v1", HOSTILE, &dead, "Kỳ Anh"),
        target("v2", "Viettel — Cẩm Xuyên", &dead, "Cẩm Xuyên"),
    );
    let app = start_app(dir.path(), &toml).await;
    let rows = settled_outbox(app.local_addr(), 30).await;
    // Both targets are one group (province, operator): one message, one e-mail.
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "delivered", "{rows:?}");
    assert_eq!(rows[0]["last_status"], 250);
    let mails = relay.messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let m = &mails[0];
    assert_eq!(
        m["subject"],
        "🔴 Viettel: 2 xã/phường mất liên lạc tại Hà Tĩnh"
    );
    // Encoded on the wire (RFC 2047), decoded by a parser that is not ours.
    assert!(
        m["raw_subject"].as_str().unwrap().starts_with("=?utf-8?"),
        "{m}"
    );
    assert_eq!(m["from"], FROM);
    assert_eq!(m["to"], serde_json::json!([TO]));
    let key = rows[0]["idempotency_key"].as_str().unwrap();
    assert_eq!(m["message_id"], format!("<{key}@stc.hatinh.gov.vn>"));
    assert_eq!(m["content_type"], "multipart/alternative");
    let plain = part(m, "text/plain");
    assert!(plain.contains(HOSTILE), "{plain}");
    assert!(
        plain.contains("Viettel — Cẩm Xuyên — mất liên lạc"),
        "{plain}"
    );
    let html = part(m, "text/html");
    assert!(!html.contains("<b onmouseover"), "unescaped markup: {html}");
    assert!(
        html.contains(
            "Trạm &lt;b onmouseover=&quot;x&quot;&gt;Kỳ Anh&lt;/b&gt; &amp; &quot;Thiên Cầm&quot;"
        ),
        "{html}"
    );
    assert!(html.contains("<h2>🔴 Viettel: 2 xã/phường"), "{html}");
    assert_eq!(relay.attempts(), ["250"]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_451_over_starttls_is_retried_and_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(relay) = Relay::start("email_451", dir.path(), Mode::Starttls) else {
        return;
    };
    relay.control(r#"{"temp_fail": 1}"#);
    let toml = one_down_target(dir.path(), &relay, Mode::Starttls, &[TO], PASSWORD).await;
    let app = start_app(dir.path(), &toml).await;
    let rows = settled_outbox(app.local_addr(), 40).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "delivered", "{rows:?}");
    assert_eq!(rows[0]["attempts"], 2, "{rows:?}");
    assert_eq!(relay.attempts(), ["451", "250"]);
    let mails = relay.messages();
    assert_eq!(mails.len(), 1, "delivered more than once: {mails:?}");
    assert!(
        mails[0]["subject"]
            .as_str()
            .unwrap()
            .contains("1 xã/phường mất liên lạc"),
        "{}",
        mails[0]
    );
    let (_, metrics) = get_text(app.local_addr(), "/metrics").await;
    assert!(
        metrics.contains("commwatch_alert_deliveries_total{outcome=\"retry\",receiver=\"mail\"} 1"),
        "{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_recipient_over_implicit_tls_is_a_dead_letter_with_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let Some(relay) = Relay::start("email_550", dir.path(), Mode::Implicit) else {
        return;
    };
    let gone = "khong-ton-tai@stc.hatinh.gov.vn";
    relay.control(&format!(r#"{{"reject": ["{gone}"]}}"#));
    let toml = one_down_target(dir.path(), &relay, Mode::Implicit, &[TO, gone], PASSWORD).await;
    let app = start_app(dir.path(), &toml).await;
    let rows = settled_outbox(app.local_addr(), 30).await;
    assert_eq!(rows[0]["status"], "dead", "{rows:?}");
    assert_eq!(rows[0]["attempts"], 1, "a permanent refusal was retried");
    assert_eq!(rows[0]["last_status"], 550);
    let error = rows[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("Recipient address rejected"),
        "{error}"
    );
    assert!(relay.messages().is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_clear_dead_letter_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let Some(relay) = Relay::start("email_auth", dir.path(), Mode::Plain) else {
        return;
    };
    let wrong = "sai-mat-khau-123";
    let toml = one_down_target(dir.path(), &relay, Mode::Plain, &[TO], wrong).await;
    let app = start_app(dir.path(), &toml).await;
    let rows = settled_outbox(app.local_addr(), 30).await;
    assert_eq!(rows[0]["status"], "dead", "{rows:?}");
    assert_eq!(rows[0]["last_status"], 535);
    let error = rows[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("535") && error.contains("`password_file`"),
        "{error}"
    );
    assert!(!error.contains(wrong), "the password is shown: {error}");
    assert_eq!(relay.attempts(), ["535"]);
    assert!(relay.messages().is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_before_a_restart_is_delivered_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(relay) = Relay::start("email_restart", dir.path(), Mode::Plain) else {
        return;
    };
    // The relay refuses for now: the message waits in the outbox.
    relay.control(r#"{"temp_fail": 1000}"#);
    let toml = one_down_target(dir.path(), &relay, Mode::Plain, &[TO], PASSWORD).await;
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    let key = wait_for(Duration::from_secs(30), "a failed attempt", || async {
        let v = get_json(addr, "/api/v1/alerts/outbox?status=pending").await;
        let r = v["messages"].as_array()?.first()?.clone();
        (r["attempts"].as_u64() >= Some(1))
            .then(|| r["idempotency_key"].as_str().unwrap().to_string())
    })
    .await;
    app.shutdown().await;
    assert!(relay.messages().is_empty());
    // The relay recovers while commwatch is stopped.
    relay.control("{}");
    let app = start_app(dir.path(), &toml).await;
    let mails = wait_for(Duration::from_secs(30), "the queued e-mail", || async {
        let m = relay.messages();
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(
        mails[0]["message_id"],
        format!("<{key}@stc.hatinh.gov.vn>"),
        "not the message queued before the restart"
    );
    let rows = settled_outbox(app.local_addr(), 20).await;
    let delivered: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["idempotency_key"] == key.as_str())
        .collect();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["status"], "delivered");
    // Exactly one e-mail per outbox row: nothing was sent twice across the restart.
    assert_eq!(relay.messages().len(), rows.len(), "{rows:?}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_refuses_connections_is_retried_not_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let Some(relay) = Relay::start("email_refused", dir.path(), Mode::Plain) else {
        return;
    };
    // The same configuration pointed at a port where nothing listens.
    let closed = refused_addr().await.port();
    let toml = one_down_target(dir.path(), &relay, Mode::Plain, &[TO], PASSWORD)
        .await
        .replace(
            &format!("port = {}\n", relay.port),
            &format!("port = {closed}\n"),
        );
    assert!(toml.contains(&format!("port = {closed}\n")));
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    let row = wait_for(Duration::from_secs(30), "two failed attempts", || async {
        let v = get_json(addr, "/api/v1/alerts/outbox").await;
        let r = v["messages"].as_array()?.first()?.clone();
        (r["attempts"].as_u64() >= Some(2)).then_some(r)
    })
    .await;
    assert_eq!(row["status"], "pending", "{row}");
    let error = row["last_error"].as_str().unwrap();
    assert!(error.contains("cannot reach the SMTP relay"), "{error}");
    assert!(relay.attempts().is_empty());
    app.shutdown().await;
}
