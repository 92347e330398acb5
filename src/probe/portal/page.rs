//! What one fetched portal page is made of, read with `lol_html`'s streaming parser (never
//! regexes over HTML): title, headings, navigation text, the origins of scripts, iframes, form
//! actions and stylesheets, outbound link domains, text blocks (hashed) and the links hidden
//! from people (the classic injected "dark links").

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use lol_html::html_content::{Element, TextChunk, TextType};
use lol_html::{
    DocumentContentHandlers, ElementContentHandlers, HandlerResult, HtmlRewriter, Selector,
    Settings,
};
use sha2::{Digest, Sha256};

use super::words::normalize;

/// Bounds on what one page may add, whatever its size: the body cap bounds the parse, these
/// bound the facts kept from it.
const MAX_BLOCKS: usize = 4_000;
const MAX_ITEMS: usize = 500;
/// Characters of a block kept as evidence.
const EXCERPT_CHARS: usize = 200;

/// Tags that start a new text block: a block is the text between two of them.
const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "li",
    "td",
    "th",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "main",
    "ul",
    "ol",
    "table",
    "br",
    "form",
    "blockquote",
    "dd",
    "dt",
    "figcaption",
    "title",
    "body",
];

/// Inline styles that hide an element from people but not from crawlers, as substrings of a
/// `style` attribute (matched case-insensitively by the selector engine). Negative offsets of
/// three digits or more push a block off-screen; `font-size:0` is written several ways.
const HIDING_STYLES: &[&str] = &[
    "display:none",
    "display: none",
    "visibility:hidden",
    "visibility: hidden",
    "left:-999",
    "left: -999",
    "top:-999",
    "top: -999",
    "text-indent:-999",
    "text-indent: -999",
    "font-size:0px",
    "font-size: 0px",
    "font-size:0;",
    "font-size: 0;",
    "height:0;overflow:hidden",
];
/// Ends of a `style` attribute that hide (a `font-size:0` with nothing after it).
const HIDING_STYLE_ENDS: &[&str] = &["font-size:0", "font-size: 0"];

/// One text block: its hash (of the normalised text) and the start of its text as written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Block {
    pub hash: u64,
    pub text: String,
    /// The normalised text (lower case, punctuation collapsed), for vocabulary matches.
    pub norm: String,
}

/// A link inside an element styled invisible.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HiddenLink {
    pub domain: String,
    pub href: String,
}

/// What a page is made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Page {
    pub title: String,
    pub h1: Vec<String>,
    pub h2: Vec<String>,
    pub nav: Vec<String>,
    /// `script https://cdn.example`, `iframe …`, `form …`, `style …`: what loads or posts where.
    pub origins: BTreeSet<String>,
    /// Hosts of links that leave the page's own host.
    pub link_domains: BTreeSet<String>,
    pub hidden_links: Vec<HiddenLink>,
    pub blocks: Vec<Block>,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum PageError {
    #[error("selector `{0}`: {1}")]
    Selector(String, String),
    #[error("the page could not be parsed: {0}")]
    Parse(String),
}

/// The page being read, shared by the parser's handlers.
#[derive(Default)]
struct Acc {
    page: Page,
    title: String,
    block: String,
    base: Option<url::Url>,
}

impl Acc {
    fn flush_block(&mut self) {
        if self.block.trim().is_empty() {
            self.block.clear();
            return;
        }
        let raw = std::mem::take(&mut self.block);
        if self.page.blocks.len() >= MAX_BLOCKS {
            return;
        }
        let text = squash(&decode(&raw));
        if text.is_empty() {
            return;
        }
        let norm = normalize(&text);
        self.page.blocks.push(Block {
            hash: hash64(&norm),
            text: excerpt(&text),
            norm,
        });
    }

    fn resolve(&self, href: &str) -> Option<url::Url> {
        let href = decode(href.trim());
        let u = match &self.base {
            Some(b) => b.join(&href).ok()?,
            None => url::Url::parse(&href).ok()?,
        };
        matches!(u.scheme(), "http" | "https").then_some(u)
    }

    fn own_host(&self) -> Option<&str> {
        self.base.as_ref().and_then(|b| b.host_str())
    }

    fn origin(&mut self, what: &str, href: Option<String>) {
        if let Some(u) = href.and_then(|h| self.resolve(&h))
            && self.page.origins.len() < MAX_ITEMS
        {
            self.page
                .origins
                .insert(format!("{what} {}", u.origin().ascii_serialization()));
        }
    }
}

