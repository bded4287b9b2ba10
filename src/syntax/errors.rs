//! Turns pest's parse errors into our `fusec::syntax::unexpected` diagnostic: the offending token, what was
//! expected in plain words, and "did you mean" when a word is a misspelled keyword.

use pest::error::{ErrorVariant, InputLocation};

use super::parse::Rule;
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::source::{FileId, Span};

/// Keywords that start an item or a statement: the candidates for "did you mean".
const KEYWORDS: &[&str] = &[
    "import",
    "block",
    "model",
    "data",
    "train",
    "input",
    "param",
    "output",
    "loss",
    "for",
    "in",
    "if",
    "else",
    "return",
    "shared",
    "assert",
    "field",
    "optimizer",
    "step",
    "minimize",
    "using",
    "true",
    "false",
    "and",
    "or",
    "not",
];

pub(super) fn from_pest(file: FileId, text: &str, e: pest::error::Error<Rule>) -> Diagnostics {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let expected: Vec<Rule> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let (start, end) = token_at(text, pos);
    let found = &text[start..end];
    let open = unclosed_bracket(text, start);
    let words = expected_words(&expected, open.map(|(_, c)| c));
    let label = if words.is_empty() {
        "not expected here".to_string()
    } else {
        format!("expected {}", join_or(&words))
    };
    let (message, at) = if found.is_empty() {
        // At the end of the file, point at the last character written rather than at nothing.
        let (s, e) = last_char(text);
        ("unexpected end of file".to_string(), Span::new(file, s, e))
    } else {
        (format!("unexpected `{found}`"), Span::new(file, start, end))
    };
    let mut d = Diagnostic::error("fusec::syntax::unexpected", message).label(at, label);
    if let Some((at, close)) = open {
        if close != '}' || found.is_empty() {
            let msg = format!("this is never closed by `{close}`");
            d = d.label(Span::new(file, at, at + 1), msg);
        }
    }
    let help = if found == "\"" {
        "a string ends with `\"` on the same line".to_string()
    } else {
        keyword_hint(text, start, found).unwrap_or_else(|| general_help(&words))
    };
    d.help(help).into()
}

/// What pest expected, in plain words. pest reports rules, not punctuation, so the closing bracket (and the
/// comma inside `[...]` and `(...)`) come from the innermost bracket still open.
fn expected_words(expected: &[Rule], close: Option<char>) -> Vec<&'static str> {
    let mut words: Vec<&str> = expected.iter().filter_map(|r| describe(*r)).collect();
    words.sort_unstable();
    words.dedup();
    if words.contains(&"a statement") {
        // After a complete statement every postfix token is possible too; naming them all hides the point.
        let continuation = [
            "`(`",
            "`..`",
            "`.`",
            "`[`",
            "`|>`",
            "a comparison",
            "a name",
            "`or`",
            "`and`",
        ];
        words.retain(|w| !continuation.contains(w));
    }
    match close {
        Some(']') | Some(')') => {
            words.retain(|w| *w != "an operator" && *w != "a comparison");
            words.insert(
                0,
                if close == Some(']') {
                    "`,` or `]`"
                } else {
                    "`,` or `)`"
                },
            );
        }
        Some(_) => words.insert(0, "`}`"),
        None => {}
    }
    words
}

/// The span of the last non-blank character (an empty file gives `0..0`).
fn last_char(text: &str) -> (usize, usize) {
    match text.trim_end().char_indices().next_back() {
        Some((i, c)) => (i, i + c.len_utf8()),
        None => (0, 0),
    }
}

/// The token starting at `pos`: a word, a number, or one character ("" at the end of the text).
fn token_at(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let rest = &text[pos..];
    let word_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if word_len > 0 {
        return (pos, pos + word_len);
    }
    let ch = rest.chars().next().map(char::len_utf8).unwrap_or(0);
    (pos, pos + ch)
}

/// The innermost bracket still open at `pos` (outside strings and comments) and its closing character.
fn unclosed_bracket(text: &str, pos: usize) -> Option<(usize, char)> {
    let mut stack: Vec<(usize, char)> = Vec::new();
    let mut chars = text[..pos.min(text.len())].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                while let Some((_, d)) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek().map(|(_, d)| *d) == Some('/') => {
                for (_, d) in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '(' => stack.push((i, ')')),
            '[' => stack.push((i, ']')),
            '{' => stack.push((i, '}')),
            ')' | ']' | '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.pop()
}

/// The word just before `pos` (skipping blanks), if any.
fn word_before(text: &str, pos: usize) -> Option<&str> {
    let head = text[..pos].trim_end();
    // The byte after the last non-word character (which may be several bytes long).
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0);
    let w = &head[start..];
    (!w.is_empty()).then_some(w)
}

