//! Child processes of the harness: simulator shards and probe-load workers (this same binary
//! started with an internal verb), each talking over stdin/stdout lines. A child ends when
//! its stdin closes, so nothing outlives the harness.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use commwatch::rig::sim::spread_ip;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::BenchError;
use crate::silence::Silence;

/// A running child of this binary.
pub struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    what: String,
}

impl Helper {
    pub async fn spawn_self(args: &[String], what: &str) -> Result<Helper, BenchError> {
        let exe = std::env::current_exe().map_err(|e| BenchError::io("locating myself", e))?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::io(&format!("starting {what}"), e))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Child(format!("{what}: no stdout")))?;
        Ok(Helper {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            what: what.to_string(),
        })
    }

    pub fn pid(&self) -> Result<u32, BenchError> {
        self.child
            .id()
            .ok_or_else(|| BenchError::Child(format!("{} has exited", self.what)))
    }

    /// The next line that starts with `prefix`, with the prefix and a space removed.
    pub async fn expect(&mut self, prefix: &str, wait: Duration) -> Result<String, BenchError> {
        let what = self.what.clone();
        let fut = async {
            loop {
                match self.lines.next_line().await {
                    Ok(Some(l)) => {
                        if let Some(rest) = l.strip_prefix(prefix) {
                            return Ok(rest.trim().to_string());
                        }
                    }
                    Ok(None) => {
                        return Err(BenchError::Child(format!(
                            "{what} ended before saying `{prefix}`"
                        )));
                    }
                    Err(e) => return Err(BenchError::io(&what, e)),
                }
            }
        };
        tokio::time::timeout(wait, fut)
            .await
            .map_err(|_| BenchError::Child(format!("{what} did not say `{prefix}` in {wait:?}")))?
    }

    pub async fn send(&mut self, line: &str) -> Result<(), BenchError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| BenchError::Child(format!("{}: stdin closed", self.what)))?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| BenchError::io(&self.what, e))?;
        stdin
            .flush()
            .await
            .map_err(|e| BenchError::io(&self.what, e))
    }

    /// Closes stdin (the child's signal to stop) and waits; kills it after `grace`.
    pub async fn finish(mut self, grace: Duration) {
        drop(self.stdin.take());
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// What a worker run measured: its `done` line and its process's CPU seconds from `go` to
/// `done`, and peak resident memory.
pub struct WorkerRun {
    pub done: String,
    pub cpu_s: f64,
    pub peak_rss: u64,
}

/// Runs this binary with `args` as a worker (see [`serve_once`]): waits for `ready`, reads the
/// worker's CPU time, says `go`, waits up to `limit` for `done`, reads CPU and memory again.
pub async fn run_worker(
    args: &[String],
    what: &str,
    limit: Duration,
) -> Result<WorkerRun, BenchError> {
    let mut w = Helper::spawn_self(args, what).await?;
    w.expect("ready", Duration::from_secs(30)).await?;
    let pid = w.pid()?;
    let cpu0 = crate::os::cpu_seconds(pid).map_err(|e| BenchError::io("reading CPU", e))?;
    w.send("go").await?;
    let done = w.expect("done", limit).await?;
    let cpu1 = crate::os::cpu_seconds(pid).map_err(|e| BenchError::io("reading CPU", e))?;
    let (_, peak_rss) = crate::os::memory(pid).map_err(|e| BenchError::io("reading memory", e))?;
    w.finish(Duration::from_secs(10)).await;
    Ok(WorkerRun {
        done,
        cpu_s: cpu1 - cpu0,
        peak_rss,
    })
}

/// The worker's side of [`run_worker`]: says `ready`, waits for `go` on stdin, runs `work`,
/// says `done {json}`, then waits for stdin to close.
pub async fn serve_once<T, F, Fut>(work: F) -> Result<(), BenchError>
where
    T: serde::Serialize,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    println!("ready");
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(l)) = stdin.next_line().await {
        if l.trim() == "go" {
            break;
        }
    }
    let r = work().await;
    println!("done {}", serde_json::to_string(&r)?);
    while let Ok(Some(_)) = stdin.next_line().await {}
    Ok(())
}

