//! Bearer-token authorisation: tokens are compared by SHA-256 digest (the config never holds a
//! token in clear), in constant time, and each route names the least role it needs.

use sha2::{Digest, Sha256};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::error::ApiError;
use crate::app::AppState;
use crate::config::{AuthConfig, Role};

/// Who made a request, as recorded next to acknowledgements and notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

fn unauthorized(message: &str) -> Rejection {
    warp::reject::custom(ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message: message.to_string(),
    })
}

fn forbidden(message: String) -> Rejection {
    warp::reject::custom(ApiError {
        status: StatusCode::FORBIDDEN,
        code: "forbidden",
        message,
    })
}

/// Equal-length byte comparison whose time does not depend on where the bytes differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Finds the caller for an `Authorization` header value.
pub fn identify(auth: &AuthConfig, header: Option<&str>) -> Option<Caller> {
    let token = header?.strip_prefix("Bearer ")?.trim();
    if token.is_empty() {
        return None;
    }
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    // Check every token so the time taken does not reveal which one matched.
    let mut found = None;
    for t in &auth.tokens {
        if constant_time_eq(&digest, &t.sha256) {
            found = Some(Caller {
                name: t.name.clone(),
                role: t.role,
            });
        }
    }
    found
}

/// A filter that passes the caller through when it holds at least `role`.
pub fn require(
    state: AppState,
    role: Role,
) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |h: Option<String>| {
        let state = state.clone();
        async move {
            let cfg = state.config();
            let Some(caller) = identify(&cfg.auth, h.as_deref()) else {
                return Err(unauthorized(
                    "a valid `Authorization: Bearer TOKEN` header is required",
                ));
            };
            if caller.role < role {
                return Err(forbidden(format!(
                    "token `{}` has role {:?}; this needs {:?}",
                    caller.name, caller.role, role
                )));
            }
            Ok(caller)
        }
    })
}

/// The cookie a browser holds after `/login`: the token itself, HttpOnly and SameSite=Strict.
/// It is accepted for reading only; writes need the `Authorization` header, so a forged
/// cross-site form can never act with it.
pub const SESSION_COOKIE: &str = "commwatch_token";

/// A private page was opened without a token: the browser is sent to `/login`.
#[derive(Debug)]
pub struct LoginRequired;

impl warp::reject::Reject for LoginRequired {}

fn access(state: AppState, page: bool) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and_then(move |h: Option<String>, cookie: Option<String>| {
            let state = state.clone();
            async move {
                let cfg = state.config();
                let from_cookie = cookie.map(|c| format!("Bearer {c}"));
                if cfg.auth.public
                    || identify(&cfg.auth, h.as_deref()).is_some()
                    || identify(&cfg.auth, from_cookie.as_deref()).is_some()
                {
                    Ok(())
                } else if page {
                    Err(warp::reject::custom(LoginRequired))
                } else {
                    Err(unauthorized(
                        "this status page is private: send a viewer token",
                    ))
                }
            }
        })
        .untuple_one()
}

/// Lets reads through when the page is public, else requires a viewer token (header, or the
/// cookie set by `/login`).
pub fn read_access(state: AppState) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    access(state, false)
}

/// As [`read_access`], for HTML pages: without a token the browser is sent to `/login`.
pub fn page_access(state: AppState) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    access(state, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Token;

    fn cfg() -> AuthConfig {
        AuthConfig {
            public: true,
            tokens: vec![Token {
                name: "truc-ban-1".into(),
                role: Role::Officer,
                sha256: Sha256::digest(b"s3cret").into(),
            }],
        }
    }

    #[test]
    fn identifies_by_digest() {
        let c = identify(&cfg(), Some("Bearer s3cret")).unwrap();
        assert_eq!(c.name, "truc-ban-1");
        assert_eq!(c.role, Role::Officer);
        assert!(identify(&cfg(), Some("Bearer wrong")).is_none());
        assert!(identify(&cfg(), Some("s3cret")).is_none());
        assert!(identify(&cfg(), None).is_none());
        assert!(Role::Admin > Role::Officer && Role::Officer > Role::Viewer);
    }
}
