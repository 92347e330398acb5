//! Scoring one fetch of a portal against its profile: each sign of compromise is a
//! [`Signal`] with its evidence (what changed and the offending excerpt, kept as text: the page
//! and messages escape it when they show it). Redirects to a foreign site and cloaking (a
//! crawler shown what a browser is not) need no profile and are looked for from the first fetch.

use std::collections::BTreeSet;

use serde::Serialize;

use super::PortalSpec;
use super::page::{Page, excerpt};
use super::profile::Profile;
use super::words::{Term, normalize};

/// Stable blocks a page must still show, as a share, before its structure counts as gone.
const STRUCTURE_KEPT: f64 = 0.5;
/// Fewer stable blocks than this say too little about the structure to judge it.
const MIN_STABLE_BLOCKS: usize = 3;
/// Items named in one signal's detail.
const DETAIL_ITEMS: usize = 5;

/// The integrity verdict of one fetch, separate from availability: a defaced portal answers
/// 200 and is compromised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Integrity {
    /// Still learning the page; only the signals that need no profile are looked for.
    Learning,
    Ok,
    Compromised,
}

impl Integrity {
    pub const ALL: [Integrity; 3] = [Integrity::Learning, Integrity::Ok, Integrity::Compromised];

    pub fn as_str(self) -> &'static str {
        match self {
            Integrity::Learning => "learning",
            Integrity::Ok => "ok",
            Integrity::Compromised => "compromised",
        }
    }
}

/// The kinds of sign a portal was tampered with; a bounded set, safe as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A defacement signature ("hacked by …") the page never had.
    Defacement,
    /// Gambling or spam words the page never had.
    Spam,
    /// Links to other sites inside elements styled invisible or off-screen.
    HiddenLinks,
    /// A script, iframe, form or stylesheet from an origin the page never used.
    NewOrigin,
    TitleReplaced,
    HeadingReplaced,
    /// Most of the blocks that never changed while learning are gone.
    StructureGone,
    /// A crawler (Googlebot) is shown signals a browser is not.
    Cloaking,
    /// The page redirects to another site.
    ForeignRedirect,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Defacement => "defacement",
            SignalKind::Spam => "spam",
            SignalKind::HiddenLinks => "hidden_links",
            SignalKind::NewOrigin => "new_origin",
            SignalKind::TitleReplaced => "title_replaced",
            SignalKind::HeadingReplaced => "heading_replaced",
            SignalKind::StructureGone => "structure_gone",
            SignalKind::Cloaking => "cloaking",
            SignalKind::ForeignRedirect => "foreign_redirect",
        }
    }
}

/// One sign of compromise with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    pub kind: SignalKind,
    /// What changed, for people ("nổ hũ, tài xỉu"; "was “Cổng thông tin …”").
    pub detail: String,
    /// The offending text as the page has it (bounded), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

impl Signal {
    fn new(kind: SignalKind, detail: String, excerpt: Option<String>) -> Signal {
        Signal {
            kind,
            detail,
            excerpt,
        }
    }
}

/// The profile at a glance, for `commwatch probe` and the facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileSummary {
    pub fetches: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    pub stable_blocks: usize,
    pub origins: usize,
    pub link_domains: usize,
    /// The largest and the mean share of blocks that changed between learning fetches.
    pub change_max: f64,
    pub change_mean: f64,
}

impl ProfileSummary {
    pub(super) fn of(p: &Profile) -> ProfileSummary {
        ProfileSummary {
            fetches: p.fetches,
            title: p.title.clone(),
            heading: p.heading.clone(),
            stable_blocks: p.stable_blocks.len(),
            origins: p.origins.len(),
            link_domains: p.link_domains.len(),
            change_max: p.change_max,
            change_mean: p.change_mean(),
        }
    }
}

/// What the portal probe reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortalFacts {
    pub integrity: Integrity,
    /// Learning fetches done, and how many the profile takes.
    pub learned: u32,
    pub learn_fetches: u32,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    pub blocks: usize,
    /// The share of the profile's stable blocks this fetch still has (after learning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_present: Option<f64>,
    /// Script, iframe, form and stylesheet origins of this fetch.
    pub origins: Vec<String>,
    pub hidden_links: usize,
    /// Whether the crawler fetch (for cloaking) answered and was compared.
    pub crawler_checked: bool,
    pub signals: Vec<Signal>,
    pub profile: ProfileSummary,
}

