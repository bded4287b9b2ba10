//! The registry's own consistency: one sample op per variant (the exhaustive `variant` match makes a new variant
//! a compile error here until it has a sample), and the facts each declaration states agree with each other.

use super::*;
use crate::ir::{Dim, DimExpr, Init};

fn c(n: i64) -> DimExpr {
    DimExpr::Const(n)
}

/// One op of every variant, with size attributes where the variant has them.
fn samples() -> Vec<Op> {
    vec![
        Op::Input(Input { name: "x".into() }),
        Op::Param(Param {
            shape: vec![c(2), c(3)],
            init: Init::Zeros,
        }),
        Op::Scalar(Scalar { value: 0.5 }),
        Op::Linear(Linear {
            out: c(3),
            bias: true,
        }),
        Op::Embedding(Embedding {
            vocab: c(5),
            dim: c(3),
        }),
        Op::Act(Activation::Gelu { tanh: true }),
        Op::Dropout(Dropout { p: 0.1 }),
        Op::Noise(Noise { std: 0.1 }),
        Op::LayerNorm(LayerNorm { eps: 1e-5 }),
        Op::BatchNorm(BatchNorm {
            eps: 1e-5,
            momentum: 0.1,
        }),
        Op::Concat(Concat { axis: -1 }),
        Op::Split(Split {
            sizes: vec![c(1), c(2)],
            axis: -1,
        }),
        Op::Reshape(Reshape {
            shape: vec![DimExpr::Sym("B".into()), DimExpr::Infer],
        }),
        Op::Transpose(Transpose { a: 0, b: 1 }),
        Op::Reduce(Reduce {
            kind: ReduceKind::Max,
            axis: 1,
            keepdim: true,
        }),
        Op::Select(Select { axis: 1, index: 0 }),
        Op::Slice(Slice {
            axis: 1,
            start: 0,
            end: 1,
        }),
        Op::LastValid(LastValid),
        Op::Pad(Pad {
            axis: -1,
            before: 1,
            after: 0,
            value: 1.0,
        }),
        Op::Binary(BinaryOp::Div),
        Op::MatMul(MatMul),
        Op::Outer(Outer),
        Op::Softmax(Softmax {
            axis: -1,
            log: true,
        }),
        Op::Recurrent(Recurrent {
            cell: Cell::Lstm,
            hidden: c(3),
            layers: 2,
            bidirectional: true,
            merge: Merge::Sum,
        }),
        Op::Attention(Attention {
            heads: 2,
            dropout: 0.1,
            causal: true,
        }),
        Op::TransformerLayer(TransformerLayer {
            heads: 2,
            ff: c(8),
            attn_dropout: 0.0,
            relu_dropout: 0.1,
            res_dropout: 0.0,
            causal: false,
        }),
        Op::Positions(Positions),
        Op::Conv1d(Conv1d {
            out: c(3),
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: false,
        }),
        Op::Conv2d(Conv2d {
            out: c(3),
            kernel: 3,
            stride: 2,
            padding: 0,
            bias: true,
        }),
        Op::StopGradient(StopGradient),
        Op::Decoder(Decoder {
            vocab: c(7),
            emb: c(3),
            dropout: 0.2,
            init: DecoderInit::Both,
        }),
        Op::Loss(LossKind::NextToken),
    ]
}

/// The index of an op's variant. Exhaustive on purpose.
fn variant(op: &Op) -> usize {
    match op {
        Op::Input(_) => 0,
        Op::Param(_) => 1,
        Op::Scalar(_) => 2,
        Op::Linear(_) => 3,
        Op::Embedding(_) => 4,
        Op::Act(_) => 5,
        Op::Dropout(_) => 6,
        Op::Noise(_) => 7,
        Op::LayerNorm(_) => 8,
        Op::BatchNorm(_) => 9,
        Op::Concat(_) => 10,
        Op::Split(_) => 11,
        Op::Reshape(_) => 12,
        Op::Transpose(_) => 13,
        Op::Reduce(_) => 14,
        Op::Select(_) => 15,
        Op::Slice(_) => 16,
        Op::LastValid(_) => 17,
        Op::Pad(_) => 18,
        Op::Binary(_) => 19,
        Op::MatMul(_) => 20,
        Op::Outer(_) => 21,
        Op::Softmax(_) => 22,
        Op::Recurrent(_) => 23,
        Op::Attention(_) => 24,
        Op::TransformerLayer(_) => 25,
        Op::Positions(_) => 26,
        Op::Conv1d(_) => 27,
        Op::Conv2d(_) => 28,
        Op::StopGradient(_) => 29,
        Op::Decoder(_) => 30,
        Op::Loss(_) => 31,
    }
}

#[test]
fn every_variant_has_a_sample() {
    let mut seen: Vec<usize> = samples().iter().map(variant).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, (0..32).collect::<Vec<_>>());
}

#[test]
fn the_printed_sizes_are_the_rewritable_ones() {
    for op in samples() {
        let shown: Vec<DimExpr> = op.dims().into_iter().cloned().collect();
        let mut m = op.clone();
        let rewritable: Vec<DimExpr> = m
            .prim_mut()
            .dims_mut()
            .into_iter()
            .map(|d| d.clone())
            .collect();
        assert_eq!(shown, rewritable, "{}", op.name());
    }
}

#[test]
fn an_op_owns_parameters_exactly_when_it_declares_some() {
    // Four operands of rank 4, every size 4 (big enough for every op's sample).
    let ins = vec![vec![Dim::Fixed(4); 4]; 4];
    let eval = |e: &DimExpr| match e {
        DimExpr::Const(n) => Some(*n),
        _ => None,
    };
    for op in samples() {
        let specs = op.param_specs(&ins, &eval).unwrap_or_default();
        assert_eq!(op.owns_params(), !specs.is_empty(), "{}", op.name());
        let arity = op.prim().arity();
        assert!(arity.max.is_none_or(|m| m >= arity.min), "{}", op.name());
        assert!(op.n_outputs() >= 1, "{}", op.name());
    }
}

#[test]
fn surface_names_are_unique_and_name_their_ops() {
    let mut names: Vec<&str> = PRIMITIVES.iter().map(|p| p.name).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n, "a primitive is declared twice");
    // Every op name a dump can show is a primitive of the language, or one of the internal ops that lowering
    // makes from operators and literals.
    let internal = ["input", "scalar", "add", "sub", "mul", "div", "identity"];
    for op in samples() {
        let name = op.name();
        assert!(
            primitive(name).is_some() || internal.contains(&name),
            "`{name}` is neither a primitive nor internal"
        );
    }
}
