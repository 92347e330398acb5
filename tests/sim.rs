//! The endpoint simulator over real loopback sockets: every behaviour, switching at runtime,
//! address plans, and a clean shutdown.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use commwatch::rig::sim::{
    AddrPlan, Behaviour, DEFAULT_MAX_CONNECTIONS, EndpointKind, EndpointSpec, Sim, SimError,
    SimSpec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one GET and returns the status code, or the I/O error kind, or `None` on timeout.
async fn get(addr: SocketAddr, wait: Duration) -> Result<Option<u16>, ErrorKind> {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: sim\r\n\r\n").await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok());
        Ok::<_, std::io::Error>(code)
    };
    match tokio::time::timeout(wait, attempt).await {
        Ok(Ok(code)) => Ok(code),
        Ok(Err(e)) => Err(e.kind()),
        Err(_) => Ok(None),
    }
}

/// Connects and reports `Ok(true)` on success, `Ok(false)` when the handshake does not finish
/// within `wait`, or the error kind.
async fn connect(addr: SocketAddr, wait: Duration) -> Result<bool, ErrorKind> {
    match tokio::time::timeout(wait, TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(e)) => Err(e.kind()),
        Err(_) => Ok(false),
    }
}

const QUICK: Duration = Duration::from_secs(2);

#[tokio::test]
async fn http_endpoint_answers_and_follows_every_behaviour() {
    let sim = Sim::start(SimSpec::uniform(EndpointKind::Http, 3))
        .await
        .unwrap();
    let a = sim.addr(1).unwrap();
    assert!(a.ip().is_loopback());
    assert_eq!(sim.target(1), format!("http://{a}/"));

    assert_eq!(get(a, QUICK).await, Ok(Some(200)));
    assert_eq!(sim.hits(1), 1);
    assert_eq!(sim.hits(0), 0, "other endpoints untouched");

    sim.set(1, Behaviour::Status(503)).await.unwrap();
    assert_eq!(sim.behaviour(1), Some(Behaviour::Status(503)));
    assert_eq!(get(a, QUICK).await, Ok(Some(503)));

    sim.set(1, Behaviour::Slow(Duration::from_millis(300)))
        .await
        .unwrap();
    let t = Instant::now();
    assert_eq!(get(a, QUICK).await, Ok(Some(200)));
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    sim.set(1, Behaviour::Hang).await.unwrap();
    assert_eq!(
        get(a, Duration::from_millis(500)).await,
        Ok(None),
        "a hanging endpoint never answers"
    );

    sim.set(1, Behaviour::Refuse).await.unwrap();
    assert_eq!(get(a, QUICK).await, Err(ErrorKind::ConnectionRefused));

    // Recovery listens again on the very same address.
    sim.set(1, Behaviour::Healthy).await.unwrap();
    assert_eq!(sim.addr(1), Some(a));
    assert_eq!(get(a, QUICK).await, Ok(Some(200)));
    assert_eq!(get(sim.addr(2).unwrap(), QUICK).await, Ok(Some(200)));
    sim.shutdown().await;
}

