//! How a block presents itself in the editor: its signature as written (whitespace folded to one line), its
//! header comment (the `//` lines right above `block`, as the stdlib documents every block), and its ports with
//! their declared types and defaults (for keyword-argument completion).

use crate::syntax::ast::Block;

pub struct BlockInfo {
    pub name: String,
    /// `block Encoder(x: f32[B, _], width: int = 32) -> f32[B, width]`.
    pub signature: String,
    /// The header comment without its `//` markers; empty when there is none.
    pub comment: String,
    /// Each port's name and its declaration after the name (`int = 32`, `f32[B, _]...`).
    pub ports: Vec<(String, String)>,
}

/// What `text` (the file the block was parsed from) says about `block`.
pub fn block_info(block: &Block, text: &str) -> BlockInfo {
    let start = (block.span.start as usize).min(text.len());
    let header_end = text
        .get(start..)
        .and_then(|rest| rest.find('{'))
        .map_or(text.len(), |i| start + i);
    let signature = text
        .get(start..header_end)
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let ports = block
        .ports
        .iter()
        .map(|p| {
            let decl = text
                .get(p.span.start as usize..p.span.end as usize)
                .unwrap_or("");
            let after_name = decl
                .strip_prefix(p.name.name.as_str())
                .map(|rest| rest.trim_start().trim_start_matches(':').trim())
                .unwrap_or(decl);
            (p.name.name.clone(), after_name.to_string())
        })
        .collect();
    BlockInfo {
        name: block.name.name.clone(),
        signature,
        comment: header_comment(text, start),
        ports,
    }
}

/// The run of `//` lines that ends on the line above the one holding `start`.
pub fn header_comment(text: &str, start: usize) -> String {
    let mut at = start.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut lines: Vec<&str> = Vec::new();
    for line in text[..line_start].lines().rev() {
        let Some(comment) = line.trim().strip_prefix("//") else {
            break;
        };
        lines.push(comment.strip_prefix(' ').unwrap_or(comment));
    }
    lines.reverse();
    lines.join("\n")
}

/// The hover text of a block: its signature as code, then its header comment.
pub fn block_markdown(info: &BlockInfo) -> String {
    let mut md = format!("```fuse\n{}\n```", info.signature);
    if !info.comment.is_empty() {
        md.push_str(&format!("\n\n```text\n{}\n```", info.comment));
    }
    md
}
