//! The view-chain simplifications on hand-built models, through the whole pipeline (IR verified after each pass).

use crate::ir::build::{dim, ModelBuilder};
use crate::ir::print::print_model;
use crate::ir::{Dtype, Op, Reshape, Slice, Transpose};

fn optimized(b: ModelBuilder) -> String {
    let mut m = b.finish();
    let shapes = crate::check::check_model(&m).unwrap();
    crate::passes::optimize(&mut m, &shapes, &mut |pass, m| {
        crate::ir::verify::verify(m).unwrap_or_else(|e| panic!("after {pass}: {e:?}"));
    });
    print_model(&m, ())
}

#[test]
fn reshape_of_reshape_reads_the_source() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "4", "6"]);
    let flat = b.op(
        Op::Reshape(Reshape {
            shape: vec![dim("B"), dim("24")],
        }),
        "flat",
        &[x],
    );
    let back = b.op(
        Op::Reshape(Reshape {
            shape: vec![dim("B"), dim("8"), dim("3")],
        }),
        "back",
        &[flat],
    );
    b.output("y", back);
    insta::assert_snapshot!(optimized(b), @r"
    model M
      %0 = input name=x : ?  @ x
      %1 = reshape(%0) shape=[B, 8, 3] : ?  @ back
      output y = %1
    ");
}

#[test]
fn a_transpose_undone_and_a_full_slice_disappear_but_a_real_slice_stays() {
    let mut b = ModelBuilder::new("M");
    let x = b.input("x", Dtype::F32, &["B", "4", "6"]);
    let t = b.op(Op::Transpose(Transpose { a: 1, b: 2 }), "t", &[x]);
    let u = b.op(Op::Transpose(Transpose { a: 2, b: 1 }), "u", &[t]);
    let all = b.op(
        Op::Slice(Slice {
            axis: 2,
            start: 0,
            end: 6,
        }),
        "all",
        &[u],
    );
    let part = b.op(
        Op::Slice(Slice {
            axis: 2,
            start: 0,
            end: 3,
        }),
        "part",
        &[all],
    );
    b.output("y", part);
    insta::assert_snapshot!(optimized(b), @r"
    model M
      %0 = input name=x : ?  @ x
      %1 = slice(%0) axis=2 start=0 end=3 : ?  @ part
      output y = %1
    ");
}
