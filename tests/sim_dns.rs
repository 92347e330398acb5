//! The simulator's DNS endpoints, probed with commwatch's own DNS probe: answers with the
//! endpoint's loopback address, late, never, or not at all, and recovers on the same address.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use commwatch::rig::sim::{
    AddrPlan, Behaviour, EndpointKind, EndpointSpec, Sim, SimError, SimSpec,
};
use support::{probe, prober, target};

fn dns_target(server: &str) -> commwatch::config::Target {
    target(&format!(
        "id = \"ht-dns-sim\"\nkind = \"dns\"\nserver = \"{server}\"\nquery = \"portal.ha-tinh.example\"\n\
         interval = \"5s\"\ntimeout = \"600ms\"\ndegraded = [\"latency < 150ms\"]"
    ))
}

#[tokio::test]
async fn dns_endpoint_answers_and_follows_every_behaviour() {
    let sim = Sim::start(SimSpec {
        endpoints: vec![
            EndpointSpec {
                kind: EndpointKind::Dns,
                behaviour: Behaviour::Healthy,
            };
            2
        ],
        plan: AddrPlan::Spread {
            base: "127.42.250.1".parse().unwrap(),
            port: 0,
        },
        max_connections: 16,
    })
    .await
    .unwrap();
    let addr = sim.addr(1).unwrap();
    assert_eq!(addr.ip().to_string(), "127.42.250.2");
    assert_eq!(sim.target(1), addr.to_string());
    let t = dns_target(&sim.target(1));
    let p = prober();

    let (obs, sample) = probe(&p, &t).await;
    assert!(sample.ok && !sample.degraded, "{:?}", sample.checks);
    let dns = obs.facts.dns.clone().expect("dns facts");
    assert_eq!(dns.rcode, "NOERROR");
    assert_eq!(dns.answers, ["127.42.250.2"]);
    assert_eq!(sim.hits(1), 1);
    assert_eq!(sim.hits(0), 0);

    // Slow: answered, but past the degraded limit.
    sim.set(1, Behaviour::Slow(Duration::from_millis(300)))
        .await
        .unwrap();
    let (obs, sample) = probe(&p, &t).await;
    assert!(sample.ok && sample.degraded, "{:?}", sample.checks);
    assert!(obs.duration >= Duration::from_millis(300));

    // Hang: read, never answered.
    sim.set(1, Behaviour::Hang).await.unwrap();
    let before = sim.hits(1);
    let (_, sample) = probe(&p, &t).await;
    assert!(!sample.ok);
    assert!(sim.hits(1) > before, "the query arrived");

    // Refuse: nothing listens; the query is not read.
    sim.set(1, Behaviour::Refuse).await.unwrap();
    let before = sim.hits(1);
    let (_, sample) = probe(&p, &t).await;
    assert!(!sample.ok);
    assert_eq!(sim.hits(1), before);

    // Back on the same address.
    sim.set(1, Behaviour::Healthy).await.unwrap();
    assert_eq!(sim.addr(1), Some(addr));
    let (_, sample) = probe(&p, &t).await;
    assert!(sample.ok, "{:?}", sample.checks);

    assert!(matches!(
        sim.set(1, Behaviour::Status(503)).await,
        Err(SimError::Unsupported(1, EndpointKind::Dns, _))
    ));
    sim.shutdown().await;
}
