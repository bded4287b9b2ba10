//! The text parts of `data { }` (issue 6): `text(...)` sources with their tokenizer and vocabulary options,
//! `lengths(field)` companions, and `split = column(file, column = ...)`.

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::ir::{Lang, Punct, SourceKind, SplitSpec, TextOptions};

use super::statics::{self, StaticCall};

/// Parameter names of `text(...)`; `classes` stays last like every source's (the field reader looks there).
pub const TEXT_PARAMS: &[&str] = &[
    "file",
    "train",
    "valid",
    "test",
    "column",
    "lowercase",
    "punct",
    "min_freq",
    "max_len",
    "bos",
    "eos",
    "vocab",
    "max_vocab",
    "pieces",
    "lang",
    "classes",
];

fn opt_string(call: &StaticCall, i: usize, diags: &mut Diagnostics) -> Option<Option<String>> {
    match call.arg(i) {
        Some(e) => statics::string(e, diags).map(Some),
        None => Some(None),
    }
}

fn flag(call: &StaticCall, i: usize, default: bool, diags: &mut Diagnostics) -> Option<bool> {
    match call.arg(i) {
        Some(e) => statics::boolean(e, diags),
        None => Some(default),
    }
}

/// `text(file | train/valid/test, column, lowercase = false, punct = "keep", min_freq = 1, max_len, bos = true,
/// eos = true, vocab, max_vocab, pieces = false, lang)`.
pub fn text_kind(call: &StaticCall, diags: &mut Diagnostics) -> Option<SourceKind> {
    let column = opt_string(call, 4, diags)?;
    let lowercase = flag(call, 5, false, diags)?;
    let punct = match call.arg(6) {
        None => Punct::Keep,
        Some(e) => match statics::string(e, diags)?.as_str() {
            "keep" => Punct::Keep,
            "split" => Punct::Split,
            "strip" => Punct::Strip,
            other => {
                diags.push(
                    Diagnostic::error(
                        "fusec::param::value",
                        format!("`punct = \"{other}\"` is not a punctuation mode"),
                    )
                    .label(e.span, "expected \"keep\", \"split\" or \"strip\"")
                    .help("\"split\" makes each punctuation mark a token, \"strip\" removes them"),
                );
                return None;
            }
        },
    };
    let min_freq = match call.arg(7) {
        Some(e) => statics::int_at_least(e, 1, diags)? as usize,
        None => 1,
    };
    let max_len = match call.arg(8) {
        Some(e) => Some(statics::int_at_least(e, 1, diags)? as usize),
        None => None,
    };
    let bos = flag(call, 9, true, diags)?;
    let eos = flag(call, 10, true, diags)?;
    let vocab = opt_string(call, 11, diags)?;
    let max_vocab = match call.arg(12) {
        Some(e) => Some(statics::int_at_least(e, 5, diags)? as usize),
        None => None,
    };
    let pieces = flag(call, 13, false, diags)?;
    let lang = match call.arg(14) {
        None => Lang::Any,
        Some(e) => lang(e, diags)?,
    };
    Some(SourceKind::Text(TextOptions {
        pieces,
        lang,
        column,
        lowercase,
        punct,
        min_freq,
        max_vocab,
        max_len,
        bos,
        eos,
        vocab,
    }))
}

/// `lang = "de"`: a language code with detokenization rules of its own.
fn lang(e: &crate::syntax::ast::Expr, diags: &mut Diagnostics) -> Option<Lang> {
    let code = statics::string(e, diags)?;
    if let Some(l) = Lang::parse(&code) {
        return Some(l);
    }
    let codes = Lang::CODES.map(|(c, _)| c);
    let listed = codes.map(|c| format!("\"{c}\"")).join(", ");
    let help = match did_you_mean(&code, codes) {
        Some(s) => format!("did you mean \"{s}\"? The codes with rules are {listed}"),
        None => format!(
            "the codes with rules are {listed}; leave `lang` out to use only the rules every language shares"
        ),
    };
    diags.push(
        Diagnostic::error(
            "fusec::param::value",
            format!("`lang = \"{code}\"` is not a language with detokenization rules"),
        )
        .label(e.span, format!("expected one of {listed}"))
        .help(help),
    );
    None
}

/// `lengths(field)`: the token counts of a text field.
pub fn lengths_kind(call: &StaticCall, diags: &mut Diagnostics) -> Option<SourceKind> {
    let Some(e) = call.arg(0) else {
        diags.push(
            Diagnostic::error("fusec::param::missing", "`lengths` needs a text field")
                .label(call.span, "lengths of which field?")
                .help("write `lengths(src)`"),
        );
        return None;
    };
    Some(SourceKind::Lengths {
        of: statics::name(e, diags)?,
    })
}

/// `split = column("split.tsv", column = "split")`.
pub fn column_split(call: &StaticCall, diags: &mut Diagnostics) -> Option<SplitSpec> {
    let (Some(f), Some(c)) = (call.arg(0), call.arg(1)) else {
        diags.push(
            Diagnostic::error(
                "fusec::param::missing",
                "`column` needs a file and a column",
            )
            .label(call.span, "incomplete")
            .help("write `split = column(\"split.tsv\", column = \"split\")`"),
        );
        return None;
    };
    Some(SplitSpec::Column {
        file: statics::string(f, diags)?,
        column: statics::string(c, diags)?,
    })
}