/// One character per simulated endpoint, for `sim-serve --layout`.
pub mod layout {
    pub const HTTP: char = 'H';
    pub const HTTP_HANG: char = 'h';
    pub const HTTP_SLOW: char = 's';
    pub const TCP: char = 'T';
    pub const TCP_HANG: char = 't';
    pub const DNS: char = 'D';
    pub const DNS_HANG: char = 'd';
    /// An address that answers pings (nothing is bound; the kernel answers).
    pub const PING: char = 'I';
    /// An address whose pings go unanswered ([`crate::silence`]).
    pub const PING_SILENT: char = 'i';
}

/// Simulator shards: one process holds at most `per_shard` endpoints, so the listeners fit in
/// its descriptor limit. Endpoint `i` is at `spread_ip(base, i):port` whichever shard has it.
/// Ping addresses need no process; the silent ones are dropped by the harness's firewall
/// table for as long as the fleet lives.
pub struct SimFleet {
    shards: Vec<Helper>,
    /// Every ping address of the layout.
    pings: Vec<Ipv4Addr>,
    silence: Option<Silence>,
}

impl SimFleet {
    pub async fn start(
        layout: &str,
        base: Ipv4Addr,
        port: u16,
        slow_ms: u64,
        per_shard: usize,
    ) -> Result<SimFleet, BenchError> {
        let chars: Vec<char> = layout.chars().collect();
        let ping_at = |letters: &[char]| -> Result<Vec<Ipv4Addr>, BenchError> {
            chars
                .iter()
                .enumerate()
                .filter(|(_, c)| letters.contains(c))
                .map(|(i, _)| {
                    spread_ip(base, i)
                        .ok_or_else(|| BenchError::Child("simulator addresses exhausted".into()))
                })
                .collect()
        };
        let pings = ping_at(&[layout::PING, layout::PING_SILENT])?;
        let silent = ping_at(&[layout::PING_SILENT])?;
        let silence = if silent.is_empty() {
            None
        } else {
            let s = Silence::new()?;
            s.add(&silent)?;
            Some(s)
        };
        let mut shards = Vec::new();
        for (k, chunk) in chars.chunks(per_shard.max(1)).enumerate() {
            let first = spread_ip(base, k * per_shard.max(1))
                .ok_or_else(|| BenchError::Child("simulator addresses exhausted".into()))?;
            let args: Vec<String> = vec![
                "sim-serve".into(),
                "--base".into(),
                first.to_string(),
                "--port".into(),
                port.to_string(),
                "--slow-ms".into(),
                slow_ms.to_string(),
                "--layout".into(),
                chunk.iter().collect(),
            ];
            let mut h = Helper::spawn_self(&args, &format!("simulator shard {k}")).await?;
            h.expect("ready", Duration::from_secs(60)).await?;
            shards.push(h);
        }
        Ok(SimFleet {
            shards,
            pings,
            silence,
        })
    }

    /// Requests answered so far by every shard.
    pub async fn hits(&mut self) -> Result<u64, BenchError> {
        let mut total = 0;
        for s in &mut self.shards {
            s.send("hits").await?;
            let v = s.expect("hits", Duration::from_secs(10)).await?;
            total += v
                .parse::<u64>()
                .map_err(|_| BenchError::Child(format!("bad hits line `{v}`")))?;
        }
        Ok(total)
    }

    /// Every endpoint of every shard refuses connections, and every ping address falls silent,
    /// from now on; returns once all listeners are closed. Shards are told at once and work
    /// in parallel while the pings are silenced.
    pub async fn refuse_all(&mut self) -> Result<(), BenchError> {
        for s in &mut self.shards {
            s.send("refuse-all").await?;
        }
        if !self.pings.is_empty() {
            let silence = match self.silence.as_ref() {
                Some(s) => s,
                None => self.silence.insert(Silence::new()?),
            };
            silence.add(&self.pings)?;
        }
        for s in &mut self.shards {
            s.expect("refused", Duration::from_secs(60)).await?;
        }
        Ok(())
    }

    pub async fn stop(self) {
        for s in self.shards {
            s.finish(Duration::from_secs(15)).await;
        }
    }
}
