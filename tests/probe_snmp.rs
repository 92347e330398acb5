//! The snmp kind against a real agent: Debian's `snmpd`, started by each test on a free
//! loopback UDP port with a configuration the test writes (a v2c community, a v3 authPriv user
//! SHA/AES, and a `pass` script serving UPS-MIB values from files the test rewrites). v2c and
//! v3 GETs, a wrong community, wrong v3 keys, a silent port, a reboot seen through sysUpTime,
//! an interface found by name, and a UPS going on battery, draining and going dark in a
//! running daemon (state, cause, metric).

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// common for the daemon helpers (start_app, states, promtool); support for the probe
// helpers. Both load common/needs.rs, which is harmless.
#[allow(clippy::duplicate_mod)]
mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commwatch::config::Target;
use commwatch::probe::{ErrorCode, Power, Prober, SnmpType};
use support::{failing, probe, prober, target_in};

const COMMUNITY: &str = "kyanh-ro-7f3a";
const USER: &str = "truc-ban";
const AUTH_KEY: &str = "auth-passphrase-91";
const PRIV_KEY: &str = "priv-passphrase-42";

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";
const IF_DESCR_1: &str = "1.3.6.1.2.1.2.2.1.2.1";
const IF_OPER_1: &str = "1.3.6.1.2.1.2.2.1.8.1";