impl PortalFacts {
    /// The signal names, space-separated: what `signals contains "spam"` reads.
    pub fn signal_names(&self) -> String {
        let names: Vec<&str> = self.signals.iter().map(|s| s.kind.as_str()).collect();
        names.join(" ")
    }

    /// One line for the check's resolved form and the page: the verdict, and for a
    /// compromised page each signal with its detail and excerpt.
    pub fn summary(&self) -> String {
        if self.signals.is_empty() {
            return self.integrity.as_str().to_string();
        }
        let parts: Vec<String> = self
            .signals
            .iter()
            .map(|s| match &s.excerpt {
                Some(x) => format!("{} {}: “{}”", s.kind.as_str(), s.detail, x),
                None => format!("{} {}", s.kind.as_str(), s.detail),
            })
            .collect();
        format!("COMPROMISED: {}", parts.join("; "))
    }

    /// For people (`commwatch probe`): the verdict, the page, each signal, the profile.
    pub(in crate::probe) fn describe(&self, line: &mut dyn FnMut(&str, String)) {
        line("integrity", self.integrity.as_str().to_string());
        line(
            "learned",
            format!("{} of {} fetches", self.learned, self.learn_fetches),
        );
        line("title", format!("{:?}", self.title));
        if let Some(h) = &self.heading {
            line("heading", format!("{h:?}"));
        }
        let present = self
            .stable_present
            .map(|p| format!(", {:.0}% of the stable ones present", p * 100.0))
            .unwrap_or_default();
        line("blocks", format!("{}{present}", self.blocks));
        for o in &self.origins {
            line("origin", o.clone());
        }
        if self.hidden_links > 0 {
            line("hidden", format!("{} links", self.hidden_links));
        }
        line(
            "crawler",
            if self.crawler_checked {
                "compared with the browser fetch".to_string()
            } else {
                "not compared".to_string()
            },
        );
        for s in &self.signals {
            let x = s
                .excerpt
                .as_ref()
                .map(|x| format!(" {x:?}"))
                .unwrap_or_default();
            line("signal", format!("{} {}{x}", s.kind.as_str(), s.detail));
        }
        let p = &self.profile;
        line(
            "profile",
            format!(
                "{} fetches, {} stable blocks, {} origins, {} link domains, change max {:.0}% mean {:.0}%",
                p.fetches,
                p.stable_blocks,
                p.origins,
                p.link_domains,
                p.change_max * 100.0,
                p.change_mean * 100.0
            ),
        );
        if let Some(t) = &p.title {
            line("profile", format!("title {t:?}"));
        }
        if let Some(h) = &p.heading {
            line("profile", format!("heading {h:?}"));
        }
    }
}

/// Same site: the same host, or one a subdomain of the other (`www.` ignored). Without a
/// public-suffix list the registrable domain is not known, so a sibling subdomain counts as
/// foreign; `allow_origins` names the ones that are not.
fn same_site(a: &str, b: &str) -> bool {
    let a = a.trim_start_matches("www.");
    let b = b.trim_start_matches("www.");
    a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"))
}

fn list_of(all: Vec<String>) -> String {
    let mut shown: Vec<String> = all.iter().take(DETAIL_ITEMS).cloned().collect();
    if all.len() > DETAIL_ITEMS {
        shown.push(format!("and {} more", all.len() - DETAIL_ITEMS));
    }
    shown.join(", ")
}

/// Terms found on `page`, each with the first block that has it (or the title).
fn found<'t>(page: &Page, terms: &'t [Term]) -> Vec<(&'t Term, String)> {
    let title = normalize(&page.title);
    terms
        .iter()
        .filter_map(|t| {
            // The body's text is the better evidence; the title when only it has the term.
            page.blocks
                .iter()
                .find(|b| t.found_in(&b.norm))
                .map(|b| (t, b.text.clone()))
                .or_else(|| t.found_in(&title).then(|| (t, excerpt(&page.title))))
        })
        .collect()
}

/// The origin (`scheme://host:port`) of the page itself, whose resources are never foreign.
fn own_origin(spec: &PortalSpec) -> String {
    spec.http.url.origin().ascii_serialization()
}

/// Whether an origin entry (`script https://x`) is the page's own or allowed.
fn allowed(entry: &str, spec: &PortalSpec) -> bool {
    let origin = entry.split_once(' ').map_or(entry, |(_, o)| o);
    origin == own_origin(spec) || spec.allow_origins.iter().any(|a| a == origin)
}

