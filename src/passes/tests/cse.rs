//! Common-subexpression elimination on hand-built models, through the whole pipeline (IR verified after each pass).

use crate::ir::build::{dim, ModelBuilder};
use crate::ir::print::print_model;
use crate::ir::{BinaryOp, Dropout, Dtype, Linear, Op, Scalar};

fn optimized(b: ModelBuilder) -> String {
    let mut m = b.finish();
    let shapes = crate::check::check_model(&m).unwrap();
    crate::passes::optimize(&mut m, &shapes, &mut |pass, m| {
        crate::ir::verify::verify(m).unwrap_or_else(|e| panic!("after {pass}: {e:?}"));
    });
    print_model(&m, ())
}

#[test]
fn equal_pure_nodes_merge_in_chains_but_random_and_parametrised_ones_do_not() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "4"]);
    let branch = |b: &mut ModelBuilder, k: usize| {
        let c = b.op(Op::Scalar(Scalar { value: 2.0 }), &format!("c{k}"), &[]);
        let m = b.op(Op::Binary(BinaryOp::Mul), &format!("m{k}"), &[x, c]);
        let a = b.op(Op::Binary(BinaryOp::Add), &format!("a{k}"), &[m, x]);
        let d = b.op(Op::Dropout(Dropout { p: 0.1 }), &format!("d{k}"), &[a]);
        let l = Op::Linear(Linear {
            out: dim("3"),
            bias: true,
        });
        b.op(l, &format!("lin{k}"), &[d])
    };
    let y0 = branch(&mut b, 0);
    let y1 = branch(&mut b, 1);
    b.output("y0", y0);
    b.output("y1", y1);
    insta::assert_snapshot!(optimized(b), @r"
    model M
      %0 = input name=x : ?  @ x
      %1 = scalar value=2 : ?  @ c0
      %2 = mul(%0, %1) : ?  @ m0
      %3 = add(%2, %0) : ?  @ a0
      %4 = dropout(%3) p=0.1 : ?  @ d0
      %5 = linear(%4) out=3 bias=true : ?  @ lin0
      %6 = dropout(%3) p=0.1 : ?  @ d1
      %7 = linear(%6) out=3 bias=true : ?  @ lin1
      output y0 = %5
      output y1 = %7
    ");
}