/// A running snmpd on 127.0.0.1:`port`, killed on drop.
struct Agent {
    snmpd: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

/// The `pass` script: answers a GET (`-g OID`) under the UPS-MIB from the file named by the
/// OID in `values/`, which holds the type and the value on two lines; no file, no object.
const PASS_SCRIPT: &str = r#"#!/bin/sh
[ "$1" = "-g" ] || exit 0
f="$(dirname "$0")/values/$2"
[ -f "$f" ] || exit 0
echo "$2"
cat "$f"
"#;

impl Agent {
    /// Starts snmpd, or `None` (outside CI) when it is not installed.
    fn start(test: &str) -> Option<Agent> {
        let snmpd = support::needs::tool(test, "snmpd", "snmpd")?;
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all(dir.path().join("values")).unwrap();
        std::fs::create_dir_all(dir.path().join("persist")).unwrap();
        let script = dir.path().join("ups.sh");
        std::fs::write(&script, PASS_SCRIPT).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("snmpd.conf"),
            format!(
                "agentAddress udp:127.0.0.1:{port}\n\
                 rocommunity {COMMUNITY} 127.0.0.1\n\
                 createUser {USER} SHA \"{AUTH_KEY}\" AES \"{PRIV_KEY}\"\n\
                 rouser {USER} priv\n\
                 pass .1.3.6.1.2.1.33 {}\n",
                script.display()
            ),
        )
        .unwrap();
        for (name, secret) in [
            ("community", COMMUNITY),
            ("wrong-community", "not-the-community"),
            ("auth", AUTH_KEY),
            ("priv", PRIV_KEY),
            ("wrong-auth", "wrong-auth-passphrase"),
            ("wrong-priv", "wrong-priv-passphrase"),
        ] {
            std::fs::write(dir.path().join(name), format!("{secret}\n")).unwrap();
        }
        let mut agent = Agent {
            snmpd,
            dir,
            port,
            child: None,
        };
        agent.spawn();
        Some(agent)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the process and waits (bounded) until it says it is up, which it logs after
    /// opening its port.
    fn spawn(&mut self) {
        let log = self.path().join("snmpd.log");
        let _ = std::fs::remove_file(&log);
        let child = Command::new(&self.snmpd)
            .args(["-f", "-C", "-c"])
            .arg(self.path().join("snmpd.conf"))
            .arg("-Lf")
            .arg(&log)
            .env("SNMP_PERSISTENT_DIR", self.path().join("persist"))
            // The agent needs no MIB files to serve numeric OIDs; loading none is quieter.
            .env("MIBS", "")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("NET-SNMP version") {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("snmpd exited with {status}:\n{text}");
            }
            assert!(Instant::now() < deadline, "snmpd did not start:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A restart of the agent: what a power cut does to a router.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Serves `value` of SMI `kind` (integer, gauge ...) at `oid` under the UPS-MIB, written
    /// whole before it is renamed into place so the script never reads half a file.
    fn set(&self, oid: &str, kind: &str, value: i64) {
        let values = self.path().join("values");
        let tmp = values.join("tmp");
        std::fs::write(&tmp, format!("{kind}\n{value}\n")).unwrap();
        std::fs::rename(&tmp, values.join(format!(".{oid}"))).unwrap();
    }

    /// The UPS-MIB values the agent serves: upsOutputSource, upsBatteryStatus,
    /// upsEstimatedMinutesRemaining (`None`: the UPS does not report it) and the charge.
    fn ups(&self, source: i64, battery_status: i64, minutes: Option<i64>, charge: i64) {
        self.set(OUTPUT_SOURCE, "integer", source);
        self.set(BATTERY_STATUS, "integer", battery_status);
        match minutes {
            Some(m) => self.set(MINUTES, "integer", m),
            None => self.unset(MINUTES),
        }
        self.set(CHARGE, "integer", charge);
    }

    fn unset(&self, oid: &str) {
        let _ = std::fs::remove_file(self.path().join("values").join(format!(".{oid}")));
    }

    /// A target in the agent's folder (secret files are found there).
    fn target(&self, body: &str) -> Target {
        target_in(
            self.path(),
            &format!("{body}\ninterval = \"10s\"\ntimeout = \"2s\""),
        )
    }

    fn v2c(&self, extra: &str) -> Target {
        self.target(&format!(
            "id = \"r1\"\nkind = \"snmp\"\naddress = \"{}\"\ncommunity_file = \"community\"\n{extra}",
            self.addr()
        ))
    }

    fn v3(&self, auth: &str, privacy: &str, extra: &str) -> Target {
        self.target(&format!(
            "id = \"r3\"\nkind = \"snmp\"\naddress = \"{}\"\nuser = \"{USER}\"\n\
             auth_protocol = \"sha\"\nauth_key_file = \"{auth}\"\n\
             priv_protocol = \"aes\"\npriv_key_file = \"{privacy}\"\n{extra}",
            self.addr()
        ))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Nothing in an observation may carry a secret: not the detail, not the facts.
fn assert_no_secret(obs: &commwatch::probe::Observation) {
    let all = format!("{obs:?} {}", serde_json::to_string(obs).unwrap());
    for s in [
        COMMUNITY,
        AUTH_KEY,
        PRIV_KEY,
        "not-the-community",
        "wrong-auth",
        "wrong-priv",
    ] {
        assert!(!all.contains(s), "a secret leaked: {all}");
    }
}

#[tokio::test]
async fn v2c_get_reads_values_with_their_types_and_checks_read_them() {
    let Some(agent) = Agent::start("v2c_get") else {
        return;
    };
    let t = agent.v2c(&format!(
        "oids = [\"{SYS_DESCR}\", \".{SYS_UPTIME}\", \"1.3.6.1.2.1.1.99.0\"]\n\
         checks = ['oid(\"{IF_DESCR_1}\") == \"lo\"', 'oid(\"{IF_OPER_1}\") == 1']"
    ));
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(sample.ok, "{:?} {:?}", obs.error_detail, failing(&sample));
    assert_no_secret(&obs);
    let snmp = obs.facts.snmp.as_ref().unwrap();
    assert_eq!(snmp.version, "v2c");
    assert_eq!(snmp.value(SYS_UPTIME).unwrap().kind, SnmpType::Timeticks);
    let descr = snmp.value(SYS_DESCR).unwrap();
    assert_eq!(descr.kind, SnmpType::String);
    assert!(descr.text().unwrap().contains("Linux"), "{descr:?}");
    // An object the agent lacks is reported as such, not as an error of the whole probe.
    assert_eq!(
        snmp.value("1.3.6.1.2.1.1.99.0").unwrap().kind,
        SnmpType::NoSuchObject
    );
    // The OIDs the checks name were fetched with the listed ones.
    assert_eq!(snmp.value(IF_OPER_1).unwrap().kind, SnmpType::Integer);
    let resolved: Vec<&str> = sample.checks.iter().map(|c| c.resolved.as_str()).collect();
    assert!(
        resolved.contains(&"oid(\"1.3.6.1.2.1.2.2.1.2.1\") (\"lo\" (string)) == \"lo\""),
        "{resolved:?}"
    );

    // A failing OID check says what it saw.
    let t = agent.v2c(&format!(
        "oids = [\"{SYS_UPTIME}\"]\nchecks = ['oid(\"{IF_OPER_1}\") == 2']"
    ));
    let (_, sample) = probe(&prober(), &t).await;
    assert!(!sample.ok);
    assert_eq!(
        failing(&sample),
        ["oid(\"1.3.6.1.2.1.2.2.1.8.1\") (1 (integer)) == 2"]
    );
}

#[tokio::test]
async fn v3_auth_priv_get_with_sha_and_aes() {
    let Some(agent) = Agent::start("v3_get") else {
        return;
    };
    let t = agent.v3(
        "auth",
        "priv",
        &format!("oids = [\"{SYS_UPTIME}\", \"{IF_DESCR_1}\"]"),
    );
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    assert_no_secret(&obs);
    let snmp = obs.facts.snmp.as_ref().unwrap();
    assert_eq!(snmp.version, "v3");
    assert_eq!(
        snmp.value(IF_DESCR_1).unwrap().text().as_deref(),
        Some("lo")
    );
    assert!(snmp.value(SYS_UPTIME).unwrap().number().unwrap() > 0.0);
}

#[tokio::test]
async fn wrong_community_is_a_clear_timeout_without_a_hang() {
    let Some(agent) = Agent::start("wrong_community") else {
        return;
    };
    let t = agent.target(&format!(
        "id = \"r1\"\nkind = \"snmp\"\naddress = \"{}\"\ncommunity_file = \"wrong-community\"\n\
         retries = 2\noids = [\"{SYS_UPTIME}\"]",
        agent.addr()
    ));
    let started = Instant::now();
    let (obs, sample) = probe(&prober(), &t).await;
    let took = started.elapsed();
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::Timeout));
    let detail = obs.error_detail.clone().unwrap();
    assert!(detail.contains("community may be wrong"), "{detail}");
    assert!(detail.contains("3 attempts"), "{detail}");
    assert!(took < Duration::from_millis(2600), "took {took:?}");
    assert_no_secret(&obs);
}

#[tokio::test]
async fn wrong_v3_keys_are_clear_errors_without_a_hang() {
    let Some(agent) = Agent::start("wrong_v3_keys") else {
        return;
    };
    let oids = format!("oids = [\"{SYS_UPTIME}\"]");
    // A wrong authentication key: the agent answers with a report (wrong digest).
    let started = Instant::now();
    let (obs, sample) = probe(&prober(), &agent.v3("wrong-auth", "priv", &oids)).await;
    assert!(!sample.ok);
    let detail = obs.error_detail.clone().unwrap();
    assert_eq!(obs.error, Some(ErrorCode::ProtocolError), "{detail}");
    assert!(detail.contains("SNMPv3 authentication"), "{detail}");
    assert!(detail.contains("auth_key_file"), "{detail}");
    assert!(started.elapsed() < Duration::from_millis(2600));
    assert_no_secret(&obs);

    // A wrong privacy key: the agent cannot decrypt the request and drops it.
    let started = Instant::now();
    let (obs, sample) = probe(&prober(), &agent.v3("auth", "wrong-priv", &oids)).await;
    assert!(!sample.ok);
    let detail = obs.error_detail.clone().unwrap();
    assert_eq!(obs.error, Some(ErrorCode::Timeout), "{detail}");
    assert!(detail.contains("privacy key"), "{detail}");
    assert!(started.elapsed() < Duration::from_millis(2600));
    assert_no_secret(&obs);
}

#[tokio::test]
async fn a_silent_udp_port_times_out_after_its_retries() {
    // A bound socket that reads and never answers: a firewalled or hung agent.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let heard = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let mut n = 0;
        while n < 2 {
            silent.recv_from(&mut buf).await.unwrap();
            n += 1;
        }
        n
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("community"), "x-community\n").unwrap();
    let t = target_in(
        dir.path(),
        &format!(
            "id = \"r1\"\nkind = \"snmp\"\naddress = \"{addr}\"\ncommunity_file = \"community\"\n\
             oids = [\"{SYS_UPTIME}\"]\nretries = 1\ninterval = \"10s\"\ntimeout = \"1s\""
        ),
    );
    let started = Instant::now();
    let (obs, _) = probe(&prober(), &t).await;
    assert_eq!(obs.error, Some(ErrorCode::Timeout));
    let detail = obs.error_detail.unwrap();
    assert!(
        detail.contains(&format!(
            "no SNMP answer from {addr} within 1s (2 attempts)"
        )),
        "{detail}"
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
    // Both attempts reached the port: the retry was sent, not only counted.
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), heard)
            .await
            .unwrap()
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn a_restart_is_seen_through_sysuptime() {
    let Some(mut agent) = Agent::start("reboot") else {
        return;
    };
    let t = agent.v2c("preset = \"uptime\"");
    let p = prober();
    // Wait (bounded) until the agent has been up for two seconds, so its restart is sure to
    // show a smaller uptime.
    let up = common::wait_for(Duration::from_secs(10), "uptime >= 2s", || async {
        let (obs, _) = probe(&p, &t).await;
        let u = obs.facts.snmp?.uptime?;
        assert_eq!(u.rebooted_ago, None, "no restart yet");
        (u.uptime >= Duration::from_secs(2)).then_some(u.uptime)
    })
    .await;
    agent.restart();
    let (obs, sample) = probe(&p, &t).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    let u = obs.facts.snmp.as_ref().unwrap().uptime.clone().unwrap();
    assert!(u.uptime < up, "{u:?}");
    assert_eq!(u.rebooted_ago, Some(u.uptime));
    let event = u.event.unwrap();
    assert!(
        event.starts_with("rebooted ") && event.ends_with(" ago"),
        "{event}"
    );
    // The next probe sees no new restart.
    let (obs, _) = probe(&p, &t).await;
    assert_eq!(obs.facts.snmp.unwrap().uptime.unwrap().rebooted_ago, None);
}

#[tokio::test]
async fn interface_preset_finds_the_interface_by_name_and_rates_its_errors() {
    let Some(agent) = Agent::start("interface") else {
        return;
    };
    let p = prober();
    let t = agent.v2c("preset = \"interface\"\nif_name = \"lo\"");
    let (obs, sample) = probe(&p, &t).await;
    assert!(sample.ok, "{:?} {:?}", obs.error_detail, failing(&sample));
    let i = obs.facts.snmp.unwrap().interface.unwrap();
    assert_eq!((i.index, i.oper_status), (1, Some(1)));
    assert_eq!(i.in_errors_rate, None, "no rate before a second probe");
    // A rate needs time between two probes: probes in the same millisecond (the clock's
    // precision) have none, so probe again until one comes later.
    let first_at = obs.started_at;
    let i = common::wait_for(
        Duration::from_secs(5),
        "a probe a millisecond later",
        || async {
            let (obs, _) = probe(&p, &t).await;
            (obs.started_at > first_at).then(|| obs.facts.snmp.unwrap().interface.unwrap())
        },
    )
    .await;
    assert_eq!(i.in_errors_rate, Some(0.0), "{i:?}");
    assert_eq!(i.out_errors_rate, Some(0.0), "{i:?}");

    // An interface that does not exist is a clear failure.
    let t = agent.v2c("preset = \"interface\"\nif_name = \"wan9\"");
    let (obs, _) = probe(&p, &t).await;
    assert!(
        obs.error_detail
            .unwrap()
            .contains("no interface named \"wan9\"")
    );
}

/// Waits (bounded) until `target` is in state `want` with `cause` in its last result's detail;
/// returns the detail.
async fn wait_state(
    addr: std::net::SocketAddr,
    target: &'static str,
    want: &'static str,
    cause: &'static str,
) -> String {
    common::wait_for(Duration::from_secs(20), want, || async {
        let t = common::states(addr).await.remove(target)?;
        let detail = t["last"]["detail"].as_str().unwrap_or("").to_string();
        (t["state"] == want && detail.contains(cause)).then_some(detail)
    })
    .await
}

const OUTPUT_SOURCE: &str = "1.3.6.1.2.1.33.1.4.1.0";
const BATTERY_STATUS: &str = "1.3.6.1.2.1.33.1.2.1.0";
const MINUTES: &str = "1.3.6.1.2.1.33.1.2.3.0";
const CHARGE: &str = "1.3.6.1.2.1.33.1.2.4.0";

#[tokio::test]
async fn without_minutes_the_runway_comes_from_the_charge_trend() {
    let Some(agent) = Agent::start("charge_trend") else {
        return;
    };
    agent.ups(5, 2, None, 90);
    let p: Prober = prober();
    let t = agent.v2c("preset = \"ups\"");
    let (first, _) = probe(&p, &t).await;
    let ups = first.facts.snmp.unwrap().ups.unwrap();
    assert_eq!((ups.power, ups.runway), (Power::Battery, None));
    assert_eq!(ups.summary, "on battery, runway not known yet");
    agent.set(CHARGE, "integer", 80);
    let (second, _) = probe(&p, &t).await;
    let ups = second.facts.snmp.unwrap().ups.unwrap();
    assert_eq!(ups.runway_from, Some("charge_trend"));
    // 10 % lost between the probes, 80 % left: eight times the time between them (counted as
    // at least a second, so probes milliseconds apart do not forecast an instant blackout).
    let between = (second.started_at - first.started_at).to_std().unwrap();
    let expected = 8.0 * between.as_secs_f64().max(1.0);
    let runway = ups.runway.unwrap().as_secs_f64();
    assert!((runway - expected).abs() < 0.01, "{runway} vs {expected}");
    assert_eq!(
        ups.summary,
        format!("on battery, ~{} min left", (expected as u64 + 30) / 60)
    );
}

#[tokio::test]
async fn ups_on_battery_degrades_with_the_runway_warns_then_goes_down() {
    let Some(agent) = Agent::start("ups_runway") else {
        return;
    };
    agent.ups(3, 2, Some(180), 100);
    let toml = format!(
        "[[targets]]\nid = \"ky-anh-ups\"\nname = \"UPS trạm Kỳ Anh\"\nkind = \"snmp\"\n\
         address = \"{}\"\ncommunity_file = \"community\"\npreset = \"ups\"\n\
         runway_warn = \"20m\"\ninterval = \"1s\"\ntimeout = \"800ms\"\n\
         failure_threshold = 1\nsuccess_threshold = 1\noperator = \"viettel\"\n",
        agent.addr()
    );
    let app = common::start_app(agent.path(), &toml).await;
    let addr = app.local_addr();
    let wait_state = |want, cause| wait_state(addr, "ky-anh-ups", want, cause);
    wait_state("up", "").await;

    // The grid fails: on battery, 42 minutes left.
    agent.ups(5, 2, Some(42), 70);
    let detail = wait_state("degraded", "on battery, ~42 min left").await;
    assert!(!detail.contains("runway ("), "above the warning: {detail}");
    let metrics = common::get_text(addr, "/metrics").await.1;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("commwatch_battery_runway_seconds{"))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(line.contains("target=\"ky-anh-ups\""), "{line}");
    assert!(line.ends_with(" 2520"), "{line}");
    let problems = common::promtool_check_metrics(&metrics);
    assert!(
        !problems.lines().any(|l| l.contains("battery_runway")),
        "{problems}"
    );

