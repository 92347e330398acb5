//! Portal probe against the simulated provincial portal on loopback: it learns the dynamic
//! page, stays quiet over hundreds of fetches of rotating news, dates, counters and banners,
//! catches every compromise the simulator serves within two fetches, keeps its profile across
//! a restart, and the hostile evidence of a defacement reaches the page escaped.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::duplicate_mod)]
mod common;
mod support;

use std::time::Duration;

use commwatch::check::Sample;
use commwatch::config::Target;
use commwatch::probe::{Integrity, PortalFacts, PortalProfiles, Prober, SignalKind};
use commwatch::rig::sim::portal::{Compromise, PortalSim};
use support::{probe, prober, target};

/// Fixed so every run serves the same sequence of pages.
const SEED: u64 = 20_261_204;
const QUIET_FETCHES: usize = 500;

fn portal_target(url: &str, extra: &str) -> Target {
    target(&format!(
        "id = \"ht-portal\"\nkind = \"portal\"\nurl = \"{url}\"\ninterval = \"10s\"\ntimeout = \"5s\"\n{extra}"
    ))
}

async fn fetch(prober: &Prober, t: &Target) -> (PortalFacts, Sample) {
    let (obs, sample) = probe(prober, t).await;
    let facts = obs
        .facts
        .portal
        .clone()
        .unwrap_or_else(|| panic!("no portal facts: {:?} {:?}", obs.error, obs.error_detail));
    (facts, sample)
}

fn kinds(f: &PortalFacts) -> Vec<SignalKind> {
    f.signals.iter().map(|s| s.kind).collect()
}

