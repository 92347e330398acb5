//! Vocabulary matching for portal pages: defacement signatures and gambling/spam words, matched
//! on whole words without diacritics (`nổ hũ`, `no hu` and `NỔ HŨ` are one word), because
//! injected spam is written every way to slip past keyword filters.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Defacement signatures looked for unless `signatures` replaces them.
pub const DEFAULT_SIGNATURES: &[&str] = &[
    "hacked by",
    "defaced by",
    "pwned by",
    "owned by hacker",
    "greetz",
    "bị hack bởi",
    "đã bị hack",
    "hack bởi",
    "bị tấn công bởi",
];

/// Gambling and spam words looked for unless `spam_words` replaces them.
pub const DEFAULT_SPAM_WORDS: &[&str] = &[
    "nhà cái",
    "cá cược",
    "cá độ",
    "nổ hũ",
    "tài xỉu",
    "lô đề",
    "xóc đĩa",
    "bắn cá đổi thưởng",
    "game bài đổi thưởng",
    "soi kèo",
    "đá gà",
    "casino",
    "slot game",
];

/// Lower case, every run of anything but letters and digits one space, diacritics kept: the
/// form page text is kept and hashed in.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = true;
    for c in s.nfc() {
        if c.is_alphanumeric() || is_combining_mark(c) {
            out.extend(c.to_lowercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// One word without its diacritics (`đ` becomes `d`).
fn bare(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| if c == 'đ' { 'd' } else { c })
        .collect()
}

/// A signature or spam word, ready to match: each word as written and without diacritics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub shown: String,
    words: Vec<(String, String)>,
}

impl Term {
    pub fn new(text: &str) -> Term {
        let words = normalize(text)
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| (w.to_string(), bare(w)))
            .collect();
        Term {
            shown: text.trim().to_string(),
            words,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether normalised `text` holds this term as whole words. A page word matches a term
    /// word when it is written the same, or written with no diacritics at all and equal to
    /// the term word without its own: `no hu` and `NỔ HŨ` match `nổ hũ`, but `lộ đề` (other
    /// marks, another meaning: "the exam leaked") does not match `lô đề`.
    pub fn found_in(&self, text: &str) -> bool {
        let Some((exact, plain)) = self.words.first() else {
            return false;
        };
        // Most blocks hold neither form of the first word: a substring search rules them
        // out before the text is split into words.
        if !text.contains(exact.as_str()) && !text.contains(plain.as_str()) {
            return false;
        }
        let page: Vec<&str> = text.split(' ').collect();
        page.windows(self.words.len()).any(|w| {
            w.iter()
                .zip(&self.words)
                .all(|(p, (exact, plain))| *p == exact || (*p == plain && bare(p) == *p))
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, term: &str) -> bool {
        Term::new(term).found_in(&normalize(text))
    }

    #[test]
    fn text_is_lower_cased_and_punctuation_collapsed() {
        assert_eq!(normalize("NỔ HŨ, Tài-Xỉu!"), "nổ hũ tài xỉu");
        assert_eq!(normalize("  cá   cược  "), "cá cược");
        assert_eq!(normalize("HACKED by <script>"), "hacked by script");
    }

    #[test]
    fn spam_written_without_diacritics_or_in_capitals_matches() {
        assert!(found("Nhà cái uy tín số 1", "nhà cái"));
        assert!(found("NHA CAI uy tin", "nhà cái"));
        assert!(found("choi no hu doi thuong", "nổ hũ"));
        assert!(found("ĐÁ GÀ trực tiếp", "đá gà"));
        assert!(found("da ga truc tiep", "đá gà"));
        assert!(found("Hacked by team X", "hacked by"));
    }

    #[test]
    fn other_words_with_other_marks_do_not_match() {
        assert!(!found("Tiết lộ đề thi", "lô đề"), "lộ đề is not lô đề");
        assert!(!found("đa gia đình", "đá gà"));
        assert!(!found("casinos", "casino"));
        assert!(found("the casino", "casino"));
        assert!(!Term::new(" ").found_in("abc"));
    }
}