/// What a page shows that a crawler fetch is compared on, as (what, item): vocabulary found,
/// hidden link domains, foreign origins, the title.
fn features(page: &Page, spec: &PortalSpec) -> BTreeSet<(&'static str, String)> {
    let mut f = BTreeSet::new();
    for (t, _) in found(page, &spec.signatures) {
        f.insert(("defacement words", t.shown.clone()));
    }
    for (t, _) in found(page, &spec.spam_words) {
        f.insert(("spam words", t.shown.clone()));
    }
    for l in &page.hidden_links {
        f.insert(("hidden links to", l.domain.clone()));
    }
    for o in page.origins.iter().filter(|o| !allowed(o, spec)) {
        f.insert(("origins", o.clone()));
    }
    f.insert(("the title", format!("“{}”", page.title)));
    f
}

/// `what a, b; other c` from (what, item) pairs in order.
fn grouped(items: Vec<(&'static str, String)>) -> String {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for (what, item) in items {
        match groups.last_mut() {
            Some((w, list)) if *w == what => list.push(item),
            _ => groups.push((what, vec![item])),
        }
    }
    let parts: Vec<String> = groups
        .into_iter()
        .map(|(what, list)| format!("{what} {}", list_of(list)))
        .collect();
    parts.join("; ")
}

