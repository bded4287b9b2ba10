//! Detokenization: the inverse of the word tokenizer's `punct = "split"` (`text.rs`), which makes every
//! punctuation character a token and so loses where the text had no space (`I’ll` -> `I ’ ll`, `word.` ->
//! `word .`). Translations are printed and scored (BLEU/chrF against the raw references, as sacreBLEU is
//! meant to be used) after this step.
//!
//! The rules decide, token by token, whether a space goes before it. Shared by every language: closing
//! punctuation (`. , : ; ! ? ) ] } % …`) attaches to the word before it and opening brackets to the word after;
//! quotation marks are paired with a stack (`„…“`, `“…”`, `‘…’`, `«…»`, `"…"`), so `“` closes a German `„`
//! and opens an English quotation; an apostrophe between two words joins them (`I’ll`, `don’t`, `o’clock`,
//! `d’água`) unless it closes an open `‘`; `-` and `/` join the words around them (`upside-down`,
//! `arzt/ärztin`); `.`, `:` and `,` inside numbers (`3.5`, `12:00`, `1,000`) and abbreviations of single
//! letters (`u.s.`) close up. Per language: English possessive plurals (`the dogs’ bowls`); German gender
//! suffixes (`lehrer(in)`, `erwachsene(r)`) and truncated compounds (`süd- und nordpol`); German and
//! Portuguese decimal commas (`3,50`). Portuguese elision (`d’água`), hyphenated pronouns (`deu-me`) and `"…"`
//! quotes are shared rules. Written by hand: the Moses detokenizer (sacremoses) inverts a different
//! tokenizer (it escapes and splits hyphens as `@-@`), and no crate inverts this one.

use crate::ir::Lang;

/// Punctuation that attaches to the token before it.
const CLOSING: &[&str] = &[
    ".", ",", ":", ";", "!", "?", ")", "]", "}", "%", "…", "‰", "»", "”",
];
/// Punctuation that attaches to the token after it.
const OPENING: &[&str] = &["(", "[", "{", "¿", "¡", "$", "£"];
/// Words that follow an apostrophe inside an English or German word (`I’ll`, `don’t`, `geht’s`).
const CLITICS: &[&str] = &["s", "t", "ll", "re", "ve", "m", "d", "em"];
/// German gender suffixes written in brackets right after the word (`lehrer(in)`, `erwachsene(r)`).
const GENDER_SUFFIXES: &[&str] = &["in", "innen", "r", "e", "n", "en", "er", "s", "es", "nen"];
/// German conjunctions after a truncated compound (`süd- und nordpol`).
const TRUNCATION_JOINS: &[&str] = &["und", "oder", "bis", "bzw", "sowie", "als"];

/// The text of `tokens` (produced by `tokenize(.., Punct::Split)`) with the spaces the tokenizer added removed.
pub fn detokenize<S: AsRef<str>>(tokens: &[S], lang: Lang) -> String {
    let toks: Vec<&str> = tokens.iter().map(|t| t.as_ref()).collect();
    let mut out = String::new();
    let mut quotes: Vec<&str> = Vec::new(); // the closing mark each open quotation expects
    let mut glue_next = false;
    for (i, &t) in toks.iter().enumerate() {
        let cx = Context {
            toks: &toks,
            i,
            lang,
        };
        let (glue_before, glue_after) = cx.attach(&mut quotes);
        if !out.is_empty() && !glue_before && !glue_next {
            out.push(' ');
        }
        out.push_str(t);
        glue_next = glue_after;
    }
    out
}

/// One token and its neighbours.
struct Context<'a> {
    toks: &'a [&'a str],
    i: usize,
    lang: Lang,
}

