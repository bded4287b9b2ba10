//! Unit tests of the mode graphs on hand-built models: what each mode keeps.

use super::*;
use crate::ir::build::ModelBuilder;
use crate::ir::{Dropout, Dtype, Linear, Op};
use std::collections::HashSet;

#[test]
fn modes_parse_and_print_back() {
    for s in ["train", "train:disc", "train:2", "eval", "predict"] {
        assert_eq!(
            GraphMode::parse(s).map(|m| m.to_string()),
            Ok(s.to_string())
        );
    }
    assert!(GraphMode::parse("infer").is_err());
    assert!(GraphMode::parse("train:").is_err());
}

#[test]
fn predict_bypasses_dropout_and_drops_what_only_losses_need() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "4"]);
    let d = b.op(Op::Dropout(Dropout { p: 0.5 }), "d", &[x]);
    let lin = |out| {
        Op::Linear(Linear {
            out: crate::ir::DimExpr::Const(out),
            bias: true,
        })
    };
    let h = b.op(lin(3), "h", &[d]);
    let side = b.op(lin(2), "side", &[x]);
    b.output("h", h);
    let m = b.finish();
    let shapes = crate::check::check_model(&m).unwrap();
    let g = mode_graph(&m, &shapes, None, &GraphMode::Predict).unwrap();
    let names: Vec<&str> = g
        .nodes
        .iter()
        .map(|n| m.graph.node(*n).path.as_str())
        .collect();
    assert_eq!(names, vec!["x", "d", "h"]);
    assert_eq!(g.identities, HashSet::from([d.node]));
    let s = specialize(&m, &g);
    // The dropout is gone and the linear reads the input directly.
    assert_eq!(s.graph.operands(h.node), vec![x]);
    assert!(!s.graph.contains(d.node) && !s.graph.contains(side.node));
}
