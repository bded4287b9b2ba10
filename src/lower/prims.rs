//! Primitives: each has a signature (parameter names and defaults) and lowers to one `ir::Op` node, whose
//! operands are its tensor arguments. Size arguments stay `DimExpr`s for the checker to fold.

use crate::diag::Diagnostic;
use crate::ir::{
    Activation, Cell, DecoderInit, DimExpr, Init, LossKind, Merge, Op, ReduceKind, Value,
};
use crate::source::Span;

use super::call::ArgVal;
use super::cx::Cx;
use super::eval::Ev;
use super::value::Val;

/// A parameter default.
#[derive(Clone, Copy)]
enum Def {
    Req,
    No,
    I(i64),
    F(f64),
    B(bool),
    S(&'static str),
}
use Def::*;

/// Every primitive name, for dispatch and "did you mean".
pub const NAMES: &[&str] = &[
    "linear",
    "embedding",
    "relu",
    "tanh",
    "sigmoid",
    "gelu",
    "leaky_relu",
    "activation",
    "dropout",
    "noise",
    "layer_norm",
    "batch_norm",
    "concat",
    "split",
    "reshape",
    "transpose",
    "mean",
    "sum",
    "max",
    "select",
    "slice",
    "last_valid",
    "pad",
    "matmul",
    "outer",
    "softmax",
    "log_softmax",
    "lstm",
    "gru",
    "attention",
    "transformer_layer",
    "positions",
    "conv1d",
    "conv2d",
    "param",
    "stop_gradient",
    "cross_entropy",
    "bce_with_logits",
    "mse",
    "l1",
    "attention_decoder",
    "next_token_cross_entropy",
];

fn signature(name: &str) -> &'static [(&'static str, Def)] {
    match name {
        "linear" => &[("x", Req), ("out", Req), ("bias", B(true))],
        "embedding" => &[("ids", Req), ("vocab", Req), ("dim", Req)],
        "gelu" => &[("x", Req), ("approx", S("none"))],
        "leaky_relu" => &[("x", Req), ("slope", F(0.01))],
        "activation" => &[("x", Req), ("name", Req)],
        "dropout" => &[("x", Req), ("p", Req)],
        "noise" => &[("x", Req), ("std", Req)],
        "layer_norm" => &[("x", Req), ("eps", F(1e-5))],
        "batch_norm" => &[("x", Req), ("eps", F(1e-5)), ("momentum", F(0.1))],
        "concat" => &[("xs", Req), ("axis", I(-1))],
        "split" => &[("x", Req), ("sizes", Req), ("axis", I(-1))],
        "reshape" => &[("x", Req), ("shape", Req)],
        "transpose" => &[("x", Req), ("a", Req), ("b", Req)],
        "mean" | "sum" | "max" => &[("x", Req), ("axis", Req), ("keepdim", B(false))],
        "select" => &[("x", Req), ("axis", Req), ("index", Req)],
        "slice" => &[("x", Req), ("axis", Req), ("start", Req), ("end", Req)],
        "last_valid" => &[("seq", Req), ("lengths", Req)],
        "pad" => &[
            ("x", Req),
            ("before", I(0)),
            ("after", I(0)),
            ("value", F(0.0)),
            ("axis", I(-1)),
        ],
        "matmul" | "outer" => &[("a", Req), ("b", Req)],
        "softmax" | "log_softmax" => &[("x", Req), ("axis", I(-1))],
        "lstm" | "gru" => &[
            ("x", Req),
            ("hidden", Req),
            ("lengths", No),
            ("layers", I(1)),
            ("bidirectional", B(false)),
            ("merge", S("concat")),
        ],
        "attention" => &[
            ("q", Req),
            ("kv", No),
            ("heads", Req),
            ("dropout", F(0.0)),
            ("causal", B(false)),
        ],
        "transformer_layer" => &[
            ("x", Req),
            ("kv", No),
            ("heads", Req),
            ("ff", No),
            ("dropout", F(0.0)),
            ("attn_dropout", No),
            ("relu_dropout", No),
            ("res_dropout", No),
            ("causal", B(false)),
        ],
        "conv1d" | "conv2d" => &[
            ("x", Req),
            ("out", Req),
            ("kernel", Req),
            ("stride", I(1)),
            ("padding", I(0)),
            ("bias", B(true)),
        ],
        "param" => &[("shape", Req), ("init", S("xavier_normal"))],
        "cross_entropy" | "bce_with_logits" | "mse" | "l1" | "next_token_cross_entropy" => {
            &[("pred", Req), ("target", Req)]
        }
        "attention_decoder" => &[
            ("memory", Req),
            ("lengths", Req),
            ("state", Req),
            ("targets", Req),
            ("vocab", Req),
            ("emb", I(300)),
            ("dropout", F(0.0)),
            ("init", S("cell")),
        ],
        _ => &[("x", Req)],
    }
}

