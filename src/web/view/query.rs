//! Reading a request's query: the parameter map, time ranges (`from`/`to` or `range`), bounded
//! numbers and percent-decoded path segments — the same rules for the API and the pages.

use chrono::{DateTime, Utc};

use crate::web::error::ApiError;

pub type Query = std::collections::HashMap<String, String>;

/// `from`/`to` (RFC 3339) or `range` (a duration ending now, such as `24h`, `7d`); 24 h by default.
pub fn time_range(q: &Query) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let parse_time = |key: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        q.get(key)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("`{key}` must be an RFC 3339 time: {e}"),
                        )
                    })
            })
            .transpose()
    };
    let now = crate::time::now_ms();
    let to = parse_time("to")?.unwrap_or(now);
    let from = match (parse_time("from")?, q.get("range")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "give either `from` or `range`, not both",
            ));
        }
        (Some(f), None) => f,
        (None, Some(r)) => {
            let d = humantime::parse_duration(r).map_err(|e| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("`range` must be a duration such as 24h or 7d: {e}"),
                )
            })?;
            let d = chrono::Duration::from_std(d)
                .map_err(|_| ApiError::bad_request("invalid_query", "`range` is too long"))?;
            // "The last 30 days" counts whole local days (and today), as reports do; an
            // explicit `from` is taken as given.
            crate::store::view_start(to - d, to)
        }
        (None, None) => to - chrono::Duration::hours(24),
    };
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`from` must be before `to`",
        ));
    }
    if to - from > chrono::Duration::days(3_660) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "ranges are limited to ten years",
        ));
    }
    Ok((from, to))
}

pub fn bounded(q: &Query, key: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_query",
                format!("`{key}` must be a whole number from 0 to {max}"),
            )),
        },
    }
}

/// Percent-decodes one path segment (warp hands segments over still encoded).
pub fn decode_segment(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