#[tokio::test]
async fn tcp_endpoint_accepts_refuses_and_hangs_in_the_handshake() {
    let spec = SimSpec {
        endpoints: vec![
            EndpointSpec {
                kind: EndpointKind::Tcp,
                behaviour: Behaviour::Healthy,
            },
            EndpointSpec {
                kind: EndpointKind::Tcp,
                behaviour: Behaviour::Hang,
            },
        ],
        plan: AddrPlan::Loopback,
        max_connections: DEFAULT_MAX_CONNECTIONS,
    };
    let sim = Sim::start(spec).await.unwrap();
    let ok = sim.addr(0).unwrap();
    let hung = sim.addr(1).unwrap();
    assert_eq!(sim.target(0), ok.to_string());

    assert_eq!(connect(ok, QUICK).await, Ok(true));
    assert_eq!(
        connect(hung, Duration::from_millis(700)).await,
        Ok(false),
        "the handshake of a hanging TCP endpoint never completes"
    );

    sim.set(0, Behaviour::Refuse).await.unwrap();
    assert_eq!(connect(ok, QUICK).await, Err(ErrorKind::ConnectionRefused));
    sim.set(0, Behaviour::Hang).await.unwrap();
    assert_eq!(connect(ok, Duration::from_millis(700)).await, Ok(false));
    sim.set(0, Behaviour::Healthy).await.unwrap();
    assert_eq!(connect(ok, QUICK).await, Ok(true));

    sim.set(1, Behaviour::Healthy).await.unwrap();
    assert_eq!(connect(hung, QUICK).await, Ok(true));
    // Poll briefly: the accept runs on the simulator's task.
    for _ in 0..100 {
        if sim.hits(0) >= 2 && sim.hits(1) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(sim.hits(0) >= 2, "{}", sim.hits(0));
    assert!(sim.hits(1) >= 1);

    assert!(matches!(
        sim.set(0, Behaviour::Status(500)).await,
        Err(SimError::Unsupported(0, EndpointKind::Tcp, _))
    ));
    assert!(matches!(
        sim.set(9, Behaviour::Healthy).await,
        Err(SimError::NoSuchEndpoint(9))
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn spread_plan_puts_each_endpoint_on_its_own_loopback_address() {
    // A base far from anything else the tests bind, with kernel-chosen ports.
    let base = Ipv4Addr::new(127, 77, 3, 250);
    let n = 600;
    let spec = SimSpec {
        endpoints: (0..n)
            .map(|i| EndpointSpec {
                kind: if i % 2 == 0 {
                    EndpointKind::Http
                } else {
                    EndpointKind::Tcp
                },
                behaviour: if i % 10 == 0 {
                    Behaviour::Refuse
                } else {
                    Behaviour::Healthy
                },
            })
            .collect(),
        plan: AddrPlan::Spread { base, port: 0 },
        max_connections: DEFAULT_MAX_CONNECTIONS,
    };
    let sim = Sim::start(spec).await.unwrap();
    let mut ips = std::collections::HashSet::new();
    for i in 0..n {
        let a = sim.addr(i).unwrap();
        assert_eq!(
            Some(a.ip()),
            AddrPlan::Spread { base, port: 0 }.addr(i).map(|x| x.ip())
        );
        assert!(ips.insert(a.ip()), "{a} reused");
    }
    // Every endpoint serves (or refuses) on its own address.
    for i in (0..n).step_by(7) {
        let a = sim.addr(i).unwrap();
        let refused = i % 10 == 0;
        if sim.kind(i) == Some(EndpointKind::Http) {
            let r = get(a, QUICK).await;
            assert_eq!(
                refused,
                r == Err(ErrorKind::ConnectionRefused),
                "{i}: {r:?}"
            );
            if !refused {
                assert_eq!(r, Ok(Some(200)));
            }
        } else {
            let r = connect(a, QUICK).await;
            assert_eq!(
                r,
                if refused {
                    Err(ErrorKind::ConnectionRefused)
                } else {
                    Ok(true)
                }
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn hanging_connections_are_bounded_and_shutdown_releases_everything() {
    let mut spec = SimSpec::uniform(EndpointKind::Http, 1);
    spec.endpoints[0].behaviour = Behaviour::Hang;
    spec.max_connections = 2;
    let sim = Sim::start(spec).await.unwrap();
    let a = sim.addr(0).unwrap();

    // Two clients hang; the third is over the bound and is closed at once (no answer, EOF).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: sim\r\n\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    for _ in 0..100 {
        if sim.hits(0) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.hits(0), 2);
    let r = get(a, QUICK).await;
    assert!(
        matches!(r, Ok(None) | Err(ErrorKind::ConnectionReset)),
        "closed without a status line: {r:?}"
    );
    assert_eq!(sim.overflow(), 1);

    // Shutdown closes the held connections and the listener, and returns.
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .expect("shutdown finishes");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(QUICK, held[0].read(&mut buf))
        .await
        .expect("held connection is closed by shutdown");
    assert!(matches!(n, Ok(0) | Err(_)));
    assert_eq!(connect(a, QUICK).await, Err(ErrorKind::ConnectionRefused));
}

#[tokio::test]
async fn commwatch_probes_see_what_the_simulator_scripts() {
    use commwatch::probe::{ErrorCode, HostPort, HttpSpec, ProbeSpec, Prober, TcpSpec};
    let spec = SimSpec {
        endpoints: vec![
            EndpointSpec {
                kind: EndpointKind::Http,
                behaviour: Behaviour::Healthy,
            },
            EndpointSpec {
                kind: EndpointKind::Tcp,
                behaviour: Behaviour::Healthy,
            },
        ],
        plan: AddrPlan::Loopback,
        max_connections: 16,
    };
    let sim = Sim::start(spec).await.unwrap();
    let prober = Prober::new().unwrap();
    let http = ProbeSpec::Http(HttpSpec::get(url::Url::parse(&sim.target(0)).unwrap()));
    let tcp = ProbeSpec::Tcp(TcpSpec {
        address: HostPort::parse(&sim.target(1)).unwrap(),
        send: None,
        expect: None,
    });
    let t = Duration::from_millis(800);

    let o = prober.run(&http, t).await;
    assert_eq!((o.error, o.facts.http_status), (None, Some(200)));
    sim.set(0, Behaviour::Status(502)).await.unwrap();
    assert_eq!(prober.run(&http, t).await.facts.http_status, Some(502));
    sim.set(0, Behaviour::Hang).await.unwrap();
    assert_eq!(prober.run(&http, t).await.error, Some(ErrorCode::Timeout));
    sim.set(0, Behaviour::Refuse).await.unwrap();
    assert_eq!(
        prober.run(&http, t).await.error,
        Some(ErrorCode::ConnRefused)
    );

    assert_eq!(prober.run(&tcp, t).await.error, None);
    sim.set(1, Behaviour::Hang).await.unwrap();
    assert_eq!(prober.run(&tcp, t).await.error, Some(ErrorCode::Timeout));
    sim.set(1, Behaviour::Refuse).await.unwrap();
    assert_eq!(
        prober.run(&tcp, t).await.error,
        Some(ErrorCode::ConnRefused)
    );
    sim.shutdown().await;
}