#[tokio::test]
async fn learns_stays_quiet_on_the_dynamic_page_and_catches_each_compromise_within_two_fetches() {
    let sim = PortalSim::start(SEED).await.unwrap();
    let t = portal_target(&sim.url(), "");
    let prober = prober();

    // Learning: the default 24 fetches, each reported as learning and passing.
    for i in 0..commwatch::probe::DEFAULT_LEARN_FETCHES {
        let (f, s) = fetch(&prober, &t).await;
        assert_eq!(
            f.integrity,
            Integrity::Learning,
            "fetch {i}: {:?}",
            f.signals
        );
        assert!(s.ok, "fetch {i}: {:?}", s.detail);
        assert!(
            f.crawler_checked,
            "the crawler fetch is compared from the start"
        );
    }

    // The dynamic page raises no alarm, however its news, dates, counters and banner turn.
    let mut titles_seen = std::collections::BTreeSet::new();
    let before = sim.hits();
    for i in 0..QUIET_FETCHES {
        let (f, s) = fetch(&prober, &t).await;
        assert_eq!(
            f.integrity,
            Integrity::Ok,
            "false alarm on quiet fetch {i}: {:?}",
            f.signals
        );
        assert!(s.ok, "quiet fetch {i}: {:?}", s.detail);
        assert_eq!(f.stable_present, Some(1.0), "fetch {i}");
        titles_seen.insert(f.title.clone());
    }
    // Two requests per fetch (browser and crawler): the run really fetched each time.
    assert_eq!(sim.hits() - before, 2 * QUIET_FETCHES as u64);
    assert_eq!(titles_seen.len(), 1);
    let (f, _) = fetch(&prober, &t).await;
    let p = &f.profile;
    assert_eq!(p.fetches, 24);
    assert_eq!(
        p.title.as_deref(),
        Some("Cổng thông tin điện tử tỉnh Hà Tĩnh")
    );
    assert!(p.stable_blocks >= 15, "{p:?}");
    // The page is dynamic: blocks changed between learning fetches, and that was no alarm.
    assert!(p.change_max > 0.1, "{p:?}");

    let cases = [
        (Compromise::Defaced, SignalKind::Defacement),
        (Compromise::HiddenGambling, SignalKind::HiddenLinks),
        (Compromise::ForeignScript, SignalKind::NewOrigin),
        (Compromise::TitleReplaced, SignalKind::TitleReplaced),
        (Compromise::CrawlerSpam, SignalKind::Cloaking),
        (Compromise::Redirect, SignalKind::ForeignRedirect),
    ];
    for (compromise, want) in cases {
        sim.set(compromise);
        let mut caught = None;
        for n in 1..=2 {
            let (f, s) = fetch(&prober, &t).await;
            if kinds(&f).contains(&want) {
                caught = Some((n, f, s));
                break;
            }
        }
        let (n, f, s) =
            caught.unwrap_or_else(|| panic!("{compromise:?} not detected within two fetches"));
        assert_eq!(n, 1, "{compromise:?} is caught on the first fetch");
        assert_eq!(f.integrity, Integrity::Compromised);
        assert!(
            !s.ok,
            "{compromise:?}: a compromised portal fails its integrity check"
        );
        let detail = s.detail.clone().unwrap_or_default();
        assert!(
            detail.contains(&format!("integrity (COMPROMISED: {}", want_first(&f))),
            "{compromise:?}: {detail}"
        );
        assert!(detail.contains(want.as_str()), "{compromise:?}: {detail}");
        match compromise {
            Compromise::Defaced => {
                for k in [
                    SignalKind::TitleReplaced,
                    SignalKind::HeadingReplaced,
                    SignalKind::StructureGone,
                ] {
                    assert!(kinds(&f).contains(&k), "{k:?} in {:?}", f.signals);
                }
                let evidence = f.signals[0].excerpt.clone().unwrap_or_default();
                assert!(
                    evidence.contains("Hacked by Sh4d0w <script>alert(1)</script> Team"),
                    "the excerpt is the page's text: {evidence}"
                );
            }
            Compromise::HiddenGambling => {
                assert!(kinds(&f).contains(&SignalKind::Spam), "{:?}", f.signals);
                let hidden = f.signals.iter().find(|s| s.kind == want).unwrap();
                assert!(
                    hidden.detail.contains("nhacai.example.invalid"),
                    "{hidden:?}"
                );
                assert_eq!(f.hidden_links, 3);
            }
            Compromise::ForeignScript => {
                assert_eq!(
                    f.signals[0].detail,
                    format!("script {}", sim.foreign_origin())
                );
                assert_eq!(kinds(&f), vec![SignalKind::NewOrigin], "only the script");
            }
            Compromise::TitleReplaced => {
                assert_eq!(kinds(&f), vec![SignalKind::TitleReplaced]);
                assert_eq!(
                    f.signals[0].excerpt.as_deref(),
                    Some("Trang web đang được bảo trì")
                );
            }
            Compromise::CrawlerSpam => {
                // The browser's page is clean: only the difference shows it.
                assert_eq!(kinds(&f), vec![SignalKind::Cloaking]);
                assert!(f.signals[0].detail.contains("nổ hũ"), "{:?}", f.signals);
            }
            Compromise::Redirect => {
                assert!(
                    f.signals[0]
                        .detail
                        .contains(&format!("to {}", sim.foreign_origin())),
                    "{:?}",
                    f.signals
                );
            }
            Compromise::None => unreachable!(),
        }
        // The editors restore the page: the next fetch is clean again (the profile did not
        // learn the compromise).
        sim.set(Compromise::None);
        let (f, s) = fetch(&prober, &t).await;
        assert_eq!(
            f.integrity,
            Integrity::Ok,
            "after {compromise:?}: {:?}",
            f.signals
        );
        assert!(s.ok);
    }
    sim.shutdown().await;
}

/// The name of the first signal: what the resolved check starts its cause with.
fn want_first(f: &PortalFacts) -> &'static str {
    f.signals[0].kind.as_str()
}

