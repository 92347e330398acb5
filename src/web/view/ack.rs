//! Acknowledging an incident: the one path the API (`POST /api/v1/incidents/{id}/ack`) and the
//! page form (`POST /incidents/{id}/ack`) share: checks, the store write, the log line and the
//! `ack` event live pages and scripts listen for.

use warp::http::StatusCode;

use crate::shared::AppState;
use crate::store::StoreError;
use crate::store::acks::{Ack, AckOutcome, MAX_COMMENT_CHARS};
use crate::web::error::{ApiError, internal, reject};

/// Why an acknowledgement was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// The id is not a number, or no incident has it.
    #[error("no incident with id `{0}`")]
    NotFound(String),
    /// The incident has ended: there is nothing left to take.
    #[error("incident {0} has already ended")]
    Closed(i64),
    #[error("`comment` is limited to {MAX_COMMENT_CHARS} characters")]
    CommentTooLong,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AckError {
    pub fn status(&self) -> StatusCode {
        match self {
            AckError::NotFound(_) => StatusCode::NOT_FOUND,
            AckError::Closed(_) => StatusCode::CONFLICT,
            AckError::CommentTooLong => StatusCode::BAD_REQUEST,
            AckError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The API's stable JSON error.
    pub fn rejection(self) -> warp::Rejection {
        let status = self.status();
        match self {
            AckError::NotFound(_) => reject(ApiError::not_found(self.to_string())),
            AckError::Closed(_) => reject(ApiError {
                status,
                code: "incident_closed",
                message: self.to_string(),
            }),
            AckError::CommentTooLong => {
                reject(ApiError::bad_request("comment_too_long", self.to_string()))
            }
            AckError::Store(e) => internal(e),
        }
    }
}

/// The incident id in a request path.
pub fn parse_id(id: &str) -> Result<i64, AckError> {
    id.parse().map_err(|_| AckError::NotFound(id.to_string()))
}

/// Records that `author` (a token's name) took incident `incident`, and tells live pages.
/// The comment is trimmed; whether it may be empty is the caller's rule (the API asks for one).
pub async fn record(
    state: &AppState,
    incident: i64,
    author: &str,
    comment: &str,
) -> Result<Ack, AckError> {
    let comment = comment.trim().to_string();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(AckError::CommentTooLong);
    }
    let outcome = state
        .store
        .ack_incident(incident, author.to_string(), comment, crate::time::now_ms())
        .await?;
    match outcome {
        AckOutcome::Recorded(a) => {
            tracing::info!(incident, by = %a.author, target = %a.target, "incident acknowledged");
            // No live page listening is fine.
            let _ = state.web_events.send(crate::events::WebEvent::Ack {
                incident_id: a.incident_id,
                target: a.target.clone(),
                author: a.author.clone(),
                comment: a.comment.clone(),
                at: a.at,
            });
            Ok(a)
        }
        AckOutcome::NoSuchIncident => Err(AckError::NotFound(incident.to_string())),
        AckOutcome::Closed => Err(AckError::Closed(incident)),
    }
}
