//! Convolutions as unfold + matmul: `conv1d` over time-major `[B, T, C]` (MulT's projections) and `conv2d` over
//! `[B, C, H, W]`.

use candle_core::Tensor;
use serde::Serialize;

use super::signature::{ArgReader, Def, PrimDecl, PrimParam, Returns};
use super::{dim_fixed, last_fixed, ty, Arity, Attr, Primitive, ShapeCx};
use crate::backend::Kernel;
use crate::check::rules::Rule;
use crate::check::rules_nn as rn;
use crate::export::{arg, attr_ints, Mapped, OnnxCx};
use crate::ir::{Dim, DimExpr, Op, ParamSpec, TensorType};
use crate::nn::{self, ConvParams};
use crate::summary::flops::FlopCx;

/// `conv1d(x, out, kernel, stride, padding, bias)`: `[B, T, C] -> [B, T', out]`. Parameters: [`ConvParams`]
/// with `weight [out, C, kernel]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conv1d {
    pub out: DimExpr,
    pub kernel: i64,
    pub stride: i64,
    pub padding: i64,
    pub bias: bool,
}

/// `conv2d(x, out, kernel, stride, padding, bias)`: `[B, C, H, W] -> [B, out, H', W']`. Parameters:
/// [`ConvParams`] with `weight [out, C, k, k]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conv2d {
    pub out: DimExpr,
    pub kernel: i64,
    pub stride: i64,
    pub padding: i64,
    pub bias: bool,
}

const PARAMS: &[PrimParam] = &[
    PrimParam::tensor("x"),
    PrimParam::value("out"),
    PrimParam::value("kernel"),
    PrimParam::with("stride", Def::Int(1)),
    PrimParam::with("padding", Def::Int(0)),
    PrimParam::with("bias", Def::Bool(true)),
];

/// The arguments both convolutions share: (out, kernel, stride, padding, bias).
fn read(a: &mut dyn ArgReader) -> Result<(DimExpr, i64, i64, i64, bool), ()> {
    Ok((
        a.dim("out")?,
        a.positive("kernel")?,
        a.positive("stride")?,
        a.count("padding")?,
        a.flag("bias")?,
    ))
}

pub const CONV1D: PrimDecl = PrimDecl {
    name: "conv1d",
    params: PARAMS,
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        let (out, kernel, stride, padding, bias) = read(a)?;
        Ok(Op::Conv1d(Conv1d {
            out,
            kernel,
            stride,
            padding,
            bias,
        }))
    },
};

pub const CONV2D: PrimDecl = PrimDecl {
    name: "conv2d",
    params: PARAMS,
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        let (out, kernel, stride, padding, bias) = read(a)?;
        Ok(Op::Conv2d(Conv2d {
            out,
            kernel,
            stride,
            padding,
            bias,
        }))
    },
};

/// The facts both convolutions share (their fields have the same names).
macro_rules! conv_facts {
    () => {
        fn arity(&self) -> Arity {
            Arity::exactly(1)
        }

        fn n_outputs(&self) -> usize {
            1
        }

        fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
            vec![
                ("out", Attr::Dim(&self.out)),
                ("kernel", Attr::Int(self.kernel)),
                ("stride", Attr::Int(self.stride)),
                ("padding", Attr::Int(self.padding)),
                ("bias", Attr::Bool(self.bias)),
            ]
        }

        fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
            vec![&mut self.out]
        }

        fn owns_params(&self) -> bool {
            true
        }

        fn is_stochastic(&self) -> bool {
            false
        }
    };
}

impl Primitive for Conv1d {
    fn name(&self) -> &'static str {
        "conv1d"
    }

    conv_facts!();

    fn param_specs(
        &self,
        inputs: &[Vec<Dim>],
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        let (c, o) = (last_fixed(inputs, 0)?, eval(&self.out)?);
        Some(ConvParams::specs(c, o, &[self.kernel], self.bias))
    }

    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let o = cx.size(&self.out, "conv1d: `out`")?;
        let x = ty(ins, 0)?;
        Ok(vec![rn::conv1d(
            x,
            o,
            self.kernel,
            self.stride,
            self.padding,
        )?])
    }

    /// `2·C·k·out + out` per output position.
    fn flops(&self, f: &FlopCx) -> f64 {
        let (c, o) = (f.last(f.x()), f.last(f.y()));
        let bias = if self.bias { o } else { 0.0 };
        f.per_row(o, 2.0 * c * self.kernel as f64 * o + bias)
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let p = ConvParams::from_map(&k.params()?)?;
        Ok(vec![nn::conv1d(
            k.arg(args, 0)?,
            &p.weight,
            p.bias.as_ref(),
            self.stride as usize,
            self.padding as usize,
        )?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // The op reads `[B, T, C]` (time-major features); ONNX's Conv reads `[B, C, T]`.
        let x = cx.op(
            "Transpose",
            &[arg(args, 0)?],
            vec![attr_ints("perm", &[0, 2, 1])],
        );
        let y = conv(cx, &x, self.kernel, self.stride, self.padding, 1, self.bias)?;
        Ok(vec![cx.op(
            "Transpose",
            &[&y],
            vec![attr_ints("perm", &[0, 2, 1])],
        )])
    }
}

impl Primitive for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    conv_facts!();

    fn param_specs(
        &self,
        inputs: &[Vec<Dim>],
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        let (c, o) = (dim_fixed(inputs, 0, 1)?, eval(&self.out)?);
        let k = self.kernel;
        Some(ConvParams::specs(c, o, &[k, k], self.bias))
    }

    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let o = cx.size(&self.out, "conv2d: `out`")?;
        let x = ty(ins, 0)?;
        Ok(vec![rn::conv2d(
            x,
            o,
            self.kernel,
            self.stride,
            self.padding,
        )?])
    }

    /// `2·C·k·k·out + out` per output position.
    fn flops(&self, f: &FlopCx) -> f64 {
        let (c, o, k) = (f.axis1(f.x()), f.axis1(f.y()), self.kernel as f64);
        let bias = if self.bias { o } else { 0.0 };
        f.per_row(o, 2.0 * c * k * k * o + bias)
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let p = ConvParams::from_map(&k.params()?)?;
        Ok(vec![nn::conv2d(
            k.arg(args, 0)?,
            &p.weight,
            p.bias.as_ref(),
            self.stride as usize,
            self.padding as usize,
        )?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let y = conv(
            cx,
            arg(args, 0)?,
            self.kernel,
            self.stride,
            self.padding,
            2,
            self.bias,
        )?;
        Ok(vec![y])
    }
}

/// ONNX `Conv` over `spatial` axes with PyTorch's `weight [O, C, k..]` and optional `bias`.
fn conv(
    cx: &mut OnnxCx<'_>,
    x: &str,
    kernel: i64,
    stride: i64,
    padding: i64,
    spatial: usize,
    bias: bool,
) -> Result<String, crate::export::ExportError> {
    let w = cx.weight("weight")?;
    let mut inputs = vec![x.to_string(), w];
    if bias {
        inputs.push(cx.weight("bias")?);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    Ok(cx.op(
        "Conv",
        &refs,
        vec![
            attr_ints("kernel_shape", &vec![kernel; spatial]),
            attr_ints("strides", &vec![stride; spatial]),
            attr_ints("pads", &vec![padding; 2 * spatial]),
        ],
    ))
}
