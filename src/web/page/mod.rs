//! Server-rendered pages (maud, which escapes every value by default): the shared layout,
//! request context (language, compression) and small pieces every page uses. Each page lives
//! in its own file under `page/`.

pub mod chart;
pub mod drills;
pub mod form;
pub mod groups;
pub mod i18n;
pub mod incidents;
pub mod login;
pub mod overview;
pub mod report_csv;
pub mod target;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use warp::http::HeaderValue;
use warp::{Filter, Rejection};

use self::i18n::Lang;
use crate::drill::RunningDrill;
use crate::shared::AppState;
use crate::state::State;
use crate::time;
use crate::web::auth::{self, Caller};
use crate::web::compress;
use crate::web::view::query::Query;

/// What every page handler knows about the request.
#[derive(Debug, Clone)]
pub struct PageCtx {
    pub lang: Lang,
    /// The language came from `?lang=` and goes into the cookie.
    pub remember: bool,
    pub gzip: bool,
    pub path: String,
    pub query: Query,
    /// Drills running now: every page shows a banner for each.
    pub drills: Arc<[RunningDrill]>,
    /// Who is signed in (session cookie) or sent a token, if anyone: the drill forms show
    /// for officers and admins.
    pub caller: Option<Caller>,
    /// The anti-forgery value the page's forms carry (derived from the session cookie).
    pub form_token: Option<String>,
    /// Which vantage point serves the page ("Phòng trực ban tỉnh (ops-room)"), shown on every
    /// page so an officer comparing two screens knows which room each speaks for.
    pub instance: Option<crate::config::InstanceConfig>,
}

impl PageCtx {
    /// A context with no drills and nobody signed in (tests, fixed pages).
    pub fn plain(lang: Lang, path: &str, query: Query) -> PageCtx {
        PageCtx {
            lang,
            remember: false,
            gzip: false,
            path: path.to_string(),
            query,
            drills: Arc::from(Vec::new()),
            caller: None,
            form_token: None,
            instance: None,
        }
    }
}

/// Extracts the page context from the request.
pub fn ctx(state: AppState) -> impl Filter<Extract = (PageCtx,), Error = Rejection> + Clone {
    warp::path::full()
        .and(warp::query::<Query>())
        .and(warp::cookie::optional::<String>(i18n::COOKIE))
        .and(warp::header::optional::<String>("accept-encoding"))
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::cookie::optional::<String>(auth::SESSION_COOKIE))
        .map(
            move |path: warp::path::FullPath,
                  query: Query,
                  cookie: Option<String>,
                  enc: Option<String>,
                  authorization: Option<String>,
                  session: Option<String>| {
                let (lang, remember) =
                    Lang::choose(query.get("lang").map(String::as_str), cookie.as_deref());
                let cfg = state.config();
                let (caller, form_token) =
                    auth::page_caller(&cfg.auth, authorization.as_deref(), session.as_deref());
                PageCtx {
                    lang,
                    remember,
                    gzip: compress::accepts_gzip(enc.as_deref()),
                    path: path.as_str().to_string(),
                    query,
                    drills: state.drills.running(),
                    caller,
                    form_token,
                    instance: Some(cfg.instance.clone()),
                }
            },
        )
}

impl PageCtx {
    /// This page with some query values replaced (`None` removes the key), `lang` dropped so
    /// links do not keep re-setting the cookie.
    pub fn with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut pairs: Vec<(String, String)> = self
            .query
            .iter()
            .filter(|(k, _)| k.as_str() != "lang" && !changes.iter().any(|(c, _)| c == k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in changes {
            if let Some(v) = v {
                pairs.push((k.to_string(), v.to_string()));
            }
        }
        pairs.sort();
        href(
            &self.path,
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    /// Finishes an HTML page: compression, the language cookie, no caching (it is live data).
    pub fn finish(&self, page: Markup) -> warp::reply::Response {
        self.respond(page.into_string())
    }

    pub fn respond(&self, html: String) -> warp::reply::Response {
        let mut r = compress::respond(html.into_bytes(), "text/html; charset=utf-8", self.gzip);
        let h = r.headers_mut();
        h.insert("cache-control", HeaderValue::from_static("no-cache"));
        if self.remember {
            let cookie = format!(
                "{}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                i18n::COOKIE,
                self.lang.code()
            );
            // The cookie is built from a fixed set of ASCII codes, so it is a valid header.
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                h.insert("set-cookie", v);
            }
        }
        r
    }
}

/// `path?k=v&...`, percent-encoded.
pub fn href<'a>(path: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        ser.append_pair(k, v);
        any = true;
    }
    if any {
        format!("{path}?{}", ser.finish())
    } else {
        path.to_string()
    }
}

/// A path segment, percent-encoded (labels such as "Cẩm Xuyên" go into group URLs).
pub fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Which menu entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Incidents,
    Groups,
    Target,
    Drills,
}