/// The first 64 bits of SHA-256: stable across builds and releases, so profiles kept on disk
/// stay comparable.
pub(super) fn hash64(s: &str) -> u64 {
    let d = Sha256::digest(s.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

fn decode(s: &str) -> String {
    html_escape::decode_html_entities(s).into_owned()
}

/// Collapses runs of whitespace to one space and trims.
pub(super) fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn excerpt(s: &str) -> String {
    if s.chars().count() > EXCERPT_CHARS {
        format!("{}…", s.chars().take(EXCERPT_CHARS).collect::<String>())
    } else {
        s.to_string()
    }
}

type Shared = Rc<RefCell<Acc>>;
type Handler<'h> = (Cow<'static, Selector>, ElementContentHandlers<'h>);

fn selector(s: &str) -> Result<Cow<'static, Selector>, PageError> {
    s.parse::<Selector>()
        .map(Cow::Owned)
        .map_err(|e| PageError::Selector(s.to_string(), e.to_string()))
}

fn on_element<'h>(
    sel: &str,
    f: impl FnMut(&mut Element<'_, '_>) -> HandlerResult + 'h,
) -> Result<Handler<'h>, PageError> {
    Ok((selector(sel)?, ElementContentHandlers::default().element(f)))
}

fn on_text<'h>(
    sel: &str,
    f: impl FnMut(&mut TextChunk<'_>) -> HandlerResult + 'h,
) -> Result<Handler<'h>, PageError> {
    Ok((selector(sel)?, ElementContentHandlers::default().text(f)))
}

/// Text a person reads: not script, style or other raw text.
fn readable(t: &TextChunk<'_>) -> bool {
    matches!(t.text_type(), TextType::Data | TextType::RCData)
}

/// A heading or nav collector: each matching element opens a new entry its text goes to.
fn collector<'h>(
    handlers: &mut Vec<Handler<'h>>,
    sel: &str,
    acc: &Shared,
    pick: fn(&mut Page) -> &mut Vec<String>,
) -> Result<(), PageError> {
    let a = acc.clone();
    handlers.push(on_element(sel, move |_| {
        let mut a = a.borrow_mut();
        let list = pick(&mut a.page);
        if list.len() < MAX_ITEMS {
            list.push(String::new());
        }
        Ok(())
    })?);
    let a = acc.clone();
    handlers.push(on_text(sel, move |t| {
        if readable(t)
            && let Some(last) = pick(&mut a.borrow_mut().page).last_mut()
            && last.len() < 4 * EXCERPT_CHARS
        {
            last.push_str(t.as_str());
        }
        Ok(())
    })?);
    Ok(())
}

/// The selectors of links people cannot see: inside (or themselves) an element with the
/// `hidden` attribute or a hiding inline style.
fn hidden_link_selectors() -> Vec<String> {
    let mut hiders: Vec<String> = vec!["[hidden]".into()];
    for s in HIDING_STYLES {
        hiders.push(format!("[style*=\"{s}\" i]"));
    }
    for s in HIDING_STYLE_ENDS {
        hiders.push(format!("[style$=\"{s}\" i]"));
    }
    hiders
        .iter()
        .flat_map(|h| [format!("{h} a[href]"), format!("a[href]{h}")])
        .collect()
}

