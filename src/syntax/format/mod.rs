//! `fusec fmt`: the one canonical layout of a .fuse file, printed from pest's parse tree (which, unlike the AST,
//! keeps pipes, parentheses and literals as written) with the comments put back where they were.
//!
//! The layout: two-space indentation; one item, statement or entry per line; one empty line between items
//! (consecutive imports stay together unless an empty line separates them) and at most one where the source
//! has some between statements; spaces around `=`, binary operators and `|>`, after `,` and `:`, none inside
//! brackets or around `..`; a call, list, signature or type that does not fit in 100 columns puts each element
//! on its own line with a trailing comma, and a long operator chain or pipe breaks before each operator.
//! Comments stay before the token they preceded: at the end of the line (two spaces before `//`) when code
//! preceded them, on their own line otherwise.

mod comments;
mod doc;
mod expr;
mod items;

use crate::diag::Diagnostics;
use crate::source::FileId;

/// Columns a line may take before a group breaks.
pub const WIDTH: usize = 100;

/// The canonical layout of `text`, or the parser's diagnostics when it does not parse.
pub fn format(file: FileId, text: &str) -> Result<String, Diagnostics> {
    // Parsing first gives exactly `fusec check`'s syntax diagnostics (and its limits) for a broken file.
    super::parse(file, text)?;
    let tree = super::parse::parse_tree(file, text)?;
    let mut f = items::Formatter::new(text);
    let doc = f.file(tree);
    Ok(doc::print(&doc, WIDTH))
}

/// The text of every `//` comment of a source, in order (what the layout must keep).
pub fn comment_texts(text: &str) -> Vec<String> {
    comments::scan(text).into_iter().map(|c| c.text).collect()
}
