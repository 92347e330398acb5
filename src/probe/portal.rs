//! Portal probe: the integrity of a government web portal, beside its availability. It fetches
//! the page through the HTTP probe (same connection, TLS and body cap), once as a browser and
//! once as a crawler (Googlebot), reads both with a streaming HTML parser, learns over
//! `learn_fetches` fetches what is stable about the page, then scores every fetch against that
//! profile: defacement signatures, gambling/spam words, hidden links, new script and iframe
//! origins, a replaced title or heading, the stable structure gone, cloaking, and redirects to
//! a foreign site. The facts feed checks like every kind's: a portal target implies
//! `integrity in [ok, learning]`, so a compromised portal fails with its signals as the cause.
//!
//! Parts: `page.rs` (reading a page), `words.rs` (vocabulary without diacritics),
//! `profile.rs` (learning and keeping the profile), `signals.rs` (scoring).

mod page;
mod profile;
mod signals;
mod words;

use super::certs::TlsClients;
use super::http::{HttpProber, HttpSpec};
use super::keys::{Key, Resolve};
use super::vocab::{KindVocab, Metric, TextFact};
use super::{ErrorCode, Observation, Run};

pub use profile::{PortalProfiles, ProfileError};
pub use signals::{Integrity, PortalFacts, ProfileSummary, Signal, SignalKind};
use words::Term;
pub use words::{DEFAULT_SIGNATURES, DEFAULT_SPAM_WORDS};

/// What a browser says it is: the fetch people's view of the page is judged on.
const BROWSER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
/// What Google's crawler says it is: cloaked spam is served to this one only.
const CRAWLER_AGENT: &str =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// Fetches learned from unless `learn_fetches` says otherwise: a day at an hourly interval.
pub const DEFAULT_LEARN_FETCHES: u32 = 24;
const MIN_LEARN_FETCHES: u32 = 2;
const MAX_LEARN_FETCHES: u32 = 10_000;
/// Entries allowed in one word list: each is matched against every block.
const MAX_TERMS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSpec {
    /// The target's id: the profile is kept under it.
    pub target: String,
    /// The page fetch (the body is always kept: it is what is scored).
    pub http: HttpSpec,
    pub learn_fetches: u32,
    pub signatures: Vec<Term>,
    pub spam_words: Vec<Term>,
    /// Origins (`https://cdn.example.vn`) scripts, iframes, forms and redirects may use
    /// without being new.
    pub allow_origins: Vec<String>,
    /// Also fetch as a crawler and compare (default on).
    pub cloaking: bool,
}

/// `spec` with the user agent of one fetch; a browser fetch keeps a `User-Agent` the target
/// sets itself, the crawler fetch always says it is Googlebot.
fn with_agent(spec: &HttpSpec, agent: &str, force: bool) -> HttpSpec {
    let mut s = spec.clone();
    let set = s
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"));
    if force {
        s.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("user-agent"));
    }
    if force || !set {
        s.headers.push(("user-agent".into(), agent.into()));
    }
    s
}

fn answered(obs: &Observation) -> bool {
    obs.error.is_none()
        && obs
            .facts
            .http_status
            .is_some_and(|s| (200..300).contains(&s))
}

/// The URL a fetch ended at (after redirects).
fn end_url(obs: &Observation) -> Option<url::Url> {
    obs.facts
        .final_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
}

pub(super) async fn probe(
    spec: &PortalSpec,
    http: &HttpProber,
    tls: &TlsClients,
    profiles: &PortalProfiles,
    run: &Run,
) -> Observation {
    let browser = with_agent(&spec.http, BROWSER_AGENT, false);
    let crawler = spec
        .cloaking
        .then(|| with_agent(&spec.http, CRAWLER_AGENT, true));
    // Both fetches run at once, within the one deadline of the run.
    let (mut obs, crawled) = match &crawler {
        Some(c) => {
            let (a, b) = tokio::join!(http.probe(&browser, tls, run), http.probe(c, tls, run));
            (a, Some(b))
        }
        None => (http.probe(&browser, tls, run).await, None),
    };
    // The body is scored here and not kept: no check of this kind reads it.
    let body = obs.facts.body.take().unwrap_or_default();
    if !answered(&obs) {
        return obs;
    }
    let final_url = end_url(&obs);
    let base = final_url.clone().unwrap_or_else(|| spec.http.url.clone());
    let crawled = crawled.filter(answered).map(|mut c| {
        let base = end_url(&c).unwrap_or_else(|| spec.http.url.clone());
        (c.facts.body.take().unwrap_or_default(), base)
    });
    // Parsing is CPU work bounded by the body cap: done off the runtime's threads so a large
    // page never delays the timers and phases of the other probes in flight.
    let parsed = tokio::task::spawn_blocking(move || {
        let page = page::parse(&body, &base);
        let crawler = crawled.and_then(|(b, base)| page::parse(&b, &base).ok());
        (page, crawler)
    })
    .await;
    let (page, crawler_page) = match parsed {
        Ok((Ok(p), c)) => (p, c),
        Ok((Err(e), _)) => {
            obs.fail(ErrorCode::ProtocolError, e.to_string());
            return obs;
        }
        Err(e) => {
            obs.fail(ErrorCode::IoError, format!("the page was not scored: {e}"));
            return obs;
        }
    };
    let profile = profiles.get(&spec.target, spec.http.url.as_str()).await;
    let (facts, learned) = {
        let mut p = profile::lock(&profile);
        if run.learns {
            let (facts, changed) = signals::assess(
                spec,
                &page,
                crawler_page.as_ref(),
                final_url.as_ref(),
                &mut p,
                run.started_at,
            );
            (facts, changed.then(|| p.clone()))
        } else {
            // Scored against a copy: an on-demand probe never moves the learning on.
            let mut copy = p.clone();
            let (facts, _) = signals::assess(
                spec,
                &page,
                crawler_page.as_ref(),
                final_url.as_ref(),
                &mut copy,
                run.started_at,
            );
            (facts, None)
        }
    };
    if let Some(p) = learned
        && let Err(e) = profiles.save(&spec.target, &p).await
    {
        // The profile stays in memory; only a restart would make it learn again.
        tracing::warn!(target_id = %spec.target, error = %e, "portal profile not saved");
    }
    obs.facts.portal = Some(facts);
    obs
}

