//! Unit tests of `src/check/mod.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;
use crate::ir::build::ModelBuilder;
use crate::ir::{Activation, Dim, DimExpr, Dtype, LossKind, Op, Value};

fn lin(out: i64) -> Op {
    Op::Linear(crate::ir::Linear {
        out: DimExpr::Const(out),
        bias: true,
    })
}

#[test]
fn infers_a_small_fusion_model_and_counts_parameters() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "76"]);
    let y = b.input("y", Dtype::F32, &["B", "47"]);
    let labels = b.input("label", Dtype::I64, &["B"]);
    let z = b.op(Op::Concat(crate::ir::Concat { axis: -1 }), "z", &[x, y]);
    let width = DimExpr::Div(
        Box::new(DimExpr::Of { value: z, axis: 1 }),
        Box::new(DimExpr::Const(2)),
    );
    let h = b.op(
        Op::Linear(crate::ir::Linear {
            out: width,
            bias: true,
        }),
        "enc1",
        &[z],
    );
    let h = b.op(Op::Act(Activation::Tanh), "enc1_act", &[h]);
    let logits = b.op(lin(10), "head", &[h]);
    let loss = b.op(Op::Loss(LossKind::CrossEntropy), "task", &[logits, labels]);
    b.output("logits", logits);
    b.loss("task", loss);
    let shapes = check_model(&b.finish()).unwrap();
    let t = shapes.ty(h).unwrap();
    assert_eq!(t.dims, vec![Dim::Sym("B".into()), Dim::Fixed(61)]);
    assert_eq!(shapes.ty(loss).unwrap().rank(), 0);
    assert_eq!(shapes.params["enc1.weight"].shape, vec![61, 123]);
    assert_eq!(shapes.n_trainable(), 61 * 123 + 61 + 10 * 61 + 10);
}

#[test]
fn reports_every_error_once_and_skips_dependents() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "8"]);
    let y = b.input("y", Dtype::F32, &["B", "4"]);
    let bad1 = b.op(Op::Binary(crate::ir::BinaryOp::Add), "s", &[x, y]);
    let after = b.op(lin(3), "after", &[bad1]);
    let bad2 = b.op(
        Op::Reduce(crate::ir::Reduce {
            kind: crate::ir::ReduceKind::Mean,
            axis: 3,
            keepdim: false,
        }),
        "m",
        &[x],
    );
    b.output("a", after);
    b.output("b", bad2);
    let model = b.finish();
    let ck = run_checker(&model);
    let codes: Vec<_> = ck.diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec!["fusec::shape::mismatch", "fusec::shape::axis"]);
    assert!(ck.shapes.ty(after).is_none());
    assert!(
        check_model(&model).is_err(),
        "a model with errors gets no Shapes"
    );
}

#[test]
fn shared_instances_must_agree_on_widths() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "8"]);
    let y = b.input("y", Dtype::F32, &["B", "4"]);
    let a = b.op(lin(3), "d", &[x]);
    let c = b.op(lin(3), "d_1", &[y]);
    b.model_mut().graph.node_mut(c.node).params = Some("d".into());
    b.output("a", a);
    b.output("c", c);
    let diags = check_model(&b.finish()).unwrap_err();
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        vec!["fusec::shape::shared"]
    );
}

#[test]
fn losses_must_be_scalars() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "8"]);
    let h = b.op(lin(3), "h", &[x]);
    b.loss("bad", h);
    let diags = check_model(&b.finish()).unwrap_err();
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        vec!["fusec::shape::loss"]
    );
    let _ = Value::new(h.node, 0);
}

#[test]
fn a_cycle_is_one_diagnostic_and_nothing_else_is_checked() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "4"]);
    let a = b.op(Op::Binary(crate::ir::BinaryOp::Add), "a", &[x]);
    let c = b.op(Op::Act(Activation::Relu), "c", &[a]);
    b.model_mut().graph.connect(c, a.node, 1);
    b.output("c", c);
    let diags = check_model(&b.finish()).unwrap_err();
    let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec!["fusec::graph::cycle"]);
}