impl Context<'_> {
    fn at(&self, offset: isize) -> Option<&str> {
        let j = self.i as isize + offset;
        (j >= 0)
            .then(|| self.toks.get(j as usize).copied())
            .flatten()
    }

    fn prev_word(&self) -> Option<&str> {
        self.at(-1).filter(|p| is_word(p))
    }

    fn next_word(&self) -> Option<&str> {
        self.at(1).filter(|n| is_word(n))
    }

    /// Whether the token attaches to the one before it and whether the next one attaches to it.
    fn attach(&self, quotes: &mut Vec<&'static str>) -> (bool, bool) {
        let t = self.toks[self.i];
        match t {
            "„" | "‚" | "«" => {
                quotes.push(closer_of(t));
                (false, true)
            }
            "“" | "‘" if quotes.last() == Some(&t) => {
                quotes.pop();
                (true, false)
            }
            "“" | "‘" => {
                quotes.push(closer_of(t));
                (false, true)
            }
            "”" | "»" => {
                if quotes.last() == Some(&t) {
                    quotes.pop();
                }
                (true, false)
            }
            "\"" if quotes.last() == Some(&"\"") => {
                quotes.pop();
                (true, false)
            }
            "\"" => {
                quotes.push("\"");
                (false, true)
            }
            "’" | "'" => self.apostrophe(quotes),
            "-" => self.hyphen(),
            "/" => (self.i > 0, self.at(1).is_some()),
            "(" if self.gender_suffix() => (true, true),
            "." | "," | ":" => (true, self.inside_number() || self.letter_abbreviation()),
            _ if CLOSING.contains(&t) => (true, false),
            _ if OPENING.contains(&t) => (false, true),
            _ => (false, false),
        }
    }

    /// `’` or `'`: an apostrophe inside a word, the end of a quotation, a possessive, or an opening quote.
    fn apostrophe(&self, quotes: &mut Vec<&'static str>) -> (bool, bool) {
        let t = self.toks[self.i];
        let opener_open = quotes.last() == Some(&t);
        let close = |quotes: &mut Vec<&'static str>| {
            quotes.pop();
            (true, false)
        };
        match (self.prev_word(), self.next_word()) {
            (Some(p), Some(n)) => {
                let clitic = CLITICS.contains(&n.to_lowercase().as_str());
                let elision = p.chars().count() == 1;
                if clitic || elision {
                    (true, true)
                } else if opener_open {
                    close(quotes)
                } else if self.lang == Lang::English && p.ends_with(['s', 'S']) {
                    (true, false) // the dogs’ bowls
                } else {
                    (true, true)
                }
            }
            _ if opener_open => close(quotes),
            (Some(_), None) => (true, false), // a possessive before punctuation or the end
            (None, _) => {
                quotes.push(if t == "’" { "’" } else { "'" });
                (false, true)
            }
        }
    }

    /// `-` joins the words around it, except a German truncated compound (`süd- und`) and a dash at the start
    /// or after an opening mark.
    fn hyphen(&self) -> (bool, bool) {
        let after_text = self
            .at(-1)
            .is_some_and(|p| is_word(p) || CLOSING.contains(&p) || p == "/" || p == "“");
        match self.next_word() {
            Some(n) if after_text => {
                let truncated = self.lang == Lang::German && TRUNCATION_JOINS.contains(&n);
                (true, !truncated)
            }
            _ => (false, false),
        }
    }

    /// German `word ( in )` written as `word(in)`.
    fn gender_suffix(&self) -> bool {
        self.lang == Lang::German
            && self.prev_word().is_some()
            && self
                .at(1)
                .is_some_and(|s| GENDER_SUFFIXES.contains(&s.to_lowercase().as_str()))
            && self.at(2) == Some(")")
    }

    /// `3 . 5`, `12 : 00` and `1 , 000` inside a number.
    fn inside_number(&self) -> bool {
        let digits = |s: Option<&str>| s.is_some_and(|s| s.chars().all(|c| c.is_ascii_digit()));
        if !digits(self.at(-1)) || !digits(self.at(1)) {
            return false;
        }
        // German and Portuguese write decimal commas (`3,50`); in English a comma between numbers separates
        // thousands only before a group of three digits (`1,000` but `1, 2`).
        let decimal_comma = matches!(self.lang, Lang::German | Lang::Portuguese);
        self.toks[self.i] != "," || decimal_comma || self.at(1).is_some_and(|n| n.len() == 3)
    }

    /// The first period of `u . s .`: single letters and periods alternate.
    fn letter_abbreviation(&self) -> bool {
        let letter = |s: Option<&str>| {
            s.is_some_and(|s| s.chars().count() == 1 && s.chars().all(char::is_alphabetic))
        };
        self.toks[self.i] == "."
            && letter(self.at(-1))
            && letter(self.at(1))
            && self.at(2) == Some(".")
    }
}

/// The mark that closes a quotation opened by `open`.
fn closer_of(open: &str) -> &'static str {
    match open {
        "„" => "“",
        "‚" => "‘",
        "«" => "»",
        "“" => "”",
        "‘" => "’",
        _ => "\"",
    }
}

/// A token that is not a single punctuation mark: a word, a number or a special such as `<unk>`.
fn is_word(t: &str) -> bool {
    let mut chars = t.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => c.is_alphanumeric(),
        (Some(_), Some(_)) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
#[path = "tests/detok.rs"]
mod tests;
