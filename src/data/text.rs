//! Text for sequence-to-sequence models: a word tokenizer (lower-casing and punctuation options), its inverse
//! for printing and scoring (`to_text`, over `detok.rs`), and word vocabularies with the special ids PAD 0, BOS 1, EOS 2, UNK 3. A
//! vocabulary file has one token per line, the four specials first, so it can be read back exactly.

use std::collections::HashMap;
use std::path::Path;

pub use super::detok::detokenize;
use crate::ir::{Punct, TextOptions};

pub use crate::ir::tokens::{BOS, EOS, PAD, UNK};
pub const SPECIALS: [&str; 4] = ["<pad>", "<s>", "</s>", "<unk>"];

/// Punctuation as the tokenizer sees it: Unicode punctuation and symbols other than letters and digits
/// (so `„cool“` splits into `„ cool “` and `flag:` into `flag :`).
fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
}

/// Splits a sentence into words on whitespace, after optional lower-casing; with `Punct::Split` every
/// punctuation character becomes its own token, with `Punct::Strip` punctuation is dropped.
pub fn tokenize(line: &str, lowercase: bool, punct: Punct) -> Vec<String> {
    let text = if lowercase {
        line.to_lowercase()
    } else {
        line.to_string()
    };
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        if punct == Punct::Keep {
            out.push(word.to_string());
            continue;
        }
        let mut cur = String::new();
        for c in word.chars() {
            if is_punct(c) {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                if punct == Punct::Split {
                    out.push(c.to_string());
                }
            } else {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// Merges SentencePiece pieces back into words: `▁how ▁to` -> `how to`.
pub fn merge_pieces<S: AsRef<str>>(pieces: &[S]) -> String {
    let joined: String = pieces.iter().map(|p| p.as_ref()).collect();
    joined.replace('\u{2581}', " ").trim().to_string()
}

/// Text for scoring and printing, the inverse of how `options` tokenized it: pieces merged with `pieces`,
/// punctuation re-attached by the rules of `options.lang` with `punct = "split"` ([`detokenize`]), and
/// otherwise the words joined by spaces (`"keep"` split on spaces only; `"strip"` cannot be undone).
pub fn to_text<S: AsRef<str>>(tokens: &[S], options: &TextOptions) -> String {
    if options.pieces {
        merge_pieces(tokens)
    } else if options.punct == Punct::Split {
        detokenize(tokens, options.lang)
    } else {
        let words: Vec<&str> = tokens.iter().map(|t| t.as_ref()).collect();
        words.join(" ")
    }
}

/// A word vocabulary: id -> token and token -> id.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    tokens: Vec<String>,
    index: HashMap<String, u32>,
}

impl Vocab {
    /// The specials, then every word seen at least `min_freq` times, most frequent first (ties by first
    /// appearance, so the order depends only on the data).
    pub fn build<'a, I>(sentences: I, min_freq: usize, max_size: Option<usize>) -> Vocab
    where
        I: IntoIterator<Item = &'a [String]>,
    {
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
        let mut order = 0usize;
        for s in sentences {
            for w in s {
                let e = counts.entry(w.as_str()).or_insert_with(|| {
                    order += 1;
                    (0, order)
                });
                e.0 += 1;
            }
        }
        let mut words: Vec<(&str, usize, usize)> = counts
            .into_iter()
            .filter(|(w, (n, _))| *n >= min_freq && !SPECIALS.contains(w))
            .map(|(w, (n, first))| (w, n, first))
            .collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        if let Some(m) = max_size {
            words.truncate(m.saturating_sub(SPECIALS.len()));
        }
        let tokens = SPECIALS
            .iter()
            .map(|s| s.to_string())
            .chain(words.into_iter().map(|(w, _, _)| w.to_string()));
        Vocab::from_tokens(tokens.collect()).unwrap_or_else(|_| Vocab::specials_only())
    }

    fn specials_only() -> Vocab {
        let tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Vocab { tokens, index }
    }

    /// A vocabulary from its token list; the four specials must come first, and no token may repeat.
    pub fn from_tokens(tokens: Vec<String>) -> Result<Vocab, String> {
        if tokens.len() < 4 || tokens[..4] != SPECIALS {
            return Err(format!(
                "a vocabulary must start with the special tokens {}",
                SPECIALS.join(" ")
            ));
        }
        let mut index = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            if index.insert(t.clone(), i as u32).is_some() {
                return Err(format!("the token `{t}` appears twice (line {})", i + 1));
            }
        }
        Ok(Vocab { tokens, index })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn id(&self, token: &str) -> u32 {
        self.index.get(token).copied().unwrap_or(UNK)
    }

    /// Word ids with BOS/EOS added as asked.
    pub fn encode<S: AsRef<str>>(&self, words: &[S], bos: bool, eos: bool) -> Vec<u32> {
        let mut ids = Vec::with_capacity(words.len() + 2);
        if bos {
            ids.push(BOS);
        }
        ids.extend(words.iter().map(|w| self.id(w.as_ref())));
        if eos {
            ids.push(EOS);
        }
        ids
    }

    /// Tokens of `ids` up to the first EOS, without PAD and BOS (UNK prints as `<unk>`).
    pub fn decode(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .take_while(|i| **i != EOS)
            .filter(|i| **i != PAD && **i != BOS)
            .map(|i| {
                self.tokens
                    .get(*i as usize)
                    .cloned()
                    .unwrap_or_else(|| SPECIALS[UNK as usize].to_string())
            })
            .collect()
    }

    /// The vocabulary file's text: one token per line.
    pub fn to_text(&self) -> String {
        let mut s = self.tokens.join("\n");
        s.push('\n');
        s
    }

    /// Reads a vocabulary file written by [`Vocab::to_text`] (or any list in that layout).
    pub fn load(path: &Path) -> Result<Vocab, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the vocabulary file `{}`: {e}", path.display()))?;
        let tokens: Vec<String> = text.lines().map(str::to_string).collect();
        Vocab::from_tokens(tokens).map_err(|e| format!("`{}`: {e}", path.display()))
    }
}

#[cfg(test)]
#[path = "tests/text.rs"]
mod tests;