/// Bound arguments of one primitive call, with typed accessors that report errors.
struct Args {
    prim: &'static str,
    vals: Vec<(&'static str, Val, Span)>,
}

impl Args {
    fn get(&self, name: &str) -> (Val, Span) {
        self.vals
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, v, s)| (v.clone(), *s))
            .unwrap_or((Val::None, Span::default()))
    }
}

impl Cx<'_> {
    /// Lowers one primitive call. `shared` is the parameter owner of a shared primitive instance.
    pub fn prim(
        &mut self,
        prim: &'static str,
        mut args: Vec<ArgVal>,
        span: Span,
        hint: Option<&str>,
        shared: Option<String>,
    ) -> Ev {
        if prim == "reshape" && args.iter().filter(|a| a.name.is_none()).count() > 2 {
            // `reshape(x, B, 4, 2)`: the dims after the tensor form the shape.
            let dims: Vec<ArgVal> = args.drain(1..).collect();
            let at = dims
                .first()
                .map(|d| d.span.to(dims[dims.len() - 1].span))
                .unwrap_or(span);
            args.push(ArgVal {
                name: None,
                val: Val::List(dims.into_iter().map(|d| d.val).collect()),
                span: at,
            });
        }
        let sig = signature(prim);
        let names: Vec<&str> = sig.iter().map(|(n, _)| *n).collect();
        let bound = self.bind_args(prim, &names, args, span)?;
        let mut vals = Vec::with_capacity(sig.len());
        let mut ok = true;
        for ((name, def), arg) in sig.iter().zip(bound) {
            let v = match (arg, def) {
                (Some(a), _) => (a.val, a.span),
                (None, Req) => {
                    let d = Diagnostic::error(
                        "fusec::param::missing",
                        format!("`{prim}` needs an argument for `{name}`"),
                    )
                    .label(span, format!("`{name}` is missing"))
                    .help(format!("the parameters are: {}", names.join(", ")));
                    self.report(d);
                    ok = false;
                    continue;
                }
                (None, No) => (Val::None, span),
                (None, I(i)) => (Val::Int(*i), span),
                (None, F(f)) => (Val::Float(*f), span),
                (None, B(b)) => (Val::Bool(*b), span),
                (None, S(s)) => (Val::Str(s.to_string()), span),
            };
            vals.push((*name, v.0, v.1));
        }
        if !ok {
            return Err(());
        }
        let a = Args { prim, vals };
        self.build_prim(&a, span, hint, shared.as_deref())
    }

    fn build_prim(&mut self, a: &Args, span: Span, hint: Option<&str>, shared: Option<&str>) -> Ev {
        let p = a.prim;
        let op = match p {
            "linear" => Op::Linear {
                out: self.a_dim(a, "out")?,
                bias: self.a_bool(a, "bias")?,
            },
            "embedding" => Op::Embedding {
                vocab: self.a_dim(a, "vocab")?,
                dim: self.a_dim(a, "dim")?,
            },
            "relu" => Op::Act(Activation::Relu),
            "tanh" => Op::Act(Activation::Tanh),
            "sigmoid" => Op::Act(Activation::Sigmoid),
            "gelu" => Op::Act(Activation::Gelu {
                tanh: self.a_choice(a, "approx", &["none", "tanh"])? == "tanh",
            }),
            "leaky_relu" => Op::Act(Activation::LeakyRelu {
                slope: self.a_float(a, "slope")?,
            }),
            "activation" => Op::Act(self.a_activation(a)?),
            "dropout" => Op::Dropout {
                p: self.a_prob(a, "p")?,
            },
            "noise" => Op::Noise {
                std: self.a_nonneg(a, "std")?,
            },
            "layer_norm" => Op::LayerNorm {
                eps: self.a_nonneg(a, "eps")?,
            },
            "batch_norm" => Op::BatchNorm {
                eps: self.a_nonneg(a, "eps")?,
                momentum: self.a_prob(a, "momentum")?,
            },
            "concat" => {
                let xs = self.a_tensors(a, "xs")?;
                let op = Op::Concat {
                    axis: self.a_int(a, "axis")?,
                };
                return Ok(Val::Tensor(self.emit(op, &xs, span, hint, shared)?));
            }
            "split" => return self.split(a, span, hint),
            "reshape" => Op::Reshape {
                shape: self.a_shape(a)?,
            },
            "transpose" => Op::Transpose {
                a: self.a_int(a, "a")?,
                b: self.a_int(a, "b")?,
            },
            "mean" | "sum" | "max" => {
                let kind = match p {
                    "mean" => ReduceKind::Mean,
                    "sum" => ReduceKind::Sum,
                    _ => ReduceKind::Max,
                };
                Op::Reduce {
                    kind,
                    axis: self.a_int(a, "axis")?,
                    keepdim: self.a_bool(a, "keepdim")?,
                }
            }
            "select" => Op::Select {
                axis: self.a_int(a, "axis")?,
                index: self.a_int(a, "index")?,
            },
            "slice" => Op::Slice {
                axis: self.a_int(a, "axis")?,
                start: self.a_int(a, "start")?,
                end: self.a_int(a, "end")?,
            },
            "last_valid" => Op::LastValid,
            "pad" => Op::Pad {
                axis: self.a_int(a, "axis")?,
                before: self.a_count(a, "before")?,
                after: self.a_count(a, "after")?,
                value: self.a_float(a, "value")?,
            },
            "matmul" => Op::MatMul,
            "outer" => Op::Outer,
            "softmax" | "log_softmax" => Op::Softmax {
                axis: self.a_int(a, "axis")?,
                log: p == "log_softmax",
            },
            "lstm" | "gru" => return self.recurrent(a, span, hint, shared),
            "attention" => Op::Attention {
                heads: self.a_positive(a, "heads")? as u32,
                dropout: self.a_prob(a, "dropout")?,
                causal: self.a_bool(a, "causal")?,
            },
            "transformer_layer" => self.transformer_op(a)?,
            "positions" => Op::Positions,
            "conv1d" | "conv2d" => self.conv_op(a)?,
            "param" => {
                let init = match self
                    .a_choice(
                        a,
                        "init",
                        &["xavier_normal", "xavier_uniform", "zeros", "ones", "normal"],
                    )?
                    .as_str()
                {
                    "xavier_normal" => Init::XavierNormal,
                    "xavier_uniform" => Init::XavierUniform,
                    "zeros" => Init::Zeros,
                    "ones" => Init::Ones,
                    _ => Init::StdNormal,
                };
                Op::Param {
                    shape: self.a_shape(a)?,
                    init,
                }
            }
            "stop_gradient" => Op::StopGradient,
            "cross_entropy" => Op::Loss(LossKind::CrossEntropy),
            "bce_with_logits" => Op::Loss(LossKind::BceWithLogits),
            "mse" => Op::Loss(LossKind::Mse),
            "next_token_cross_entropy" => Op::Loss(LossKind::NextToken),
            "attention_decoder" => Op::Decoder {
                vocab: self.a_dim(a, "vocab")?,
                emb: self.a_dim(a, "emb")?,
                dropout: self.a_prob(a, "dropout")?,
                init: match self
                    .a_choice(a, "init", &["cell", "hidden", "both"])?
                    .as_str()
                {
                    "hidden" => DecoderInit::Hidden,
                    "both" => DecoderInit::Both,
                    _ => DecoderInit::Cell,
                },
            },
            _ => Op::Loss(LossKind::L1),
        };
        let operands = self.tensor_operands(a)?;
        Ok(Val::Tensor(self.emit(op, &operands, span, hint, shared)?))
    }

    /// The tensor arguments of a primitive, in signature order, skipping optional ones not given.
    fn tensor_operands(&mut self, a: &Args) -> Result<Vec<Value>, ()> {
        const TENSOR_PARAMS: &[&str] = &[
            "x", "ids", "seq", "lengths", "a", "b", "q", "kv", "pred", "target", "memory", "state",
            "targets",
        ];
        let mut out = Vec::new();
        for (name, v, at) in &a.vals {
            if !TENSOR_PARAMS.contains(name)
                || (a.prim == "transpose" && (*name == "a" || *name == "b"))
            {
                continue;
            }
            match v {
                Val::Tensor(t) => out.push(*t),
                Val::None if matches!(*name, "kv" | "lengths") => {}
                // A number as a loss target is a constant target (`bce_with_logits(d_real, 1.0)`).
                Val::Int(_) | Val::Float(_) if *name == "target" => {
                    let value = v.as_f64().unwrap_or(0.0);
                    out.push(self.emit(Op::Scalar { value }, &[], *at, None, None)?);
                }
                other => return self.fail(arg_type(a.prim, name, "a tensor", other, *at)),
            }
        }
        Ok(out)
    }

    fn split(&mut self, a: &Args, span: Span, hint: Option<&str>) -> Ev {
        let (v, at) = a.get("sizes");
        let Val::List(items) = v else {
            return self.fail(arg_type(a.prim, "sizes", "a list of dims", &v, at));
        };
        let sizes = items
            .iter()
            .map(|i| i.as_dim())
            .collect::<Option<Vec<DimExpr>>>();
        let Some(sizes) = sizes.filter(|s| !s.is_empty()) else {
            return self.fail(arg_type(
                a.prim,
                "sizes",
                "a non-empty list of dims",
                &Val::List(items),
                at,
            ));
        };
        let n = sizes.len();
        let op = Op::Split {
            sizes,
            axis: self.a_int(a, "axis")?,
        };
        let operands = self.tensor_operands(a)?;
        let v = self.emit(op, &operands, span, hint, None)?;
        Ok(Val::List(
            (0..n)
                .map(|p| Val::Tensor(Value::new(v.node, p as u16)))
                .collect(),
        ))
    }

    fn recurrent(&mut self, a: &Args, span: Span, hint: Option<&str>, shared: Option<&str>) -> Ev {
        let cell = if a.prim == "lstm" {
            Cell::Lstm
        } else {
            Cell::Gru
        };
        let merge = match self.a_choice(a, "merge", &["concat", "sum"])?.as_str() {
            "sum" => Merge::Sum,
            _ => Merge::Concat,
        };
        let op = Op::Recurrent {
            cell,
            hidden: self.a_dim(a, "hidden")?,
            layers: self.a_positive(a, "layers")? as u32,
            bidirectional: self.a_bool(a, "bidirectional")?,
            merge,
        };
        let operands = self.tensor_operands(a)?;
        let v = self.emit(op, &operands, span, hint, shared)?;
        let port = |p: u16| Val::Tensor(Value::new(v.node, p));
        let mut fields = vec![("seq".to_string(), port(0)), ("h".to_string(), port(1))];
        if cell == Cell::Lstm {
            fields.push(("c".to_string(), port(2)));
        }
        Ok(Val::Record(fields))
    }

    fn transformer_op(&mut self, a: &Args) -> Result<Op, ()> {
        let base = self.a_prob(a, "dropout")?;
        let drop = |cx: &mut Self, name: &str| -> Result<f64, ()> {
            if matches!(a.get(name).0, Val::None) {
                Ok(base)
            } else {
                cx.a_prob(a, name)
            }
        };
        let (attn_dropout, relu_dropout, res_dropout) = (
            drop(self, "attn_dropout")?,
            drop(self, "relu_dropout")?,
            drop(self, "res_dropout")?,
        );
        let ff = match a.get("ff").0 {
            Val::None => match a.get("x").0 {
                Val::Tensor(x) => DimExpr::Mul(
                    Box::new(DimExpr::Const(4)),
                    Box::new(DimExpr::Of { value: x, axis: -1 }),
                ),
                _ => DimExpr::Any,
            },
            _ => self.a_dim(a, "ff")?,
        };
        Ok(Op::TransformerLayer {
            heads: self.a_positive(a, "heads")? as u32,
            ff,
            attn_dropout,
            relu_dropout,
            res_dropout,
            causal: self.a_bool(a, "causal")?,
        })
    }

    fn conv_op(&mut self, a: &Args) -> Result<Op, ()> {
        let out = self.a_dim(a, "out")?;
        let kernel = self.a_positive(a, "kernel")?;
        let stride = self.a_positive(a, "stride")?;
        let padding = self.a_count(a, "padding")?;
        let bias = self.a_bool(a, "bias")?;
        Ok(if a.prim == "conv1d" {
            Op::Conv1d {
                out,
                kernel,
                stride,
                padding,
                bias,
            }
        } else {
            Op::Conv2d {
                out,
                kernel,
                stride,
                padding,
                bias,
            }
        })
    }

    fn a_activation(&mut self, a: &Args) -> Result<Activation, ()> {
        let names = [
            "relu",
            "tanh",
            "sigmoid",
            "gelu",
            "leaky_relu",
            "none",
            "identity",
        ];
        Ok(match self.a_choice(a, "name", &names)?.as_str() {
            "relu" => Activation::Relu,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "gelu" => Activation::Gelu { tanh: false },
            "leaky_relu" => Activation::LeakyRelu { slope: 0.01 },
            _ => Activation::Identity,
        })
    }
}

#[path = "prim_args.rs"]
mod prim_args;

pub(super) fn arg_type(
    prim: &str,
    name: &str,
    expected: &str,
    found: &Val,
    at: Span,
) -> Diagnostic {
    Diagnostic::error(
        "fusec::param::type",
        format!(
            "`{name}` of `{prim}` expects {expected}, found {}",
            found.kind()
        ),
    )
    .label(at, format!("this is {}", found.kind()))
    .help(format!("pass {expected}"))
}
