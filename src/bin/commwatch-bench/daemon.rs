//! commwatch under test, as its own process (`commwatch run -c FILE`), so its CPU and memory
//! are counted apart from the simulator and the harness; plus the readings taken from it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::BenchError;
use crate::os;

pub struct Daemon {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
    pub db: PathBuf,
    /// From spawn to `/readyz` answering 200.
    pub startup: Duration,
    client: reqwest::Client,
}

/// One look at the daemon: OS accounting, its own counters and the store.
#[derive(Debug, Clone)]
pub struct Reading {
    pub at: Instant,
    pub cpu_s: f64,
    pub rss: u64,
    pub hwm: u64,
    pub probes: f64,
    pub lateness: Vec<(f64, f64)>,
    pub rows: i64,
}

impl Daemon {
    /// Writes `config` to `dir/commwatch.toml` (its storage path must point into `dir`) and
    /// starts `bin run` on it. The config listens on port 0; the address is read from the
    /// line commwatch prints at start.
    pub async fn start(
        bin: &Path,
        dir: &Path,
        config: &str,
        db: PathBuf,
    ) -> Result<Daemon, BenchError> {
        let cfg = dir.join("commwatch.toml");
        std::fs::write(&cfg, config).map_err(|e| BenchError::io("writing the config", e))?;
        let log_path = dir.join("commwatch.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| BenchError::io("creating the daemon log", e))?;
        let began = Instant::now();
        let child = Command::new(bin)
            .arg("run")
            .arg("-c")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::io(&format!("starting {}", bin.display()), e))?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Child("commwatch exited at once".into()))?;
        let mut d = Daemon {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            db,
            startup: Duration::ZERO,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(120))
                .build()?,
        };
        d.addr = d.wait_for_address(&log_path).await?;
        d.wait_ready().await?;
        d.startup = began.elapsed();
        Ok(d)
    }

    async fn wait_for_address(&mut self, log: &Path) -> Result<SocketAddr, BenchError> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                return Err(BenchError::Child(format!(
                    "commwatch exited ({status}) at start:\n{tail}"
                )));
            }
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(addr) = text.lines().find_map(|l| {
                l.split("status page at http://")
                    .nth(1)
                    .and_then(|r| r.trim_end_matches('/').parse().ok())
            }) {
                return Ok(addr);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BenchError::Child(
            "commwatch did not report its address".into(),
        ))
    }

    async fn wait_ready(&self) -> Result<(), BenchError> {
        let url = format!("http://{}/readyz", self.addr);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = self.client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BenchError::Child("commwatch never became ready".into()))
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// GETs `path`; returns (time to first byte, total time, body).
    pub async fn get(&self, path: &str) -> Result<(Duration, Duration, Vec<u8>), BenchError> {
        let t = Instant::now();
        let r = self
            .client
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await?;
        let ttfb = t.elapsed();
        if !r.status().is_success() {
            return Err(BenchError::Child(format!("{path} answered {}", r.status())));
        }
        let body = r.bytes().await?.to_vec();
        Ok((ttfb, t.elapsed(), body))
    }

    /// Samples in the store so far.
    fn rows(&self) -> Result<i64, BenchError> {
        let c = commwatch::store::open_read_only(&self.db)
            .map_err(|e| BenchError::Child(e.to_string()))?;
        c.busy_timeout(Duration::from_secs(10))?;
        Ok(c.query_row("SELECT count(*) FROM samples", [], |r| r.get(0))?)
    }

    pub async fn reading(&self) -> Result<Reading, BenchError> {
        let (_, _, body) = self.get("/metrics").await?;
        let text = String::from_utf8_lossy(&body);
        let cpu_s = os::cpu_seconds(self.pid).map_err(|e| BenchError::io("reading CPU", e))?;
        let (rss, hwm) = os::memory(self.pid).map_err(|e| BenchError::io("reading memory", e))?;
        Ok(Reading {
            at: Instant::now(),
            cpu_s,
            rss,
            hwm,
            probes: crate::promtext::sum(&text, "commwatch_probes_total"),
            lateness: crate::promtext::buckets(&text, "commwatch_schedule_lateness_seconds"),
            rows: self.rows()?,
        })
    }

    /// SIGTERM, then wait for the graceful exit (in-flight probes time out, the store
    /// flushes); killed if it takes longer than `grace`.
    pub async fn stop(mut self, grace: Duration) -> Result<Duration, BenchError> {
        let t = Instant::now();
        os::terminate(self.pid).map_err(|e| BenchError::io("stopping commwatch", e))?;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(s)) if s.success() => Ok(t.elapsed()),
            Ok(Ok(s)) => Err(BenchError::Child(format!("commwatch exited with {s}"))),
            Ok(Err(e)) => Err(BenchError::io("waiting for commwatch", e)),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(BenchError::Child(format!(
                    "commwatch did not stop within {grace:?}"
                )))
            }
        }
    }
}