/// "did you mean `import`?" when the offending word, or the word before it, is close to a keyword.
fn keyword_hint(text: &str, start: usize, found: &str) -> Option<String> {
    let candidates = [Some(found), word_before(text, start)];
    for w in candidates.into_iter().flatten() {
        if w.len() < 2 || KEYWORDS.contains(&w) || !w.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            continue;
        }
        if let Some(k) = did_you_mean(w, KEYWORDS.iter().copied()) {
            return Some(format!("`{w}` is not a keyword here; did you mean `{k}`?"));
        }
    }
    None
}

fn general_help(words: &[&str]) -> String {
    if words.contains(&"an item (`import`, `block`, `model`, `data`, `train`)") {
        "a file holds only imports, blocks, models, data sets and one train plan".to_string()
    } else if words.iter().any(|w| w.contains("statement")) {
        "statements are `name = expr`, `input`, `param`, `output`, `loss`, `for`, `if` and `return`"
            .to_string()
    } else {
        "see docs/LANGUAGE.md for the syntax".to_string()
    }
}

fn join_or(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Plain words for the rules pest says it expected; `None` for rules that add nothing for a reader.
fn describe(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI => "the end of the file",
        Rule::import_item
        | Rule::block_item
        | Rule::model_item
        | Rule::data_item
        | Rule::train_item
        | Rule::file
        | Rule::kw_import
        | Rule::kw_block
        | Rule::kw_model
        | Rule::kw_data
        | Rule::kw_train => "an item (`import`, `block`, `model`, `data`, `train`)",
        Rule::ident => "a name",
        Rule::expr
        | Rule::or_expr
        | Rule::not_expr
        | Rule::unary
        | Rule::postfix
        | Rule::not_op
        | Rule::neg => "an expression",
        Rule::int | Rule::float => "a number",
        Rule::string => "a string",
        Rule::list | Rule::paren | Rule::boolean => "an expression",
        Rule::kw_input
        | Rule::kw_param
        | Rule::kw_output
        | Rule::kw_loss
        | Rule::kw_for
        | Rule::kw_if => "a statement",
        Rule::kw_return => "a statement",
        Rule::kw_field => "`field`",
        Rule::kw_optimizer => "`optimizer`",
        Rule::kw_step => "`step`",
        Rule::kw_true | Rule::kw_false | Rule::kw_not => "an expression",
        Rule::input_stmt
        | Rule::param_stmt
        | Rule::output_stmt
        | Rule::loss_stmt
        | Rule::for_stmt => "a statement",
        Rule::if_stmt
        | Rule::return_stmt
        | Rule::let_stmt
        | Rule::assert_stmt
        | Rule::kw_assert => "a statement",
        Rule::port => "a port or parameter (`name: type`)",
        Rule::tensor_type => "a tensor type (`f32[B, 16]`)",
        Rule::value_type | Rule::list_type => "a type",
        Rule::block_outputs => "`->`",
        Rule::body => "`{`",
        Rule::std_module | Rule::kw_std => "`std`",
        Rule::import_names => "imported names",
        Rule::import_name => "a name to import (`Block`, `data NAME`, `train NAME`)",
        Rule::call_args => "`(`",
        Rule::field => "`.`",
        Rule::index => "`[`",
        Rule::pipe_op => "`|>`",
        Rule::or_op => "`or`",
        Rule::and_op => "`and`",
        Rule::cmp_op => "a comparison",
        Rule::range_op => "`..`",
        Rule::add_op | Rule::mul_op => "an operator",
        Rule::variadic => "`...`",
        Rule::shared | Rule::kw_shared => "`shared`",
        Rule::field_entry => "`field`",
        Rule::setting => "a setting (`key = value`)",
        Rule::optimizer_entry => "`optimizer`",
        Rule::step_entry => "`step`",
        Rule::minimize_entry => "`minimize`",
        Rule::using | Rule::kw_using => "`using`",
        Rule::named_returns | Rule::named_return => "named outputs",
        Rule::named_output => "a named output",
        Rule::comprehension => "an expression",
        Rule::kw_in => "`in`",
        Rule::kw_else => "`else`",
        Rule::kw_minimize => "`minimize`",
        Rule::arg => "an argument",
        _ => return None,
    })
}