    // The battery drains below the 20 minute warning.
    agent.ups(5, 3, Some(12), 20);
    let detail = wait_state("degraded", "on battery, ~12 min left").await;
    assert!(detail.contains("runway (720s) >= 1200s"), "{detail}");

    // Exhausted: the site goes dark.
    agent.ups(5, 4, Some(0), 0);
    wait_state("down", "battery exhausted").await;

    // The grid is back: up, and the runway series is gone.
    agent.ups(3, 2, Some(180), 40);
    wait_state("up", "").await;
    let metrics = common::get_text(addr, "/metrics").await.1;
    assert!(
        !metrics.contains("commwatch_battery_runway_seconds{"),
        "{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn commwatch_probe_prints_the_values_and_the_json_facts() {
    let Some(agent) = Agent::start("probe_cli") else {
        return;
    };
    agent.ups(5, 2, Some(42), 70);
    let cfg = agent.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[targets]]\nid = \"ups\"\nkind = \"snmp\"\naddress = \"{}\"\n\
             community_file = \"community\"\npreset = \"ups\"\noids = [\"{SYS_UPTIME}\"]\n",
            agent.addr()
        ),
    )
    .unwrap();
    let run = |json: bool| {
        let mut args = vec!["probe", "-c", cfg.to_str().unwrap(), "ups"];
        if json {
            args.push("--json");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_commwatch"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(false);
    assert!(text.contains(&format!("{SYS_UPTIME} = ")), "{text}");
    assert!(text.contains("(timeticks)"), "{text}");
    assert!(text.contains("on battery, ~42 min left"), "{text}");
    assert!(!text.contains(COMMUNITY), "{text}");
    let json: serde_json::Value = serde_json::from_str(&run(true)).unwrap();
    let facts = json
        .pointer("/observation/facts/snmp")
        .or_else(|| json.pointer("/facts/snmp"))
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(facts["ups"]["power"], "battery");
    assert_eq!(facts["ups"]["runway"], 2520.0);
    let values = facts["values"].as_array().unwrap();
    assert!(
        values
            .iter()
            .any(|v| v["oid"] == SYS_UPTIME && v["type"] == "timeticks")
    );
}

#[tokio::test]
async fn a_heartbeat_reporting_its_battery_drives_the_same_runway() {
    let dir = tempfile::tempdir().unwrap();
    let token = "s3cret-token-for-ky-anh-bts";
    let toml = format!(
        "[[targets]]\nid = \"ky-anh-bts\"\nkind = \"heartbeat\"\ntoken = \"{token}\"\n\
         period = \"1m\"\nrunway_warn = \"20m\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\
         failure_threshold = 1\nsuccess_threshold = 1\n"
    );
    let app = common::start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    let push = |body: &'static str| async move {
        common::client()
            .post(format!("http://{addr}/api/v1/push/ky-anh-bts"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let wait_state = |want, cause| wait_state(addr, "ky-anh-bts", want, cause);
    assert_eq!(push(r#"{"on_battery": false}"#).await.status(), 200);
    wait_state("up", "").await;

    assert_eq!(
        push(r#"{"on_battery": true, "battery_minutes": 42}"#)
            .await
            .status(),
        200
    );
    // The runway counts down from the push: 42 minutes, less the seconds since.
    let detail = wait_state("degraded", "on battery, ~42 min left").await;
    assert!(!detail.contains("runway ("), "{detail}");
    let metrics = common::get_text(addr, "/metrics").await.1;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("commwatch_battery_runway_seconds{"))
        .unwrap_or_else(|| panic!("{metrics}"));
    let secs: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(secs <= 2520.0 && secs > 2500.0, "{line}");

    assert_eq!(
        push(r#"{"on_battery": true, "battery_minutes": 12}"#)
            .await
            .status(),
        200
    );
    let detail = wait_state("degraded", "on battery, ~12 min left").await;
    assert!(detail.contains(">= 1200s"), "{detail}");

    assert_eq!(
        push(r#"{"on_battery": true, "battery_minutes": 0}"#)
            .await
            .status(),
        200
    );
    wait_state("down", "battery exhausted").await;

    // Minutes without saying whether it is on battery are refused, with the reason.
    let r = push(r#"{"battery_minutes": 5}"#).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("needs `on_battery`"));

    assert_eq!(push(r#"{"status": "ok"}"#).await.status(), 200);
    wait_state("up", "").await;

    // A controller that can only fetch a URL reports its battery in the query.
    let get = |query: &'static str| async move {
        common::client()
            .get(format!(
                "http://{addr}/api/v1/push/ky-anh-bts?token={token}&{query}"
            ))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(
        get("on_battery=true&battery_minutes=35").await.status(),
        200
    );
    wait_state("degraded", "on battery, ~35 min left").await;
    let r = get("on_battery=maybe").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid_battery"));
    assert_eq!(get("on_battery=false").await.status(), 200);
    wait_state("up", "").await;
    app.shutdown().await;
}