/// Signals that need no profile: a redirect off the site, and cloaking.
fn unlearned_signals(
    spec: &PortalSpec,
    page: &Page,
    crawler: Option<&Page>,
    final_url: Option<&url::Url>,
) -> Vec<Signal> {
    let mut out = Vec::new();
    if let Some(end) = final_url {
        let home = spec.http.url.host_str().unwrap_or_default();
        let there = end.host_str().unwrap_or_default();
        let origin = end.origin().ascii_serialization();
        let ok = same_site(home, there) || spec.allow_origins.contains(&origin);
        if !ok {
            out.push(Signal::new(
                SignalKind::ForeignRedirect,
                format!("to {origin}"),
                Some(excerpt(end.as_str())),
            ));
        }
    }
    if let Some(c) = crawler {
        let browser = features(page, spec);
        let extra: Vec<(&'static str, String)> = features(c, spec)
            .into_iter()
            .filter(|f| !browser.contains(f))
            .collect();
        if !extra.is_empty() {
            // The evidence is what the crawler read: the first block with a word the
            // browser was not shown, else the crawler's title.
            let evidence = found(c, &spec.spam_words)
                .into_iter()
                .chain(found(c, &spec.signatures))
                .map(|(_, x)| x)
                .next()
                .or_else(|| Some(excerpt(&c.title)));
            out.push(Signal::new(
                SignalKind::Cloaking,
                format!("a crawler is shown {}", grouped(extra)),
                evidence,
            ));
        }
    }
    out
}

/// Signals against a learned profile.
fn learned_signals(spec: &PortalSpec, page: &Page, profile: &Profile) -> (Vec<Signal>, f64) {
    let mut out = Vec::new();
    for (kind, terms) in [
        (SignalKind::Defacement, &spec.signatures),
        (SignalKind::Spam, &spec.spam_words),
    ] {
        let new: Vec<(&Term, String)> = found(page, terms)
            .into_iter()
            .filter(|(t, _)| !profile.words_seen.contains(&t.shown))
            .collect();
        if let Some((_, evidence)) = new.first() {
            let evidence = evidence.clone();
            out.push(Signal::new(
                kind,
                list_of(new.iter().map(|(t, _)| t.shown.clone()).collect()),
                Some(evidence),
            ));
        }
    }
    let own_host = spec.http.url.host_str().unwrap_or_default();
    let hidden: Vec<&super::page::HiddenLink> = page
        .hidden_links
        .iter()
        .filter(|l| l.domain != own_host && !profile.hidden_domains.contains(&l.domain))
        .collect();
    if !hidden.is_empty() {
        let domains: BTreeSet<String> = hidden.iter().map(|l| l.domain.clone()).collect();
        out.push(Signal::new(
            SignalKind::HiddenLinks,
            format!(
                "{} hidden links to {}",
                hidden.len(),
                list_of(domains.into_iter().collect())
            ),
            Some(excerpt(
                &hidden
                    .iter()
                    .map(|l| l.href.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            )),
        ));
    }
    let new_origins: Vec<String> = page
        .origins
        .iter()
        .filter(|o| !profile.origins.contains(*o) && !allowed(o, spec))
        .cloned()
        .collect();
    if !new_origins.is_empty() {
        out.push(Signal::new(
            SignalKind::NewOrigin,
            list_of(new_origins),
            None,
        ));
    }
    if let Some(t) = &profile.title
        && *t != page.title
    {
        out.push(Signal::new(
            SignalKind::TitleReplaced,
            format!("was “{}”", excerpt(t)),
            Some(excerpt(&page.title)),
        ));
    }
    if let Some(h) = &profile.heading
        && page.h1.first() != Some(h)
    {
        out.push(Signal::new(
            SignalKind::HeadingReplaced,
            format!("was “{}”", excerpt(h)),
            page.h1.first().map(|x| excerpt(x)),
        ));
    }
    let stable = &profile.stable_blocks;
    let present = if stable.is_empty() {
        1.0
    } else {
        let seen: BTreeSet<u64> = page.blocks.iter().map(|b| b.hash).collect();
        stable.iter().filter(|b| seen.contains(b)).count() as f64 / stable.len() as f64
    };
    if stable.len() >= MIN_STABLE_BLOCKS && present < STRUCTURE_KEPT {
        out.push(Signal::new(
            SignalKind::StructureGone,
            format!(
                "{:.0}% of the {} blocks that never changed remain",
                present * 100.0,
                stable.len()
            ),
            page.blocks.first().map(|b| b.text.clone()),
        ));
    }
    (out, present)
}

/// Scores one fetch and, while the profile is learning and the fetch is clean, learns from
/// it. Returns the facts and whether the profile changed (to be saved).
pub(super) fn assess(
    spec: &PortalSpec,
    page: &Page,
    crawler: Option<&Page>,
    final_url: Option<&url::Url>,
    profile: &mut Profile,
    at: chrono::DateTime<chrono::Utc>,
) -> (PortalFacts, bool) {
    let mut signals = unlearned_signals(spec, page, crawler, final_url);
    let learning = profile.learning(spec.learn_fetches);
    let mut stable_present = None;
    if !learning {
        let (more, present) = learned_signals(spec, page, profile);
        signals.extend(more);
        stable_present = Some(present);
    }
    let mut changed = false;
    if learning && signals.is_empty() {
        let terms: Vec<&Term> = spec.signatures.iter().chain(&spec.spam_words).collect();
        profile.learn(page, &terms, at, spec.learn_fetches);
        changed = true;
    }
    let integrity = if !signals.is_empty() {
        Integrity::Compromised
    } else if profile.learning(spec.learn_fetches) || learning {
        Integrity::Learning
    } else {
        Integrity::Ok
    };
    let facts = PortalFacts {
        integrity,
        learned: profile.fetches,
        learn_fetches: spec.learn_fetches,
        title: excerpt(&page.title),
        heading: page.h1.first().map(|h| excerpt(h)),
        blocks: page.blocks.len(),
        stable_present,
        origins: page.origins.iter().take(32).cloned().collect(),
        hidden_links: page.hidden_links.len(),
        crawler_checked: crawler.is_some(),
        signals,
        profile: ProfileSummary::of(profile),
    };
    (facts, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_site_is_the_host_or_a_subdomain() {
        assert!(same_site("hatinh.gov.vn", "www.hatinh.gov.vn"));
        assert!(same_site("dichvucong.hatinh.gov.vn", "hatinh.gov.vn"));
        assert!(!same_site("hatinh.gov.vn", "nhacai.example"));
        // A suffix that is not a label boundary is another site.
        assert!(!same_site("hatinh.gov.vn", "evilhatinh.gov.vn"));
        assert!(!same_site("127.0.0.1", "127.0.0.2"));
    }

    #[test]
    fn details_group_items_and_bound_them() {
        let items = vec![
            ("hidden links to", "a.test".to_string()),
            ("hidden links to", "b.test".to_string()),
            ("spam words", "nổ hũ".to_string()),
        ];
        assert_eq!(
            grouped(items),
            "hidden links to a.test, b.test; spam words nổ hũ"
        );
        let many: Vec<String> = (0..8).map(|i| format!("o{i}")).collect();
        assert_eq!(list_of(many), "o0, o1, o2, o3, o4, and 3 more");
    }
}
