//! The op registry against its documentation and its users: docs/LANGUAGE.md's table of primitives lists exactly
//! the registry's primitives with their parameters and defaults, and every primitive lowers (from the call the
//! table documents) to a node of its own name.

use fusec::front::compile_source;
use fusec::ops::{Def, Kind, PRIMITIVES};

/// One row of the table: the primitive names of its first cell and the parameters of its first signature.
struct Row {
    names: Vec<String>,
    params: Vec<(String, Option<String>)>,
}

/// The rows of the `## Primitives` table.
fn table() -> Vec<Row> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/LANGUAGE.md")).unwrap();
    let start = text.find("## Primitives").unwrap();
    text[start..]
        .lines()
        .skip(3)
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let names = backticked(cells[0].trim_start_matches('|'))
                .into_iter()
                .filter(|n| n != "@")
                .collect();
            Row {
                names,
                params: signature(cells[1]),
            }
        })
        .collect()
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// `(x: [.., in], out: int, bias = true)` -> [("x", None), ("out", None), ("bias", Some("true"))]: the first
/// parenthesised group, split at commas outside brackets; types dropped.
fn signature(cell: &str) -> Vec<(String, Option<String>)> {
    let open = cell.find('(').unwrap();
    let mut depth = 0;
    let mut parts = vec![String::new()];
    for c in cell[open + 1..].chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' if depth == 0 => break,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(p) = parts.last_mut() {
            p.push(c);
        }
    }
    parts
        .iter()
        .map(|p| {
            let (head, default) = match p.split_once(" = ") {
                Some((h, d)) => (h, Some(d.trim().to_string())),
                None => (p.as_str(), None),
            };
            let name = head.split(':').next().unwrap().trim().to_string();
            (name, default)
        })
        .collect()
}

/// Whether the documented default text is the registry's default.
fn same_default(def: Def, doc: Option<&str>) -> bool {
    let first = |d: &str| d.split('|').next().unwrap().trim_matches('"').to_string();
    match (def, doc) {
        (Def::Required, None) => true,
        // Optional without a value: the table says what it means (`none`, `q`, `4·d`, `dropout`).
        (Def::None, Some(_)) => true,
        (Def::Int(i), Some(d)) => d.parse::<i64>() == Ok(i),
        (Def::Float(f), Some(d)) => d.parse::<f64>() == Ok(f),
        (Def::Bool(b), Some(d)) => d.parse::<bool>() == Ok(b),
        (Def::Str(s), Some(d)) => first(d) == s,
        _ => false,
    }
}

#[test]
fn the_language_table_lists_every_primitive_with_its_signature() {
    let rows = table();
    let mut documented = Vec::new();
    for row in &rows {
        for name in &row.names {
            let decl = PRIMITIVES
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("LANGUAGE.md documents `{name}`, which is no primitive"));
            let names: Vec<&str> = decl.params.iter().map(|p| p.name).collect();
            let doc_names: Vec<&str> = row.params.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(doc_names, names, "parameters of `{name}`");
            for (p, (_, doc)) in decl.params.iter().zip(&row.params) {
                assert!(
                    same_default(p.default, doc.as_deref()),
                    "`{name}`: `{}` defaults to {:?} in the registry, {doc:?} in LANGUAGE.md",
                    p.name,
                    p.default
                );
            }
            documented.push(name.clone());
        }
    }
    let mut all: Vec<String> = PRIMITIVES.iter().map(|p| p.name.to_string()).collect();
    all.sort();
    documented.sort();
    assert_eq!(documented, all, "LANGUAGE.md's table against the registry");
}

/// The model input a sample call passes for a tensor parameter.
fn tensor_arg(prim: &str, param: &str) -> &'static str {
    match (prim, param) {
        ("embedding", _) => "ids",
        (_, "lengths") => "lengths",
        ("attention_decoder", "memory") => "s",
        ("attention_decoder", "state") => "v",
        ("attention_decoder", "targets") => "ids",
        ("cross_entropy", "pred") => "v",
        ("cross_entropy", "target") => "label",
        ("next_token_cross_entropy", "pred") => "s",
        ("next_token_cross_entropy", "target") => "ids",
        ("last_valid", "seq") => "s",
        ("outer" | "batch_norm", _) => "v",
        ("lstm" | "gru" | "attention" | "transformer_layer" | "positions" | "conv1d", _) => "s",
        ("conv2d", _) => "img",
        _ => "x",
    }
}

/// The value a sample call passes for a required non-tensor parameter.
fn value_arg(prim: &str, param: &str) -> &'static str {
    match (prim, param) {
        ("param", "shape") => "[4]",
        ("reshape", "shape") => "[B, -1]",
        (_, "sizes") => "[2, 2]",
        (_, "name") => "\"relu\"",
        (_, "p" | "std") => "0.5",
        (_, "axis" | "a" | "index" | "start") => "0",
        (_, "b" | "end" | "kernel") => "1",
        (_, "heads") => "2",
        _ => "4",
    }
}

/// A call of the primitive `name` with every required argument.
fn sample_call(name: &str) -> String {
    let decl = PRIMITIVES.iter().find(|p| p.name == name).unwrap();
    let mut args = Vec::new();
    for p in decl.params {
        if p.default != Def::Required {
            continue;
        }
        let value = match p.kind {
            Kind::Tensors => "[x, x]",
            Kind::Tensor | Kind::Target => tensor_arg(name, p.name),
            Kind::Value => value_arg(name, p.name),
        };
        args.push(format!("{} = {value}", p.name));
    }
    let call = format!("{name}({})", args.join(", "));
    match name {
        // A record or a list: pick one output.
        "lstm" | "gru" => format!("{call}.h"),
        "split" => format!("{call}[0]"),
        _ => call,
    }
}

#[test]
fn every_primitive_lowers_to_a_node_of_its_name() {
    for decl in PRIMITIVES {
        let call = sample_call(decl.name);
        let src = format!(
            "model M {{\n  input x: f32[B, 4, 4]\n  input v: f32[B, 4]\n  input s: f32[B, T, 4]\n  input img: f32[B, 4, 3, 3]\n  input ids: i64[B, T]\n  input label: i64[B]\n  input lengths: i64[B]\n  output y = {call}\n}}\n"
        );
        let c = compile_source("main.fuse", &src, &[], false).unwrap_or_else(|f| {
            panic!(
                "{call}:\n{}",
                fusec::diag::render(&f.diagnostics, &f.sources, false)
            )
        });
        let m = &c.program.models[0];
        let out = m.outputs[0].value.node;
        let expected = match decl.name {
            "activation" => "relu",
            other => other,
        };
        assert_eq!(m.graph.node(out).op.name(), expected, "{call}");
    }
}
