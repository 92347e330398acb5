//! JSON request bodies for every write endpoint: `413` over the size limit, `415` for a content
//! type other than JSON, and `400 invalid_body` naming the field at fault ("scope: invalid type:
//! integer, expected a map"), always as the API's JSON error — never a `405` from a sibling GET
//! route, which is what warp's own body filters lose to when routes are combined.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::error::{ApiError, reject};

/// The body as `T`, at most `limit` bytes, all of it within `timeout` of the headers. A missing
/// `Content-Type` is taken as JSON (scripts often omit it); one that says something else is
/// refused.
pub fn json<T: DeserializeOwned + Send>(
    limit: u64,
    timeout: Duration,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|ct: Option<String>| async move { media_type(ct.as_deref()).map_err(reject) })
        .untuple_one()
        .and(bytes(limit, timeout))
        .and_then(|b: Bytes| async move { decode::<T>(&b).map_err(reject) })
}

/// A page form (`application/x-www-form-urlencoded`) as a map, with the limits of [`json`].
pub fn form(
    limit: u64,
    timeout: Duration,
) -> impl Filter<Extract = (HashMap<String, String>,), Error = Rejection> + Clone {
    bytes(limit, timeout).map(|b: Bytes| url::form_urlencoded::parse(&b).into_owned().collect())
}

/// The raw body: `413` past `limit` bytes (announced or arrived), `408` when it does not arrive
/// within `timeout` — a client that sends headers and then trickles (or never sends) the body
/// would otherwise hold its connection and a task for as long as it likes.
pub fn bytes(
    limit: u64,
    timeout: Duration,
) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |len: Option<u64>, body| async move {
            if len.is_some_and(|n| n > limit) {
                return Err(reject(too_large(limit)));
            }
            read(body, limit, timeout).await.map_err(reject)
        })
}

/// Reads a body stream of at most `limit` bytes within `timeout` (`413`, `408`).
pub async fn read(
    body: impl Stream<Item = Result<impl Buf, warp::Error>> + Unpin,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(timeout, collect(body, limit)).await {
        Ok(r) => r,
        Err(_) => Err(ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "body_timeout",
            message: format!(
                "the body did not arrive within {}",
                humantime::format_duration(timeout)
            ),
        }),
    }
}

/// Reads the body, stopping as soon as it passes `limit` (a chunked body carries no length).
async fn collect(
    mut body: impl Stream<Item = Result<impl Buf, warp::Error>> + Unpin,
    limit: u64,
) -> Result<Bytes, ApiError> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk
            .map_err(|e| ApiError::bad_request("invalid_body", format!("reading the body: {e}")))?;
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
        if out.len() as u64 > limit {
            return Err(too_large(limit));
        }
    }
    Ok(out.freeze())
}

fn too_large(limit: u64) -> ApiError {
    ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "payload_too_large",
        message: format!("request body too large: at most {limit} bytes"),
    }
}

/// `415` unless `ct` names JSON (or is absent).
pub fn media_type(ct: Option<&str>) -> Result<(), ApiError> {
    let Some(ct) = ct else { return Ok(()) };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: format!("send application/json, not `{essence}`"),
        })
    }
}

/// Decodes `bytes`, naming the path of the field that failed (`leaders[1]`, `expected_down.until`).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path.is_empty() || path == "." {
            format!("the body is not valid here: {inner}")
        } else {
            format!("{path}: {inner}")
        };
        ApiError::bad_request("invalid_body", message)
    })?;
    // Trailing bytes after one JSON value are an error too (`{..}{..}`).
    de.end()
        .map_err(|e| ApiError::bad_request("invalid_body", format!("after the body: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        name: String,
        leaders: Option<Vec<String>>,
    }

    #[test]
    fn errors_name_the_field() {
        let e = decode::<Req>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(e.code, "invalid_body");
        assert!(e.message.starts_with("name: invalid type"), "{}", e.message);
        let e = decode::<Req>(br#"{"name": "x", "leaders": ["a", 3]}"#).unwrap_err();
        assert!(e.message.starts_with("leaders[1]: "), "{}", e.message);
        let e = decode::<Req>(br#"{"nam": "x"}"#).unwrap_err();
        assert!(e.message.contains("unknown field `nam`"), "{}", e.message);
        let e = decode::<Req>(b"{not json").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(decode::<Req>(br#"{"name": "x"} {}"#).is_err());
        assert!(decode::<Req>(br#"{"name": "x"}"#).is_ok());
    }

    #[test]
    fn only_json_is_accepted() {
        assert!(media_type(None).is_ok());
        assert!(media_type(Some("application/json; charset=utf-8")).is_ok());
        let e = media_type(Some("text/plain")).unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
