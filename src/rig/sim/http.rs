//! The simulated HTTP responder: reads one request head, then answers (at once, late, with a
//! chosen status) or hangs, as the endpoint's behaviour says at that moment. One request per
//! connection, like the probes that visit it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::Behaviour;
use super::endpoint::Shared;

/// A request head larger than this is refused: probes send a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;
/// A client that does not finish its request head within this time is dropped.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// A hanging endpoint lets go of a connection after this long even if the client never does,
/// so a forgotten client cannot pin a connection slot forever.
const HANG_LIMIT: Duration = Duration::from_secs(600);

const BODY: &str = "commwatch sim\n";

pub(super) async fn serve(mut stream: TcpStream, shared: &Shared, stop: &CancellationToken) {
    let head = tokio::select! {
        r = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)) => r,
        _ = stop.cancelled() => return,
    };
    if !matches!(head, Ok(Ok(Some(_)))) {
        return;
    }
    shared.hits.fetch_add(1, Ordering::Relaxed);
    let status = match shared.behaviour() {
        Behaviour::Healthy | Behaviour::Refuse => 200,
        Behaviour::Status(code) => code,
        Behaviour::Slow(delay) => {
            tokio::select! {
                _ = tokio::time::sleep(delay) => 200,
                _ = stop.cancelled() => return,
            }
        }
        Behaviour::Hang => {
            // Hold the connection, reading and discarding, until the client gives up.
            let mut sink = [0u8; 512];
            let _ = tokio::time::timeout(HANG_LIMIT, async {
                tokio::select! {
                    _ = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} } => {}
                    _ = stop.cancelled() => {}
                }
            })
            .await;
            return;
        }
    };
    // 204 and 304 carry no body by definition; a client would read the extra bytes as junk.
    let body = if matches!(status, 204 | 304) {
        ""
    } else {
        BODY
    };
    let response = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    );
    if stream.write_all(response.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

/// Reads until the blank line that ends a request head and returns the bytes read; `None` if
/// the client closed first or sent more than [`MAX_HEAD`].
pub(super) async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        // Only the new bytes plus three before them can complete the terminator.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if buf[from..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(Some(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