// The portal kind's config keys and check vocabulary.

/// What the portal kind tells the config and check layers about itself.
pub const VOCAB: KindVocab = KindVocab {
    name: "portal",
    keys: KEYS,
    metrics: METRICS,
    texts: TEXTS,
};

/// The keys a portal target may set.
pub const KEYS: &[Key] = &[
    Key::Url,
    Key::ExpectStatus,
    Key::Headers,
    Key::Redirects,
    Key::MaxBodyBytes,
    Key::TlsVerify,
    Key::CaFile,
    Key::LearnFetches,
    Key::Signatures,
    Key::SpamWords,
    Key::AllowOrigins,
    Key::Cloaking,
];
/// The numbers checks may read on a portal target: those of its page fetch, an http one.
pub const METRICS: &[Metric] = super::http::METRICS;
/// What checks may compare as text on a portal target.
pub const TEXTS: &[TextFact] = &[TextFact::Header, TextFact::Integrity, TextFact::Signals];

/// A word list as written, or the defaults; empty entries and overlong lists are refused.
fn terms(
    r: &mut Resolve<'_, '_>,
    key: Key,
    given: Option<&[String]>,
    defaults: &[&str],
) -> Vec<Term> {
    let Some(list) = given else {
        return defaults.iter().map(|t| Term::new(t)).collect();
    };
    if list.len() > MAX_TERMS {
        r.err(
            key,
            format!("at most {MAX_TERMS} entries, got {}", list.len()),
        );
    }
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let term = Term::new(t);
        if term.is_empty() {
            r.err(
                key,
                format!("entry {} ({t:?}) has no letters or digits to match", i + 1),
            );
        } else {
            out.push(term);
        }
    }
    out
}

/// Resolves a portal target's keys to its spec: the page fetch as an http target's, then the
/// portal's own keys. The implied check `integrity in [ok, learning]` makes a compromised
/// portal fail with its signals as the cause.
pub(super) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<PortalSpec> {
    let http = super::http::from_keys_as(r, "portal");
    let k = r.keys;
    let learn_fetches = k.learn_fetches.unwrap_or(DEFAULT_LEARN_FETCHES);
    if !(MIN_LEARN_FETCHES..=MAX_LEARN_FETCHES).contains(&learn_fetches) {
        r.err(
            Key::LearnFetches,
            format!(
                "must be between {MIN_LEARN_FETCHES} and {MAX_LEARN_FETCHES}, got {learn_fetches}"
            ),
        );
    }
    let signatures = terms(r, Key::Signatures, k.signatures, DEFAULT_SIGNATURES);
    let spam_words = terms(r, Key::SpamWords, k.spam_words, DEFAULT_SPAM_WORDS);
    let mut allow_origins = Vec::new();
    for o in k.allow_origins.into_iter().flatten() {
        match url::Url::parse(o) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && u.query().is_none() =>
            {
                allow_origins.push(u.origin().ascii_serialization());
            }
            _ => r.err(
                Key::AllowOrigins,
                format!("`{o}` is not an origin such as \"https://cdn.example.vn\""),
            ),
        }
    }
    r.implied(Key::Url, "integrity in [ok, learning]");
    let mut http = http?;
    http.keep_body = true;
    Some(PortalSpec {
        target: r.id.to_string(),
        http,
        learn_fetches,
        signatures,
        spam_words,
        allow_origins,
        cloaking: k.cloaking.unwrap_or(true),
    })
}
