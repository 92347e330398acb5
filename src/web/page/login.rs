//! Signing in to a private status page from a browser: the officer pastes a token once and the
//! browser keeps it in an HttpOnly cookie, which reads (pages, fragments, the event stream)
//! accept, and so do the page forms together with their form token. The JSON API's writes still
//! need the `Authorization` header.

use maud::html;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode};

use super::{Nav, PageCtx, layout};
use crate::shared::AppState;
use crate::web::auth::{SESSION_COOKIE, identify};
use crate::web::view::query::Query;

/// `GET /login` (and the page again after a wrong token). `public` says whether reading needs
/// a token, so the page says why one would sign in.
pub fn form(ctx: &PageCtx, public: bool, failed: Option<&str>) -> warp::reply::Response {
    let t = ctx.lang.t();
    let note = if public {
        t.login_public_note
    } else {
        t.login_note
    };
    let body = html! {
        h1 { (t.login_title) }
        p { (note) }
        @if let Some(msg) = failed { p.banner role="alert" { (msg) } }
        form.filters method="post" action="/login" {
            label {
                span { (t.login_token) }
                input type="password" name="token" autocomplete="current-password" required;
            }
            div.actions { button type="submit" { (t.login_submit) } }
        }
    };
    ctx.finish(layout(ctx, t.login_title, Nav::Overview, false, body))
}

/// `POST /login`: a valid token sets the cookie and goes to the overview.
pub fn submit(
    ctx: PageCtx,
    proto: Option<String>,
    body: Query,
    state: AppState,
) -> warp::reply::Response {
    let token = body.get("token").map(|t| t.trim()).unwrap_or("");
    let cfg = state.config();
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_graphic())
        && identify(&cfg.auth, Some(&format!("Bearer {token}"))).is_some();
    if !valid {
        let mut r = form(&ctx, cfg.auth.public, Some(ctx.lang.t().login_failed));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    // Behind a TLS-terminating proxy the cookie must never travel in clear.
    let secure = if proto.as_deref() == Some("https") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200{secure}"
    );
    let mut r =
        warp::reply::with_status(warp::reply::html(""), StatusCode::SEE_OTHER).into_response();
    r.headers_mut()
        .insert("location", HeaderValue::from_static("/"));
    // The token is printable ASCII (checked above), so it is a valid header value.
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert("set-cookie", v);
    }
    r
}

/// `POST /logout`: forgets the session cookie and goes to the overview. The cookie is
/// SameSite=Strict, so a cross-site form cannot sign anyone out.
pub fn logout() -> warp::reply::Response {
    let mut r =
        warp::reply::with_status(warp::reply::html(""), StatusCode::SEE_OTHER).into_response();
    r.headers_mut()
        .insert("location", HeaderValue::from_static("/"));
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    // The cookie's name is a constant of printable ASCII, so this is a valid header value.
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert("set-cookie", v);
    }
    r
}
