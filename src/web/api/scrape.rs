//! `/metrics`: the exposition rendered on the blocking pool and streamed out in pieces, so a
//! scrape of 20,000 targets (tens of megabytes of text) never sits in memory whole and the
//! first bytes leave while the rest is still being written.

use futures_util::StreamExt;
use warp::Reply;
use warp::http::StatusCode;

use crate::shared::AppState;
use crate::web::error::json_error;

/// Pieces rendered ahead of the reader: enough to keep the socket busy, few enough that a slow
/// scraper holds back the renderer instead of the renderer filling memory.
const AHEAD: usize = 4;

pub async fn serve(s: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<String, String>>(AHEAD);
    // Rendering takes a good part of a second of CPU at 20,000 targets. On a runtime worker it
    // stalled every probe timer for that long (nothing else woke to drive them), so it runs on
    // the blocking pool.
    let task = tokio::task::spawn_blocking(move || {
        s.refresh_gauges();
        // A failed send means the scraper went away: rendering stops there.
        let r = s
            .metrics
            .render_chunks(&mut |chunk| tx.blocking_send(Ok(chunk)).is_ok());
        if let Err(e) = r {
            let _ = tx.blocking_send(Err(e.to_string()));
        }
    });
    // The first piece decides the status: an error before any text is a 500.
    let first = match rx.recv().await {
        Some(Ok(first)) => first,
        Some(Err(e)) => {
            return Ok(json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics_failed",
                &e,
            ));
        }
        None => {
            let e = match task.await {
                Err(e) => e.to_string(),
                Ok(()) => "the renderer ended without output".to_string(),
            };
            return Ok(json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics_failed",
                &e,
            ));
        }
    };
    // A later error can only cut the body short, which the scraper sees as a failed scrape.
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item.map_err(std::io::Error::other), rx))
    });
    let body =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest);
    Ok(warp::reply::with_header(
        warp::reply::stream(body),
        "content-type",
        "text/plain; version=0.0.4; charset=utf-8",
    )
    .into_response())
}
