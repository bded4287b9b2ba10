//! The IR's operations. One variant per primitive of the language (docs/LANGUAGE.md); attributes that are sizes
//! are [`DimExpr`]s folded by the checker. Each op documents its operands (in edge order) and output ports.
//! Parameters an op owns are described by [`Op::param_specs`], the single source of truth for parameter names,
//! shapes and initialisers: the checker counts them for `fusec summary`, the back end allocates them.

use serde::Serialize;

use super::types::{Dim, DimExpr};

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Activation {
    Identity,
    Relu,
    Tanh,
    Sigmoid,
    /// Exact (erf) GELU, or the tanh approximation.
    Gelu {
        tanh: bool,
    },
    LeakyRelu {
        slope: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ReduceKind {
    Mean,
    Sum,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Cell {
    Lstm,
    Gru,
}

/// How a bidirectional recurrent layer combines its two directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Merge {
    Concat,
    Sum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LossKind {
    CrossEntropy,
    BceWithLogits,
    Mse,
    L1,
    /// Sequence cross-entropy for decoders: `logits [B, T, V]` at position t score target position t + 1
    /// (`targets i64[B, T]`); PAD (id 0) targets are ignored and the mean is over the remaining tokens.
    NextToken,
}

/// How an attention decoder's initial LSTM state comes from its `init` operand (architectures.md §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DecoderInit {
    /// `c0 = init`, `h0 = 0` (the paper's code, the default).
    Cell,
    /// `h0 = init`, `c0 = 0`.
    Hidden,
    /// `h0 = c0 = init`.
    Both,
}

/// Initialiser of a parameter. All follow PyTorch's definitions so fixtures and published models line up.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Init {
    /// U(-b, b) with b = 1/sqrt(fan_in) (PyTorch's Linear, LSTM with fan_in = hidden, Conv).
    UniformFanIn {
        fan_in: i64,
    },
    /// N(0, 1) (Embedding).
    StdNormal,
    /// Xavier/Glorot normal with PyTorch's fan computation.
    XavierNormal,
    /// Xavier/Glorot uniform with PyTorch's fan computation.
    XavierUniform,
    Zeros,
    Ones,
}

/// One parameter (or buffer) an op owns. Its full name is `{owner path}.{suffix}` (or the owner path itself when
/// `suffix` is empty, as for `param(...)`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamSpec {
    pub suffix: String,
    pub shape: Vec<i64>,
    pub init: Init,
    /// Buffers (batch-norm running statistics) are saved with the model but never trained.
    pub trainable: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Op {
    /// A model input bound to a data field. No operands; its type is the declared one.
    Input {
        name: String,
    },
    /// A raw trainable tensor. No operands. Owns one parameter named by the node's param path.
    Param {
        shape: Vec<DimExpr>,
        init: Init,
    },
    /// A scalar constant (f32[]), used for arithmetic with numbers (`0.5 * x`).
    Scalar {
        value: f64,
    },
    /// `[.., in] -> [.., out]`. Owns `weight [out, in]`, `bias [out]`.
    Linear {
        out: DimExpr,
        bias: bool,
    },
    /// `i64[..] -> f32[.., dim]`. Owns `weight [vocab, dim]`.
    Embedding {
        vocab: DimExpr,
        dim: DimExpr,
    },
    Act(Activation),
    /// Identity at evaluation; seeded masks in training.
    Dropout {
        p: f64,
    },
    /// Additive Gaussian noise `x + std·ε` in training only.
    Noise {
        std: f64,
    },
    /// Over the last axis. Owns `weight`, `bias` `[d]`.
    LayerNorm {
        eps: f64,
    },
    /// `[B, C]` (or `[B, C, L]`, statistics over B and L). Owns `weight`, `bias`, buffers `running_mean`, `running_var`.
    BatchNorm {
        eps: f64,
        momentum: f64,
    },
    /// n operands, joined along `axis`.
    Concat {
        axis: i64,
    },
    /// One operand; one output port per size.
    Split {
        sizes: Vec<DimExpr>,
        axis: i64,
    },
    Reshape {
        shape: Vec<DimExpr>,
    },
    Transpose {
        a: i64,
        b: i64,
    },
    Reduce {
        kind: ReduceKind,
        axis: i64,
        keepdim: bool,
    },
    /// Picks one index along an axis and drops that axis.
    Select {
        axis: i64,
        index: i64,
    },
    Slice {
        axis: i64,
        start: i64,
        end: i64,
    },
    /// Operands: `seq [B, T, D]`, `lengths i64[B]` -> `[B, D]`, the step at `lengths - 1`.
    LastValid,
    Pad {
        axis: i64,
        before: i64,
        after: i64,
        value: f64,
    },
    /// Two operands, NumPy broadcasting.
    Binary(BinaryOp),
    /// Two operands, batched matmul with broadcasting of the leading dims.
    MatMul,
    /// `[B, m], [B, n] -> [B, m·n]`, row-major (`out[b, i·n + j] = a[b,i]·b[b,j]`).
    Outer,
    Softmax {
        axis: i64,
        log: bool,
    },
    /// Operands: `x [B, T, I]`, optional `lengths i64[B]`. Ports: 0 `seq [B, T, H·dirs]` (or H with `Merge::Sum`),
    /// 1 `h [B, H·dirs]` (final state at each sequence's true end; top layer), 2 `c` (LSTM only).
    /// Owns PyTorch-named weights per layer and direction: `weight_ih_l{k}[_reverse]`, `weight_hh_l{k}...`,
    /// `bias_ih_l{k}...`, `bias_hh_l{k}...`.
    Recurrent {
        cell: Cell,
        hidden: DimExpr,
        layers: u32,
        bidirectional: bool,
        merge: Merge,
    },
    /// Operands: `q [B, Tq, d]`, optional `kv [B, Tk, d]` (self-attention without it). Owns `in_proj_weight [3d, d]`,
    /// `in_proj_bias [3d]`, `out_proj.weight [d, d]`, `out_proj.bias [d]` (fairseq/MulT layout).
    Attention {
        heads: u32,
        dropout: f64,
        causal: bool,
    },
    /// MulT's pre-LN layer. Operands: `x`, optional `kv`. Owns `ln0.*`, `attn.*` (as Attention), `ln1.*`,
    /// `fc1.weight [ff, d]`, `fc1.bias`, `fc2.weight [d, ff]`, `fc2.bias`.
    TransformerLayer {
        heads: u32,
        ff: DimExpr,
        attn_dropout: f64,
        relu_dropout: f64,
        res_dropout: f64,
        causal: bool,
    },
    /// `[B, T, d] -> [T, d]` sinusoidal table (fairseq layout, positions from 1).
    Positions,
    /// `[B, T, C] -> [B, T', out]`. Owns `weight [out, C, kernel]`, `bias [out]`.
    Conv1d {
        out: DimExpr,
        kernel: i64,
        stride: i64,
        padding: i64,
        bias: bool,
    },
    /// `[B, C, H, W] -> [B, out, H', W']`. Owns `weight [out, C, k, k]`, `bias [out]`.
    Conv2d {
        out: DimExpr,
        kernel: i64,
        stride: i64,
        padding: i64,
        bias: bool,
    },
    StopGradient,
    /// An LSTM decoder with Luong dot attention (architectures.md §5.4), the only op that runs step by step.
    /// Operands: `memory [B, Tx, H]` (zero at padding), `lengths i64[B]` (source mask), `init [B, H]`,
    /// `targets i64[B, Ty]`. Port 0: teacher-forced `logits [B, Ty, V]`, position t scoring token t + 1 from
    /// tokens 0..=t (use with `LossKind::NextToken`). At evaluation `backend::decode` reruns the same
    /// parameters one step at a time (greedy or beam search). Owns `embed.weight [V, E]`, `cell.weight_ih
    /// [4H, E]`, `cell.weight_hh [4H, H]`, `cell.bias_ih`, `cell.bias_hh [4H]`, `cat.weight [H, 2H]`,
    /// `cat.bias [H]`, `out.weight [V, H + E]`, `out.bias [V]`. Other decoders (GRU, other attention scores)
    /// would be further variants with the same operands and the same step interface in `nn::decoder`.
    Decoder {
        vocab: DimExpr,
        emb: DimExpr,
        dropout: f64,
        init: DecoderInit,
    },
    /// Two operands (prediction, target) -> f32[] mean loss. Lowering writes a number given as the target
    /// (`bce_with_logits(d_real, 1.0)`) as a `Scalar` operand of type f32[]: a constant target broadcast to the
    /// prediction's shape (GAN-Fusion's real/fake labels).
    Loss(LossKind),
}

impl Op {
    /// Number of output ports (for `Split`, the number of pieces; `Recurrent` LSTM 3, GRU 2).
    pub fn n_outputs(&self) -> usize {
        match self {
            Op::Split { sizes, .. } => sizes.len(),
            Op::Recurrent {
                cell: Cell::Lstm, ..
            } => 3,
            Op::Recurrent {
                cell: Cell::Gru, ..
            } => 2,
            _ => 1,
        }
    }

    /// Short lower-case name used in dumps, DOT labels and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Param { .. } => "param",
            Op::Scalar { .. } => "scalar",
            Op::Linear { .. } => "linear",
            Op::Embedding { .. } => "embedding",
            Op::Act(a) => match a {
                Activation::Identity => "identity",
                Activation::Relu => "relu",
                Activation::Tanh => "tanh",
                Activation::Sigmoid => "sigmoid",
                Activation::Gelu { .. } => "gelu",
                Activation::LeakyRelu { .. } => "leaky_relu",
            },
            Op::Dropout { .. } => "dropout",
            Op::Noise { .. } => "noise",
            Op::LayerNorm { .. } => "layer_norm",
            Op::BatchNorm { .. } => "batch_norm",
            Op::Concat { .. } => "concat",
            Op::Split { .. } => "split",
            Op::Reshape { .. } => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::Reduce {
                kind: ReduceKind::Mean,
                ..
            } => "mean",
            Op::Reduce {
                kind: ReduceKind::Sum,
                ..
            } => "sum",
            Op::Reduce {
                kind: ReduceKind::Max,
                ..
            } => "max",
            Op::Select { .. } => "select",
            Op::Slice { .. } => "slice",
            Op::LastValid => "last_valid",
            Op::Pad { .. } => "pad",
            Op::Binary(BinaryOp::Add) => "add",
            Op::Binary(BinaryOp::Sub) => "sub",
            Op::Binary(BinaryOp::Mul) => "mul",
            Op::Binary(BinaryOp::Div) => "div",
            Op::MatMul => "matmul",
            Op::Outer => "outer",
            Op::Softmax { log: false, .. } => "softmax",
            Op::Softmax { log: true, .. } => "log_softmax",
            Op::Recurrent {
                cell: Cell::Lstm, ..
            } => "lstm",
            Op::Recurrent {
                cell: Cell::Gru, ..
            } => "gru",
            Op::Attention { .. } => "attention",
            Op::TransformerLayer { .. } => "transformer_layer",
            Op::Positions => "positions",
            Op::Conv1d { .. } => "conv1d",
            Op::Conv2d { .. } => "conv2d",
            Op::StopGradient => "stop_gradient",
            Op::Decoder { .. } => "attention_decoder",
            Op::Loss(LossKind::NextToken) => "next_token_cross_entropy",
            Op::Loss(LossKind::CrossEntropy) => "cross_entropy",
            Op::Loss(LossKind::BceWithLogits) => "bce_with_logits",
            Op::Loss(LossKind::Mse) => "mse",
            Op::Loss(LossKind::L1) => "l1",
        }
    }

    /// True for the ops that [`Op::param_specs`] gives parameters to (so lowering names their owner).
    pub fn owns_params(&self) -> bool {
        matches!(
            self,
            Op::Param { .. }
                | Op::Linear { .. }
                | Op::Embedding { .. }
                | Op::LayerNorm { .. }
                | Op::BatchNorm { .. }
                | Op::Recurrent { .. }
                | Op::Attention { .. }
                | Op::TransformerLayer { .. }
                | Op::Conv1d { .. }
                | Op::Conv2d { .. }
                | Op::Decoder { .. }
        )
    }

    /// True for ops whose result depends on the training/evaluation mode or on the seeded generator.
    pub fn is_stochastic(&self) -> bool {
        match self {
            Op::Dropout { p } => *p > 0.0,
            Op::Noise { std } => *std > 0.0,
            Op::Attention { dropout, .. } | Op::Decoder { dropout, .. } => *dropout > 0.0,
            Op::TransformerLayer {
                attn_dropout,
                relu_dropout,
                res_dropout,
                ..
            } => *attn_dropout > 0.0 || *relu_dropout > 0.0 || *res_dropout > 0.0,
            _ => false,
        }
    }

    /// Parameters this op owns, given the checked types of its operands and its folded size attributes.
    /// `inputs[i]` are the dims of operand i; `eval` folds a `DimExpr` attribute to a number. Returns `None` when a
    /// size it needs is not a fixed number (the checker reports that as an error before anyone calls this).
    pub fn param_specs(
        &self,
        inputs: &[Vec<Dim>],
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        let last = |i: usize| inputs.get(i).and_then(|d| d.last()).and_then(|d| d.fixed());
        let p = |suffix: &str, shape: Vec<i64>, init: Init| ParamSpec {
            suffix: suffix.to_string(),
            shape,
            init,
            trainable: true,
        };
        let specs = match self {
            Op::Param { shape, init } => {
                let shape = shape.iter().map(eval).collect::<Option<Vec<_>>>()?;
                vec![p("", shape, *init)]
            }
            Op::Linear { out, bias } => {
                let (i, o) = (last(0)?, eval(out)?);
                let mut v = vec![p("weight", vec![o, i], Init::UniformFanIn { fan_in: i })];
                if *bias {
                    v.push(p("bias", vec![o], Init::UniformFanIn { fan_in: i }));
                }
                v
            }
            Op::Embedding { vocab, dim } => {
                vec![p("weight", vec![eval(vocab)?, eval(dim)?], Init::StdNormal)]
            }
            Op::LayerNorm { .. } => {
                let d = last(0)?;
                vec![
                    p("weight", vec![d], Init::Ones),
                    p("bias", vec![d], Init::Zeros),
                ]
            }
            Op::BatchNorm { .. } => {
                let c = inputs
                    .first()
                    .and_then(|d| d.get(1))
                    .and_then(|d| d.fixed())?;
                vec![
                    p("weight", vec![c], Init::Ones),
                    p("bias", vec![c], Init::Zeros),
                    ParamSpec {
                        suffix: "running_mean".into(),
                        shape: vec![c],
                        init: Init::Zeros,
                        trainable: false,
                    },
                    ParamSpec {
                        suffix: "running_var".into(),
                        shape: vec![c],
                        init: Init::Ones,
                        trainable: false,
                    },
                ]
            }
            Op::Recurrent {
                cell,
                hidden,
                layers,
                bidirectional,
                merge,
            } => {
                let h = eval(hidden)?;
                let gates = match cell {
                    Cell::Lstm => 4,
                    Cell::Gru => 3,
                };
                let dirs = if *bidirectional { 2 } else { 1 };
                let mut v = Vec::new();
                for layer in 0..*layers {
                    let input = if layer == 0 {
                        last(0)?
                    } else if *merge == Merge::Sum {
                        h
                    } else {
                        h * dirs
                    };
                    for dir in 0..dirs {
                        let sfx = if dir == 1 { "_reverse" } else { "" };
                        let init = Init::UniformFanIn { fan_in: h };
                        v.push(p(
                            &format!("weight_ih_l{layer}{sfx}"),
                            vec![gates * h, input],
                            init,
                        ));
                        v.push(p(
                            &format!("weight_hh_l{layer}{sfx}"),
                            vec![gates * h, h],
                            init,
                        ));
                        v.push(p(&format!("bias_ih_l{layer}{sfx}"), vec![gates * h], init));
                        v.push(p(&format!("bias_hh_l{layer}{sfx}"), vec![gates * h], init));
                    }
                }
                v
            }
            Op::Attention { .. } => attention_specs("", last(0)?),
            Op::TransformerLayer { ff, .. } => {
                let d = last(0)?;
                let f = eval(ff)?;
                let mut v = vec![
                    p("ln0.weight", vec![d], Init::Ones),
                    p("ln0.bias", vec![d], Init::Zeros),
                ];
                v.extend(attention_specs("attn.", d));
                v.push(p("ln1.weight", vec![d], Init::Ones));
                v.push(p("ln1.bias", vec![d], Init::Zeros));
                v.push(p("fc1.weight", vec![f, d], Init::XavierUniform));
                v.push(p("fc1.bias", vec![f], Init::Zeros));
                v.push(p("fc2.weight", vec![d, f], Init::XavierUniform));
                v.push(p("fc2.bias", vec![d], Init::Zeros));
                v
            }
            Op::Conv1d {
                out, kernel, bias, ..
            } => {
                let (c, o) = (last(0)?, eval(out)?);
                let init = Init::UniformFanIn { fan_in: c * kernel };
                let mut v = vec![p("weight", vec![o, c, *kernel], init)];
                if *bias {
                    v.push(p("bias", vec![o], init));
                }
                v
            }
            Op::Conv2d {
                out, kernel, bias, ..
            } => {
                let c = inputs
                    .first()
                    .and_then(|d| d.get(1))
                    .and_then(|d| d.fixed())?;
                let o = eval(out)?;
                let init = Init::UniformFanIn {
                    fan_in: c * kernel * kernel,
                };
                let mut v = vec![p("weight", vec![o, c, *kernel, *kernel], init)];
                if *bias {
                    v.push(p("bias", vec![o], init));
                }
                v
            }
            Op::Decoder { vocab, emb, .. } => {
                let (v, e) = (eval(vocab)?, eval(emb)?);
                let h = inputs
                    .first()
                    .and_then(|d| d.get(2))
                    .and_then(|d| d.fixed())?;
                let cell = Init::UniformFanIn { fan_in: h };
                let cat = Init::UniformFanIn { fan_in: 2 * h };
                let out = Init::UniformFanIn { fan_in: h + e };
                vec![
                    p("embed.weight", vec![v, e], Init::StdNormal),
                    p("cell.weight_ih", vec![4 * h, e], cell),
                    p("cell.weight_hh", vec![4 * h, h], cell),
                    p("cell.bias_ih", vec![4 * h], cell),
                    p("cell.bias_hh", vec![4 * h], cell),
                    p("cat.weight", vec![h, 2 * h], cat),
                    p("cat.bias", vec![h], cat),
                    p("out.weight", vec![v, h + e], out),
                    p("out.bias", vec![v], out),
                ]
            }
            _ => Vec::new(),
        };
        Some(specs)
    }
}

fn attention_specs(prefix: &str, d: i64) -> Vec<ParamSpec> {
    let p = |suffix: String, shape: Vec<i64>, init: Init| ParamSpec {
        suffix,
        shape,
        init,
        trainable: true,
    };
    vec![
        p(
            format!("{prefix}in_proj_weight"),
            vec![3 * d, d],
            Init::XavierUniform,
        ),
        p(format!("{prefix}in_proj_bias"), vec![3 * d], Init::Zeros),
        p(
            format!("{prefix}out_proj.weight"),
            vec![d, d],
            Init::XavierUniform,
        ),
        p(format!("{prefix}out_proj.bias"), vec![d], Init::Zeros),
    ]
}
