//! Bearer-token authorisation: tokens are compared by SHA-256 digest (the config never holds a
//! token in clear), in constant time, and each route names the least role it needs.

use sha2::{Digest, Sha256};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::error::ApiError;
use crate::config::{AuthConfig, Role};
use crate::shared::AppState;

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
/// The API accepts it for reading only (its writes need the `Authorization` header). The only
/// writes it can make are the page forms (drills, acknowledging incidents), and only together
/// with a form token derived from it ([`form_token`]), which a forged cross-site form cannot
/// know.
pub const SESSION_COOKIE: &str = "commwatch_token";

/// The anti-forgery value a page's forms carry: HMAC-SHA256 of a fixed label keyed by the
/// session token, in hex. Only a page served to the cookie's holder contains it.
pub fn form_token(session: &str) -> String {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(session.as_bytes()) else {
        return String::new();
    };
    mac.update(b"commwatch page form v1");
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who a page is shown to: the `Authorization` header's caller, else the session cookie's
/// (with the form token for its forms).
pub fn page_caller(
    auth: &AuthConfig,
    header: Option<&str>,
    session: Option<&str>,
) -> (Option<Caller>, Option<String>) {
    if let Some(c) = identify(auth, header) {
        return (Some(c), None);
    }
    match session {
        Some(s) => match identify(auth, Some(&format!("Bearer {s}"))) {
            Some(c) => (Some(c), Some(form_token(s))),
            None => (None, None),
        },
        None => (None, None),
    }
}

/// Why a page form was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormAuthError {
    /// Nobody signed in (or the token is no longer valid).
    Unauthorized,
    /// Signed in, but the form did not carry the page's form token.
    Forged,
    /// Signed in with a role below the one needed.
    Forbidden(Caller),
}

/// Checks a page form. `caller` and `form_token` come from [`page_caller`]: a caller who sent
/// a bearer header (a script) has no form token and needs none, since a cross-site form cannot
/// set headers; a caller known by the session cookie must send back the page's form token.
/// The caller needs at least `role`.
pub fn check_form(
    caller: Option<&Caller>,
    form_token: Option<&str>,
    submitted: Option<&str>,
    role: Role,
) -> Result<Caller, FormAuthError> {
    let Some(caller) = caller else {
        return Err(FormAuthError::Unauthorized);
    };
    if let Some(want) = form_token {
        let want: [u8; 32] = Sha256::digest(want.as_bytes()).into();
        let got: [u8; 32] = Sha256::digest(submitted.unwrap_or("").as_bytes()).into();
        if !constant_time_eq(&want, &got) {
            return Err(FormAuthError::Forged);
        }
    }
    if caller.role < role {
        return Err(FormAuthError::Forbidden(caller.clone()));
    }
    Ok(caller.clone())
}

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
                    Err(warp::reject::custom(super::error::LoginRequired))
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
    fn forms_need_the_token_of_their_own_session() {
        let auth = cfg();
        let t = form_token("s3cret");
        assert_eq!(t.len(), 64);
        assert_ne!(t, form_token("other"));
        let (caller, token) = page_caller(&auth, None, Some("s3cret"));
        assert_eq!(caller.unwrap().name, "truc-ban-1");
        assert_eq!(token.as_deref(), Some(t.as_str()));
        assert_eq!(page_caller(&auth, None, Some("wrong")), (None, None));
        let session = |submitted: Option<&str>, role| {
            let (c, token) = page_caller(&auth, None, Some("s3cret"));
            check_form(c.as_ref(), token.as_deref(), submitted, role)
        };
        assert_eq!(session(Some(&t), Role::Officer).unwrap().name, "truc-ban-1");
        assert_eq!(session(None, Role::Officer), Err(FormAuthError::Forged));
        assert_eq!(
            session(Some("00"), Role::Officer),
            Err(FormAuthError::Forged)
        );
        assert!(matches!(
            session(Some(&t), Role::Admin),
            Err(FormAuthError::Forbidden(_))
        ));
        let (nobody, none) = page_caller(&auth, None, None);
        assert_eq!(
            check_form(nobody.as_ref(), none.as_deref(), Some(&t), Role::Officer),
            Err(FormAuthError::Unauthorized)
        );
        // A bearer header needs no form token: a cross-site form cannot set headers.
        let (c, token) = page_caller(&auth, Some("Bearer s3cret"), None);
        assert_eq!(token, None);
        assert!(check_form(c.as_ref(), None, None, Role::Officer).is_ok());
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