/// Reads `html` (the page at `base`) into its parts.
pub(super) fn parse(html: &str, base: &url::Url) -> Result<Page, PageError> {
    let acc: Shared = Rc::new(RefCell::new(Acc {
        base: Some(base.clone()),
        ..Acc::default()
    }));
    let mut handlers: Vec<Handler<'_>> = Vec::new();

    let a = acc.clone();
    handlers.push(on_element("*", move |el| {
        let tag = el.tag_name();
        if BLOCK_TAGS.contains(&tag.as_str()) {
            a.borrow_mut().flush_block();
        }
        Ok(())
    })?);
    let a = acc.clone();
    handlers.push(on_text("title", move |t| {
        let mut a = a.borrow_mut();
        if a.title.len() < 4 * EXCERPT_CHARS {
            a.title.push_str(t.as_str());
        }
        Ok(())
    })?);
    collector(&mut handlers, "h1", &acc, |p| &mut p.h1)?;
    collector(&mut handlers, "h2", &acc, |p| &mut p.h2)?;
    collector(&mut handlers, "nav", &acc, |p| &mut p.nav)?;

    for (sel, attr, what) in [
        ("script[src]", "src", "script"),
        ("iframe[src]", "src", "iframe"),
        ("form[action]", "action", "form"),
    ] {
        let a = acc.clone();
        handlers.push(on_element(sel, move |el| {
            a.borrow_mut().origin(what, el.get_attribute(attr));
            Ok(())
        })?);
    }
    let a = acc.clone();
    handlers.push(on_element("link[href]", move |el| {
        let rel = el.get_attribute("rel").unwrap_or_default();
        if rel.to_ascii_lowercase().contains("stylesheet") {
            a.borrow_mut().origin("style", el.get_attribute("href"));
        }
        Ok(())
    })?);
    let a = acc.clone();
    handlers.push(on_element("a[href]", move |el| {
        let mut a = a.borrow_mut();
        let Some(u) = el.get_attribute("href").and_then(|h| a.resolve(&h)) else {
            return Ok(());
        };
        if let Some(host) = u.host_str()
            && Some(host) != a.own_host()
            && a.page.link_domains.len() < MAX_ITEMS
        {
            let host = host.to_string();
            a.page.link_domains.insert(host);
        }
        Ok(())
    })?);
    for sel in hidden_link_selectors() {
        let a = acc.clone();
        handlers.push(on_element(&sel, move |el| {
            let mut a = a.borrow_mut();
            let Some(u) = el.get_attribute("href").and_then(|h| a.resolve(&h)) else {
                return Ok(());
            };
            let domain = u.host_str().unwrap_or_default().to_string();
            // One element can match several hiding selectors: count it once.
            let href = u.to_string();
            if a.page.hidden_links.len() < MAX_ITEMS
                && !a.page.hidden_links.iter().any(|l| l.href == href)
            {
                a.page.hidden_links.push(HiddenLink { domain, href });
            }
            Ok(())
        })?);
    }

    let a = acc.clone();
    let text = DocumentContentHandlers::default().text(move |t: &mut TextChunk<'_>| {
        if t.text_type() == TextType::Data {
            let mut a = a.borrow_mut();
            a.block.push_str(t.as_str());
        }
        Ok(())
    });

    let mut settings = Settings::new().append_document_content_handler(text);
    for h in handlers {
        settings = settings.append_element_content_handler(h);
    }
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    rewriter
        .write(html.as_bytes())
        .map_err(|e| PageError::Parse(e.to_string()))?;
    rewriter
        .end()
        .map_err(|e| PageError::Parse(e.to_string()))?;

    let mut a = acc.borrow_mut();
    a.flush_block();
    let title = squash(&decode(&a.title));
    let mut page = std::mem::take(&mut a.page);
    page.title = title;
    for list in [&mut page.h1, &mut page.h2, &mut page.nav] {
        *list = list
            .iter()
            .map(|s| squash(&decode(s)))
            .filter(|s| !s.is_empty())
            .collect();
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> Page {
        parse(html, &url::Url::parse("http://portal.test/").unwrap()).unwrap()
    }

    #[test]
    fn reads_title_headings_nav_origins_and_blocks() {
        let p = page(
            r#"<html><head><title>Cổng &amp; tỉnh</title>
            <script src="https://cdn.test/a.js"></script><script>var x = "nhà cái";</script>
            <link rel="stylesheet" href="/s.css"><style>p{}</style></head>
            <body><nav><a href="/">Trang chủ</a> <a href="/tin">Tin tức</a></nav>
            <h1>Chào mừng</h1><h2>Tin mới</h2><p>Đoạn một<p>Đoạn hai
            <iframe src="https://maps.test/x"></iframe><form action="https://forms.test/post"></form>
            <a href="https://other.test/page">ngoài</a></body></html>"#,
        );
        assert_eq!(p.title, "Cổng & tỉnh");
        assert_eq!(p.h1, vec!["Chào mừng"]);
        assert_eq!(p.h2, vec!["Tin mới"]);
        assert_eq!(p.nav, vec!["Trang chủ Tin tức"]);
        let origins: Vec<&str> = p.origins.iter().map(String::as_str).collect();
        assert_eq!(
            origins,
            vec![
                "form https://forms.test",
                "iframe https://maps.test",
                "script https://cdn.test",
                "style http://portal.test",
            ]
        );
        assert_eq!(
            p.link_domains.iter().collect::<Vec<_>>(),
            vec!["other.test"]
        );
        let texts: Vec<&str> = p.blocks.iter().map(|b| b.text.as_str()).collect();
        assert!(texts.contains(&"Đoạn một"), "{texts:?}");
        assert!(texts.contains(&"Đoạn hai"), "{texts:?}");
        // Script text is not page text.
        assert!(!texts.iter().any(|t| t.contains("nhà cái")), "{texts:?}");
        assert!(p.hidden_links.is_empty());
    }

    #[test]
    fn finds_links_hidden_every_usual_way() {
        let p = page(
            r#"<body><div style="DISPLAY: none"><a href="https://a.test/">x</a></div>
            <div style="position:absolute;left:-9999px"><span><a href="https://b.test/">y</a></span></div>
            <p style="font-size:0"><a href="https://c.test/">z</a></p>
            <div hidden><a href="https://d.test/">w</a></div>
            <a style="visibility:hidden" href="https://e.test/">v</a>
            <div style="font-size:0.9em"><a href="https://visible.test/">ok</a></div></body>"#,
        );
        let hidden: Vec<&str> = p.hidden_links.iter().map(|l| l.domain.as_str()).collect();
        for d in ["a.test", "b.test", "c.test", "d.test", "e.test"] {
            assert!(hidden.contains(&d), "{d} not found in {hidden:?}");
        }
        assert!(!hidden.contains(&"visible.test"), "{hidden:?}");
        assert_eq!(hidden.len(), 5, "{hidden:?}");
    }

    #[test]
    fn entities_are_decoded_before_hashing() {
        let a = page("<p>c&aacute; c&#432;&#7907;c</p>");
        let b = page("<p>cá cược</p>");
        assert_eq!(a.blocks[0].hash, b.blocks[0].hash);
        assert_eq!(a.blocks[0].norm, "cá cược");
    }
}
