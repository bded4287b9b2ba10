//! Element-wise ops: activations, dropout, noise, stop_gradient, softmax, and the binary arithmetic of `+ - * /`
//! (lowered from operators, so it has no surface declaration of its own).

use candle_core::Tensor;
use serde::Serialize;

use super::signature::{Def, PrimDecl, PrimParam, Returns};
use super::{ty, Arity, Attr, Primitive, ShapeCx};
use crate::backend::{axis, Kernel};
use crate::check::rules::{self as r, Rule};
use crate::export::{arg, attr_float, attr_int, gelu, Mapped, OnnxCx};
use crate::ir::{Op, TensorType};
use crate::nn;
use crate::summary::flops::FlopCx;

/// `relu`, `tanh`, `sigmoid`, `gelu`, `leaky_relu` and `activation(x, name)`; identity is `activation(x, "none")`.
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

const X: &[PrimParam] = &[PrimParam::tensor("x")];

pub const RELU: PrimDecl = unary("relu", |_| Ok(Op::Act(Activation::Relu)));
pub const TANH: PrimDecl = unary("tanh", |_| Ok(Op::Act(Activation::Tanh)));
pub const SIGMOID: PrimDecl = unary("sigmoid", |_| Ok(Op::Act(Activation::Sigmoid)));
pub const STOP_GRADIENT: PrimDecl = unary("stop_gradient", |_| Ok(Op::StopGradient(StopGradient)));

/// A primitive with one tensor parameter `x` and nothing else.
const fn unary(
    name: &'static str,
    lower: fn(&mut dyn super::ArgReader) -> Result<Op, ()>,
) -> PrimDecl {
    PrimDecl {
        name,
        params: X,
        returns: Returns::Tensor,
        gathers: false,
        lower,
    }
}

pub const GELU: PrimDecl = PrimDecl {
    name: "gelu",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::with("approx", Def::Str("none")),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        let tanh = a.choice("approx", &["none", "tanh"])? == "tanh";
        Ok(Op::Act(Activation::Gelu { tanh }))
    },
};

pub const LEAKY_RELU: PrimDecl = PrimDecl {
    name: "leaky_relu",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::with("slope", Def::Float(0.01)),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Act(Activation::LeakyRelu {
            slope: a.float("slope")?,
        }))
    },
};

pub const ACTIVATION: PrimDecl = PrimDecl {
    name: "activation",
    params: &[PrimParam::tensor("x"), PrimParam::value("name")],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        let names = [
            "relu",
            "tanh",
            "sigmoid",
            "gelu",
            "leaky_relu",
            "none",
            "identity",
        ];
        Ok(Op::Act(match a.choice("name", &names)?.as_str() {
            "relu" => Activation::Relu,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "gelu" => Activation::Gelu { tanh: false },
            "leaky_relu" => Activation::LeakyRelu { slope: 0.01 },
            _ => Activation::Identity,
        }))
    },
};

impl Primitive for Activation {
    fn name(&self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Gelu { .. } => "gelu",
            Activation::LeakyRelu { .. } => "leaky_relu",
        }
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        match self {
            Activation::LeakyRelu { slope } => vec![("slope", Attr::Float(*slope))],
            Activation::Gelu { tanh } => vec![("tanh", Attr::Bool(*tanh))],
            Activation::Identity | Activation::Relu | Activation::Tanh | Activation::Sigmoid => {
                Vec::new()
            }
        }
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::same_as_float(ty(ins, 0)?, self.name())?])
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        f.n_out()
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![nn::activation(k.arg(args, 0)?, *self)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let x = arg(args, 0)?;
        Ok(vec![match self {
            Activation::Identity => cx.op("Identity", &[x], vec![]),
            Activation::Relu => cx.op("Relu", &[x], vec![]),
            Activation::Tanh => cx.op("Tanh", &[x], vec![]),
            Activation::Sigmoid => cx.op("Sigmoid", &[x], vec![]),
            Activation::LeakyRelu { slope } => {
                cx.op("LeakyRelu", &[x], vec![attr_float("alpha", *slope as f32)])
            }
            // ONNX has `Gelu` only from opset 20.
            Activation::Gelu { tanh } => gelu(cx, x, *tanh)?,
        }])
    }
}

/// `dropout(x, p)`: seeded masks in training, identity at evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dropout {
    pub p: f64,
}

pub const DROPOUT: PrimDecl = PrimDecl {
    name: "dropout",
    params: &[PrimParam::tensor("x"), PrimParam::value("p")],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| Ok(Op::Dropout(Dropout { p: a.prob("p")? })),
};

