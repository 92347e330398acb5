//! What every page form shares (the drill forms, the acknowledge form): the body filter, the
//! session check with the per-session form token, the refusal page, the redirect back, and the
//! check that a "go back to" value stays on this site.

use maud::{Markup, html};
use warp::http::{HeaderValue, StatusCode};
use warp::{Filter, Reply};

use super::{Nav, PageCtx, layout};
use crate::config::Role;
use crate::shared::AppState;
use crate::web::auth::{self, Caller, FormAuthError};
use crate::web::error::ApiError;
use crate::web::view::query::Query;
use crate::web::with_state;

/// A posted page form: the page context, the URL-encoded fields, the state.
pub fn post(
    state: AppState,
) -> impl Filter<Extract = (PageCtx, Query, AppState), Error = warp::Rejection> + Clone {
    warp::post()
        .and(super::ctx(state.clone()))
        .and(crate::web::body::form(
            32 * 1024,
            state.config().server.limits.body_read_timeout,
        ))
        .and(with_state(state))
}

/// The hidden field that carries the page's form token (none for a bearer-header caller).
pub fn hidden_token(ctx: &PageCtx) -> Markup {
    html! {
        @if let Some(t) = &ctx.form_token { input type="hidden" name="form_token" value=(t); }
    }
}

/// The caller of a page form, who needs at least `role`.
pub fn caller(ctx: &PageCtx, form: &Query, role: Role) -> Result<Caller, FormAuthError> {
    auth::check_form(
        ctx.caller.as_ref(),
        ctx.form_token.as_deref(),
        form.get("form_token").map(String::as_str),
        role,
    )
}

/// `303 See Other` to `location` (a path on this site).
pub fn see_other(location: &str) -> warp::reply::Response {
    let mut r =
        warp::reply::with_status(warp::reply::html(""), StatusCode::SEE_OTHER).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert("location", v);
    }
    r
}

/// A page saying why a form was not done, with links to sign in and back to `back`.
pub fn problem(
    ctx: &PageCtx,
    status: StatusCode,
    message: &str,
    back: &str,
    nav: Nav,
) -> warp::reply::Response {
    let mut r = ctx.finish(problem_page(ctx, message, None, back, nav));
    *r.status_mut() = status;
    r
}

/// The problem page itself. It answers a form's POST (or a page with a bad address), so its
/// language link leads to `back` in the other language rather than to this address.
pub fn problem_page(
    ctx: &PageCtx,
    message: &str,
    detail: Option<&str>,
    back: &str,
    nav: Nav,
) -> maud::Markup {
    let t = ctx.lang.t();
    let f = ctx.lang.f();
    let mut at_back = ctx.clone();
    let (path, query) = back.split_once('?').unwrap_or((back, ""));
    at_back.path = path.to_string();
    at_back.query = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let body = html! {
        h1 { (f.error) }
        p.banner role="alert" { (message) }
        @if let Some(d) = detail { p.muted { code { (d) } } }
        p { a href="/login" { (t.login_title) } " · " a href=(back) { (f.back) } }
    };
    layout(&at_back, f.error, nav, false, body)
}

/// A request error of a page's address (`/?state=bogus`, `/?page=0`) or of loading it, as a
/// page in the reader's language with the API's detail under it.
pub fn page_error(ctx: &PageCtx, e: ApiError, nav: Nav) -> warp::Rejection {
    let t = ctx.lang.t();
    let lead = match e.status.as_u16() {
        404 => t.no_such_page,
        400..=499 => t.bad_request,
        _ => t.internal_error,
    };
    let html = problem_page(ctx, lead, Some(&e.message), "/", nav).into_string();
    warp::reject::custom(crate::web::error::HtmlError {
        status: e.status,
        html,
    })
}

/// A refused form: 401 (sign in: `sign_in` says what for), 403 (role, or a form not from our
/// page).
pub fn refused(
    ctx: &PageCtx,
    e: FormAuthError,
    sign_in: &str,
    back: &str,
    nav: Nav,
) -> warp::reply::Response {
    let f = ctx.lang.f();
    let (status, msg) = match &e {
        FormAuthError::Unauthorized => (StatusCode::UNAUTHORIZED, sign_in.to_string()),
        FormAuthError::Forged => (StatusCode::FORBIDDEN, f.forged.to_string()),
        FormAuthError::Forbidden(c) => (
            StatusCode::FORBIDDEN,
            format!("{} ({}: {:?})", f.forbidden, c.name, c.role),
        ),
    };
    problem(ctx, status, &msg, back, nav)
}

/// Where a form may send the browser back to: `wanted` when it is a path on this site, else
/// `fallback`. Only one leading `/` followed by a path is accepted, in printable ASCII without
/// `\`: `//host`, `/\host`, `https://host` and control characters (which browsers strip,
/// turning `/\t/host` into `//host`) would all leave the site.
pub fn local_return<'a>(wanted: Option<&'a str>, fallback: &'a str) -> &'a str {
    match wanted {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            p
        }
        _ => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        let back = |p: &str| local_return(Some(p), "/incidents").to_string();
        assert_eq!(back("/targets/ok-1"), "/targets/ok-1");
        assert_eq!(
            back("/incidents?page=2&status=open"),
            "/incidents?page=2&status=open"
        );
        assert_eq!(back("/"), "/");
        for hostile in [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\t/evil.example",
            "/ok\r\nset-cookie: x=1",
            "evil.example",
            "",
            "/Cẩm",
        ] {
            assert_eq!(back(hostile), "/incidents", "{hostile:?}");
        }
        assert_eq!(local_return(None, "/incidents"), "/incidents");
    }
}