#[tokio::test]
async fn the_profile_survives_a_restart_and_a_one_shot_probe_never_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let sim = PortalSim::start(SEED + 1).await.unwrap();
    let t = portal_target(&sim.url(), "learn_fetches = 3");
    let first = prober().with_portal_profiles(PortalProfiles::in_dir(dir.path().to_path_buf()));
    for _ in 0..3 {
        assert_eq!(fetch(&first, &t).await.0.integrity, Integrity::Learning);
    }
    assert_eq!(fetch(&first, &t).await.0.integrity, Integrity::Ok);
    let file = dir.path().join("ht-portal.json");
    assert!(file.exists(), "the profile is kept in the data folder");
    drop(first);

    // A new process (a restart) scores its first fetch against the kept profile: a page
    // compromised while commwatch was down is not learned as the normal page.
    sim.set(Compromise::TitleReplaced);
    let second = prober().with_portal_profiles(PortalProfiles::in_dir(dir.path().to_path_buf()));
    let (f, s) = fetch(&second, &t).await;
    assert_eq!(f.integrity, Integrity::Compromised, "{:?}", f.signals);
    assert_eq!(kinds(&f), vec![SignalKind::TitleReplaced]);
    assert!(!s.ok);
    assert_eq!(f.profile.fetches, 3);

    // A one-shot probe reads the kept profile and never writes: the daemon's stays as learned.
    let kept = std::fs::read(&file).unwrap();
    let one_shot =
        prober().with_portal_profiles(PortalProfiles::read_only(dir.path().to_path_buf()));
    assert_eq!(
        fetch(&one_shot, &t).await.0.integrity,
        Integrity::Compromised
    );
    let fresh = tempfile::tempdir().unwrap();
    let empty =
        prober().with_portal_profiles(PortalProfiles::read_only(fresh.path().to_path_buf()));
    // With no profile kept it learns, in memory only.
    assert_eq!(fetch(&empty, &t).await.0.integrity, Integrity::Learning);
    assert_eq!(std::fs::read(&file).unwrap(), kept);
    assert!(std::fs::read_dir(fresh.path()).unwrap().next().is_none());

    // Another URL for the same target learns again instead of comparing with another page.
    sim.set(Compromise::None);
    let moved = portal_target(&format!("{}?trang=2", sim.url()), "learn_fetches = 3");
    assert_eq!(
        fetch(&second, &moved).await.0.integrity,
        Integrity::Learning
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn without_cloaking_one_request_per_fetch_and_crawler_spam_goes_unseen() {
    let sim = PortalSim::start(SEED + 2).await.unwrap();
    let t = portal_target(&sim.url(), "learn_fetches = 2\ncloaking = false");
    let prober = prober();
    for _ in 0..3 {
        fetch(&prober, &t).await;
    }
    assert_eq!(sim.hits(), 3, "no crawler fetch");
    sim.set(Compromise::CrawlerSpam);
    let (f, s) = fetch(&prober, &t).await;
    assert!(!f.crawler_checked);
    assert_eq!(f.integrity, Integrity::Ok, "{:?}", f.signals);
    assert!(s.ok);
    sim.shutdown().await;
}

/// Prometheus scraping `/probe` as often as it likes must not finish a portal's learning: an
/// on-demand probe is scored against the profile and teaches it nothing.
#[tokio::test]
async fn probes_on_demand_do_not_teach_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let sim = PortalSim::start(SEED + 4).await.unwrap();
    let app = common::start_app_sqlite(
        dir.path(),
        &format!(
            "[[targets]]\nid = \"ht-portal\"\nkind = \"portal\"\nurl = \"{}\"\n\
             interval = \"1h\"\ntimeout = \"900ms\"\nlearn_fetches = 24\n",
            sim.url()
        ),
    )
    .await;
    let addr = app.local_addr();
    let file = dir.path().join("portal/ht-portal.json");
    // The schedule's first fetch of this id comes minutes into its hour, after this test.
    assert!(
        commwatch::scheduler::first_offset("ht-portal", Duration::from_secs(3_600))
            > Duration::from_secs(60)
    );
    let hits = sim.hits();
    for _ in 0..3 {
        let (status, body) = common::get_text(addr, "/probe?target=ht-portal").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("probe_success 1"), "{body}");
    }
    // The portal was fetched three times (browser and crawler each), and nothing was learned:
    // a learning fetch writes the profile.
    assert_eq!(sim.hits(), hits + 6);
    assert!(!file.exists(), "an on-demand probe wrote the profile");
    app.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn hostile_evidence_is_escaped_on_the_target_page_and_kept_as_text_in_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let sim = PortalSim::start(SEED + 3).await.unwrap();
    let app = common::start_app_sqlite(
        dir.path(),
        &format!(
            r#"
[[targets]]
id = "ht-portal"
name = "Cổng thông tin tỉnh"
kind = "portal"
url = "{}"
interval = "1s"
timeout = "900ms"
failure_threshold = 1
learn_fetches = 2
"#,
            sim.url()
        ),
    )
    .await;
    let addr = app.local_addr();
    // Learned once two fetches passed (each fetch is two requests: browser and crawler).
    common::wait_for(Duration::from_secs(20), "two learning fetches", || async {
        dir.path()
            .join("portal/ht-portal.json")
            .exists()
            .then_some(())
            .filter(|_| sim.hits() >= 6)
    })
    .await;
    sim.set(Compromise::Defaced);
    let detail = common::wait_for(Duration::from_secs(20), "the defacement", || async {
        let v = common::get_json(addr, "/api/v1/targets/ht-portal").await;
        let d = v["target"]["last"]["detail"]
            .as_str()
            .unwrap_or("")
            .to_string();
        d.contains("defacement").then_some(d)
    })
    .await;
    // The API keeps the evidence as text (JSON carries it safely).
    assert!(
        detail.contains("Hacked by Sh4d0w <script>alert(1)</script> Team"),
        "{detail}"
    );
    assert!(
        detail.starts_with("integrity (COMPROMISED: defacement"),
        "{detail}"
    );
    // The portal answers 200, yet the target is down: its integrity check fails.
    common::wait_for(Duration::from_secs(20), "the portal down", || async {
        let s = common::states(addr).await;
        (s["ht-portal"]["state"] == "down").then_some(())
    })
    .await;
    let (status, html) = common::get_text(addr, "/targets/ht-portal").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the evidence is shown, escaped"
    );
    assert!(!html.contains("<script>alert(1)"), "never as markup");
    app.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn commwatch_probe_prints_the_integrity_facts_and_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let sim = PortalSim::start(SEED + 4).await.unwrap();
    let cfg_path = dir.path().join("c.toml");
    std::fs::write(
        &cfg_path,
        format!(
            r#"
[storage]
path = "{}"

[[targets]]
id = "ht-portal"
kind = "portal"
url = "{}"
interval = "10s"
timeout = "5s"
learn_fetches = 2
"#,
            dir.path().join("data/commwatch.db").display(),
            sim.url()
        ),
    )
    .unwrap();
    // The daemon's prober learns into the data folder the configuration names.
    let cfg = commwatch::config::Config::load(&cfg_path).unwrap();
    let daemon = prober().with_portal_profiles(PortalProfiles::in_dir(cfg.storage.portal_dir()));
    let t = cfg.target("ht-portal").unwrap().clone();
    for _ in 0..2 {
        fetch(&daemon, &t).await;
    }
    sim.set(Compromise::HiddenGambling);
    let path = cfg_path.to_string_lossy().into_owned();
    let (code, text) = tokio::task::spawn_blocking(move || {
        support::commwatch(&["probe", "-c", &path, "ht-portal"])
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{text}");
    for want in [
        "FAIL  ht-portal (portal) portal http://127.0.0.1:",
        "integrity: compromised",
        "learned:   2 of 2 fetches",
        "title:     \"Cổng thông tin điện tử tỉnh Hà Tĩnh\"",
        "signal:    spam nhà cái, nổ hũ, tài xỉu",
        "signal:    hidden_links 3 hidden links to nhacai.example.invalid",
        "profile:   2 fetches,",
        "check FAIL: integrity (COMPROMISED: spam",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    sim.shutdown().await;
}