impl Primitive for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![("p", Attr::Float(self.p))]
    }

    fn is_stochastic(&self) -> bool {
        self.p > 0.0
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::same_as_float(ty(ins, 0)?, self.name())?])
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        f.n_out()
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        Ok(vec![match k.rng() {
            Some(rng) if self.p > 0.0 => nn::dropout(x, self.p, rng)?,
            _ => x.clone(),
        }])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // Training only: the value passes through at prediction.
        Ok(vec![cx.op("Identity", &[arg(args, 0)?], vec![])])
    }
}

/// `noise(x, std)`: additive Gaussian noise `x + std·ε` in training only (GAN-Fusion).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Noise {
    pub std: f64,
}

pub const NOISE: PrimDecl = PrimDecl {
    name: "noise",
    params: &[PrimParam::tensor("x"), PrimParam::value("std")],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Noise(Noise {
            std: a.nonneg("std")?,
        }))
    },
};

impl Primitive for Noise {
    fn name(&self) -> &'static str {
        "noise"
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![("std", Attr::Float(self.std))]
    }

    fn is_stochastic(&self) -> bool {
        self.std > 0.0
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::same_as_float(ty(ins, 0)?, self.name())?])
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        f.n_out()
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let device = k.device().clone();
        Ok(vec![match k.rng() {
            Some(rng) if self.std > 0.0 => {
                let eps = rng.normal_tensor(x.dims(), self.std, &device)?;
                x.add(&eps.to_dtype(x.dtype())?)?
            }
            _ => x.clone(),
        }])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // Training only: the value passes through at prediction.
        Ok(vec![cx.op("Identity", &[arg(args, 0)?], vec![])])
    }
}

/// `stop_gradient(x)`: the value of `x`, with no gradient flowing back.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StopGradient;

impl Primitive for StopGradient {
    fn name(&self) -> &'static str {
        "stop_gradient"
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        Vec::new()
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::same_as_float(ty(ins, 0)?, self.name())?])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![k.arg(args, 0)?.detach()])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // Training only: the value passes through at prediction.
        Ok(vec![cx.op("Identity", &[arg(args, 0)?], vec![])])
    }
}

/// `softmax(x, axis)` and `log_softmax(x, axis)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Softmax {
    pub axis: i64,
    pub log: bool,
}

pub const SOFTMAX: PrimDecl = softmax_decl("softmax", |a| {
    Ok(Op::Softmax(Softmax {
        axis: a.int("axis")?,
        log: false,
    }))
});

pub const LOG_SOFTMAX: PrimDecl = softmax_decl("log_softmax", |a| {
    Ok(Op::Softmax(Softmax {
        axis: a.int("axis")?,
        log: true,
    }))
});

const SOFTMAX_PARAMS: &[PrimParam] = &[
    PrimParam::tensor("x"),
    PrimParam::with("axis", Def::Int(-1)),
];

const fn softmax_decl(
    name: &'static str,
    lower: fn(&mut dyn super::ArgReader) -> Result<Op, ()>,
) -> PrimDecl {
    PrimDecl {
        name,
        params: SOFTMAX_PARAMS,
        returns: Returns::Tensor,
        gathers: false,
        lower,
    }
}

impl Primitive for Softmax {
    fn name(&self) -> &'static str {
        if self.log {
            "log_softmax"
        } else {
            "softmax"
        }
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![("axis", Attr::Int(self.axis))]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let x = ty(ins, 0)?;
        r::axis(self.axis, x.rank(), self.name())?;
        Ok(vec![r::same_as_float(x, self.name())?])
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        3.0 * f.n_out()
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let ax = axis(x.rank(), self.axis)?;
        Ok(vec![if self.log {
            nn::log_softmax(x, ax)?
        } else {
            nn::softmax(x, ax)?
        }])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let op = if self.log { "LogSoftmax" } else { "Softmax" };
        Ok(vec![cx.op(
            op,
            &[arg(args, 0)?],
            vec![attr_int("axis", self.axis)],
        )])
    }
}

/// `+ - * /` on tensors, with NumPy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl Primitive for BinaryOp {
    fn name(&self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
        }
    }

    stateless!(Arity::exactly(2));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        Vec::new()
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::broadcast(ty(ins, 0)?, ty(ins, 1)?, self.name())?])
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        f.n_out()
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![nn::broadcast_binary(
            k.arg(args, 0)?,
            k.arg(args, 1)?,
            *self,
        )?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let op = match self {
            BinaryOp::Add => "Add",
            BinaryOp::Sub => "Sub",
            BinaryOp::Mul => "Mul",
            BinaryOp::Div => "Div",
        };
        Ok(vec![cx.op(op, &[arg(args, 0)?, arg(args, 1)?], vec![])])
    }
}