/// The page frame: header with menu, live-status slot and language switch; footer with the
/// time zone. `refresh`: without JavaScript the page reloads itself every 30 s.
pub fn layout(ctx: &PageCtx, title: &str, nav: Nav, refresh: bool, body: Markup) -> Markup {
    let t = ctx.lang.t();
    let v = env!("CARGO_PKG_VERSION");
    let other = ctx.lang.other();
    let switch = ctx.with(&[("lang", Some(other.code()))]);
    let item = |n: Nav, href: &str, label: &str| {
        html! {
            a href=(href) aria-current=[(nav == n).then_some("page")] { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                // No favicon request (one less round trip on a weak link, no 404 in the console).
                link rel="icon" href="data:,";
                @if refresh {
                    // Only without JavaScript: with it, the page is patched live instead.
                    noscript { meta http-equiv="refresh" content="30"; }
                }
                title { (title) " — commwatch" }
                link rel="stylesheet" href={ "/assets/commwatch.css?v=" (v) };
                script src={ "/assets/commwatch.js?v=" (v) } defer {}
            }
            body data-l10n=(ctx.lang.script_strings()) {
                header.bar {
                    nav aria-label="commwatch" {
                        (item(Nav::Overview, "/", t.nav_overview))
                        (item(Nav::Incidents, "/incidents", t.nav_incidents))
                        (item(Nav::Groups, "/groups/operator", t.nav_groups))
                        (item(Nav::Drills, "/drills", ctx.lang.d().nav))
                    }
                    span #live .live hidden role="status" aria-live="polite" {}
                    @if let Some(c) = &ctx.caller {
                        form.session method="post" action="/logout" {
                            span.who { (c.name) } " "
                            button type="submit" { (t.logout) }
                        }
                    }
                    a.lang href=(switch) hreflang=(other.code()) lang=(other.code()) { (t.lang_switch) }
                }
                (drills::banner(ctx.lang, &ctx.drills, crate::time::now_ms()))
                main #main { (body) }
                footer.muted {
                    @if let Some(i) = &ctx.instance {
                        span.instance title=(i.id) {
                            (i.name)
                            @if i.name != i.id { " (" (i.id) ")" }
                            @if let Some(l) = &i.location { " · " (l) }
                        }
                        " · "
                    }
                    "commwatch " (v) " · " (t.zone_note)
                    @if refresh { noscript { " · " (t.no_script_note) } }
                    " · " a href="/api/v1/status" { "API" }
                    " · " a href="/metrics" { "metrics" }
                }
            }
        }
    }
}

/// A state with its symbol and word: never colour alone.
pub fn badge(lang: Lang, s: State) -> Markup {
    html! {
        span class={ "st s-" (s.as_str()) } {
            span.ic aria-hidden="true" { (i18n::icon(s)) } " " span.lb { (lang.state(s)) }
        }
    }
}

/// "12 phút trước", with the exact local time and zone on hover; the script keeps it current.
pub fn ago(lang: Lang, at: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(time::local_rfc3339(at)) title=(time::local_datetime(at)) data-ago {
            (lang.ago(at, now))
        }
    }
}

/// "28/11/2026 08:30:12 (+07), 12 phút trước".
pub fn at(lang: Lang, t: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! {
        span.when { (time::local_datetime(t)) ", " (ago(lang, t, now)) }
    }
}

/// A table head of column titles.
pub fn head(cols: &[&str]) -> Markup {
    html! {
        thead { tr { @for c in cols { th scope="col" { (c) } } } }
    }
}

/// Shows an empty label as a placeholder such as "(khác)".
pub fn or<'a>(s: &'a str, placeholder: &'a str) -> &'a str {
    if s.is_empty() { placeholder } else { s }
}

/// Previous/next links for page `page` of `pages`.
pub fn pager(ctx: &PageCtx, page: usize, pages: usize) -> Markup {
    let t = ctx.lang.t();
    html! {
        @if pages > 1 {
            nav.pager aria-label=(t.page) {
                @if page > 1 {
                    a rel="prev" href=(ctx.with(&[("page", Some(&(page - 1).to_string()))])) { (t.prev) }
                }
                span { (t.page) " " (page) "/" (pages) }
                @if page < pages {
                    a rel="next" href=(ctx.with(&[("page", Some(&(page + 1).to_string()))])) { (t.next) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_encoded() {
        assert_eq!(
            href("/", [("q", "Cẩm Xuyên"), ("state", "down")]),
            "/?q=C%E1%BA%A9m+Xuy%C3%AAn&state=down"
        );
        assert_eq!(seg("Cẩm Xuyên/x"), "C%E1%BA%A9m%20Xuy%C3%AAn%2Fx");
        assert_eq!(href("/incidents", []), "/incidents");
    }

    #[test]
    fn switching_language_keeps_the_filters() {
        let ctx = PageCtx::plain(
            Lang::Vi,
            "/",
            [
                ("q".to_string(), "ky anh".to_string()),
                ("lang".to_string(), "vi".to_string()),
            ]
            .into(),
        );
        assert_eq!(ctx.with(&[("lang", Some("en"))]), "/?lang=en&q=ky+anh");
        assert_eq!(ctx.with(&[("q", None)]), "/");
    }
}
