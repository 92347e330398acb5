//! One target's uptime over the standard windows (24 h, 7 d, 30 d, 90 d), from rollups: the
//! target page and `/api/v1/targets/{id}` show the same numbers.

use chrono::{DateTime, Duration, Utc};

use super::model::internal;
use crate::shared::AppState;
use crate::store::Availability;
use crate::web::error::ApiError;

/// The uptime windows, in the order the page and API show them.
pub const WINDOWS: [(&str, i64); 4] = [("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90)];
/// Availability of one target over each of [`WINDOWS`], ending `now`.
pub async fn uptime(
    state: &AppState,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(&'static str, Availability)>, ApiError> {
    let mut out = Vec::with_capacity(WINDOWS.len());
    for (name, days) in WINDOWS {
        let mut a = state
            .store
            .availability(
                Some(vec![id.to_string()]),
                crate::store::view_start(now - Duration::days(days), now),
                now,
            )
            .await
            .map_err(internal)?;
        out.push((name, a.remove(id).unwrap_or_default()));
    }
    Ok(out)
}
