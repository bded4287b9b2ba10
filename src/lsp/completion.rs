//! Completion: inside a call's parentheses, the callee's keyword arguments with their declared types and
//! defaults; everywhere in a body, block names (the file's own and imported blocks, then every stdlib block,
//! offered with the `import` line it needs) and primitives; after `import std.MODULE.`, that module's blocks.
//! The context is read from the text around the cursor, so it works while the line being typed does not parse;
//! the scope comes from the latest analysis of the file.

use std::collections::BTreeMap;

use lsp_types::{
    CompletionItem, CompletionItemKind, Documentation, MarkupContent, MarkupKind, Position, Range,
    TextEdit,
};

use crate::source::FileId;
use crate::syntax::ast::Item;

use super::analysis::Analysis;
use super::blocks::{block_info, BlockInfo};
use super::hover::primitive_param;

/// How far back the call around the cursor is looked for.
const MAX_LOOKBACK: usize = 4096;

/// The completions at byte `offset` of `text` (the document as the client has it). `scope` is the analysis
/// and the file of the document in it, when there is one.
pub fn complete(
    text: &str,
    offset: usize,
    scope: Option<(&Analysis, FileId)>,
) -> Vec<CompletionItem> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let word_start = ident_start(text, offset);
    let line_start = text[..word_start].rfind('\n').map_or(0, |i| i + 1);
    let line_before = &text[line_start..word_start];
    if line_before.contains("//") {
        return Vec::new();
    }
    let stdlib = stdlib_blocks();
    if let Some(rest) = line_before.trim_start().strip_prefix("import std.") {
        return match rest.strip_suffix('.') {
            Some(module) => stdlib
                .get(module)
                .map(|blocks| blocks.iter().map(|b| block_item(b, "1")).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
    }
    let in_scope = scope_blocks(scope);
    let mut items = Vec::new();
    if let Some(callee) = call_at_argument_start(text, word_start) {
        items.extend(keyword_items(callee, &in_scope, &stdlib));
    }
    for b in in_scope.values() {
        items.push(block_item(b, "1"));
    }
    let import_at = import_insert_position(text);
    for (module, blocks) in &stdlib {
        for b in blocks.iter().filter(|b| !in_scope.contains_key(&b.name)) {
            let mut item = block_item(b, "2");
            let line = format!("import std.{module}.{}\n", b.name);
            item.detail = Some(format!("std.{module} (adds `{}`)", line.trim_end()));
            item.additional_text_edits = Some(vec![TextEdit {
                range: Range::new(import_at, import_at),
                new_text: line,
            }]);
            items.push(item);
        }
    }
    for prim in crate::ops::PRIMITIVES {
        let params: Vec<String> = prim.params.iter().map(primitive_param).collect();
        items.push(CompletionItem {
            label: prim.name.to_string(),
            kind: Some(CompletionItemKind::FUNCTION),
            detail: Some(format!("{}({})", prim.name, params.join(", "))),
            sort_text: Some(format!("3{}", prim.name)),
            ..CompletionItem::default()
        });
    }
    items
}

/// The blocks visible in the document's file (its own and imported ones), by name.
fn scope_blocks(scope: Option<(&Analysis, FileId)>) -> BTreeMap<String, BlockInfo> {
    let Some((a, file)) = scope else {
        return BTreeMap::new();
    };
    let (Some(loaded), Some(m)) = (a.loaded.as_ref(), a.module_of(file)) else {
        return BTreeMap::new();
    };
    loaded.modules[m]
        .scope
        .iter()
        .filter_map(|(name, def)| {
            let text = loaded.sources.get(def.ast.span.file)?.text.as_str();
            Some((name.clone(), block_info(&def.ast, text)))
        })
        .collect()
}

/// Every stdlib block, by module (`fusion`), parsed from the embedded sources.
fn stdlib_blocks() -> BTreeMap<&'static str, Vec<BlockInfo>> {
    crate::stdlib::names()
        .filter_map(|module| {
            let text = crate::stdlib::source(module)?;
            let file = crate::syntax::parse(FileId(0), text).ok()?;
            let blocks = file
                .items
                .iter()
                .filter_map(|item| match item {
                    Item::Block(b) => Some(block_info(b, text)),
                    _ => None,
                })
                .collect();
            Some((module, blocks))
        })
        .collect()
}

fn block_item(b: &BlockInfo, rank: &str) -> CompletionItem {
    CompletionItem {
        label: b.name.clone(),
        kind: Some(CompletionItemKind::CLASS),
        detail: Some(b.signature.clone()),
        documentation: (!b.comment.is_empty()).then(|| {
            Documentation::MarkupContent(MarkupContent {
                kind: MarkupKind::PlainText,
                value: b.comment.clone(),
            })
        }),
        sort_text: Some(format!("{rank}{}", b.name)),
        ..CompletionItem::default()
    }
}

/// `width = ` for each port of the called block (or parameter of the called primitive).
fn keyword_items(
    callee: &str,
    in_scope: &BTreeMap<String, BlockInfo>,
    stdlib: &BTreeMap<&str, Vec<BlockInfo>>,
) -> Vec<CompletionItem> {
    let keyword = |name: &str, detail: String| CompletionItem {
        label: name.to_string(),
        kind: Some(CompletionItemKind::FIELD),
        detail: Some(detail),
        insert_text: Some(format!("{name} = ")),
        sort_text: Some(format!("0{name}")),
        ..CompletionItem::default()
    };
    let block = in_scope
        .get(callee)
        .or_else(|| stdlib.values().flatten().find(|b| b.name == callee));
    if let Some(b) = block {
        return b.ports.iter().map(|(n, d)| keyword(n, d.clone())).collect();
    }
    match crate::ops::primitive(callee) {
        Some(prim) => prim
            .params
            .iter()
            .map(|p| keyword(p.name, primitive_param(p)))
            .collect(),
        None => Vec::new(),
    }
}

/// The callee of the call whose argument list the cursor starts an argument of (right after `(` or `,`), or
/// `None` outside a call or inside a nested list.
fn call_at_argument_start(text: &str, at: usize) -> Option<&str> {
    let before = text[..at].trim_end();
    if !(before.ends_with('(') || before.ends_with(',')) {
        return None;
    }
    let bytes = text.as_bytes();
    let stop = at.saturating_sub(MAX_LOOKBACK);
    let mut depth = 0usize;
    let mut i = at;
    while i > stop {
        i -= 1;
        match bytes[i] {
            b')' | b']' => depth += 1,
            b'(' | b'[' if depth > 0 => depth -= 1,
            b'(' => {
                let name_end = text[..i].trim_end().len();
                let name = &text[ident_start(text, name_end)..name_end];
                return (!name.is_empty()).then_some(name);
            }
            b'[' | b'{' | b'}' => return None,
            _ => {}
        }
    }
    None
}

/// The start of the identifier that ends at byte `end` (a character boundary); `end` itself if none does.
fn ident_start(text: &str, end: usize) -> usize {
    text[..end]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// Where an added import goes: after the last `import` line, else at the top.
fn import_insert_position(text: &str) -> Position {
    let last_import = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("import "))
        .map(|(i, _)| i)
        .last();
    Position::new(last_import.map_or(0, |i| i as u32 + 1), 0)
}
