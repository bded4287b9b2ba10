//! Unit tests of `src/passes/mod.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;
use crate::ir::build::ModelBuilder;
use crate::ir::print::print_model;
use crate::ir::{Activation, BinaryOp, DimExpr, Dtype, Op};

fn run(model: &mut Model) -> Vec<&'static str> {
    let shapes = crate::check::check_model(model).unwrap();
    optimize(model, &shapes, &mut |name, m| {
        if let Err(e) = crate::ir::verify::verify(m) {
            panic!("after {name}: {e:?}");
        }
    })
}

#[test]
fn folds_identities_and_numbers_then_removes_dead_nodes() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "4"]);
    let unused = b.input("u", Dtype::F32, &["B", "4"]);
    let d = b.op(Op::Dropout(crate::ir::Dropout { p: 0.0 }), "d", &[x]);
    let i = b.op(Op::Act(Activation::Identity), "i", &[d]);
    let two = b.op(Op::Scalar(crate::ir::Scalar { value: 2.0 }), "two", &[]);
    let half = b.op(Op::Scalar(crate::ir::Scalar { value: 0.5 }), "half", &[]);
    let one = b.op(Op::Binary(BinaryOp::Mul), "one", &[two, half]);
    let y = b.op(Op::Binary(BinaryOp::Mul), "y", &[i, one]);
    let r = b.op(
        Op::Reshape(crate::ir::Reshape {
            shape: vec![DimExpr::Sym("B".into()), DimExpr::Const(4)],
        }),
        "r",
        &[y],
    );
    let _dead = b.op(Op::Act(Activation::Relu), "dead", &[unused]);
    b.output("r", r);
    let mut model = b.finish();
    assert_eq!(run(&mut model), vec!["const-fold", "dead-nodes"]);
    let shapes = crate::check::check_model(&model).unwrap();
    let text = print_model(&model, Some(&shapes));
    assert_eq!(text, "model M\n  %0 = input name=x : f32[B, 4]  @ x\n  %1 = input name=u : f32[B, 4]  @ u\n  output r = %0\n");
}

#[test]
fn keeps_work_that_changes_values() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "4"]);
    let three = b.op(Op::Scalar(crate::ir::Scalar { value: 3.0 }), "three", &[]);
    let y = b.op(Op::Binary(BinaryOp::Mul), "y", &[x, three]);
    let z = b.op(Op::Dropout(crate::ir::Dropout { p: 0.1 }), "z", &[y]);
    b.output("z", z);
    let mut model = b.finish();
    assert!(run(&mut model).is_empty());
    assert_eq!(model.graph.n_nodes(), 4);
}
