//! The ops without operands: model inputs, raw trainable tensors (`param`) and number constants.

use candle_core::Tensor;
use serde::Serialize;

use super::signature::{Def, PrimDecl, PrimParam, Returns};
use super::{Arity, Attr, Primitive, ShapeCx};
use crate::backend::Kernel;
use crate::check::rules::{tt, Rule};
use crate::check::rules_nn::positive;
use crate::export::{Mapped, OnnxCx};
use crate::ir::{Dim, DimExpr, Dtype, Init, Op, ParamSpec, TensorType};
use crate::nn::spec;
use crate::summary::flops::FlopCx;

/// A model input bound to a data field. Its type is the declared one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Input {
    pub name: String,
}

impl Primitive for Input {
    fn name(&self) -> &'static str {
        "input"
    }

    stateless!(Arity::exactly(0));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![("name", Attr::Text(self.name.clone()))]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, cx: &dyn ShapeCx, _: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![cx.input()?])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, _: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![k.input(&self.name)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, _: &[&str]) -> Mapped {
        cx.model_input()
    }
}

/// `param(shape, init)`: a raw trainable tensor, one parameter named by the node's param path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    pub shape: Vec<DimExpr>,
    pub init: Init,
}

pub const PARAM: PrimDecl = PrimDecl {
    name: "param",
    params: &[
        PrimParam::value("shape"),
        PrimParam::with("init", Def::Str("xavier_normal")),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        let choices = ["xavier_normal", "xavier_uniform", "zeros", "ones", "normal"];
        let init = match a.choice("init", &choices)?.as_str() {
            "xavier_normal" => Init::XavierNormal,
            "xavier_uniform" => Init::XavierUniform,
            "zeros" => Init::Zeros,
            "ones" => Init::Ones,
            _ => Init::StdNormal,
        };
        Ok(Op::Param(Param {
            shape: a.shape("shape")?,
            init,
        }))
    },
};

/// The dump's name of an initialiser.
fn init_name(init: Init) -> String {
    match init {
        Init::UniformFanIn { fan_in } => format!("uniform_fan_in({fan_in})"),
        Init::StdNormal => "normal".into(),
        Init::XavierNormal => "xavier_normal".into(),
        Init::XavierUniform => "xavier_uniform".into(),
        Init::Zeros => "zeros".into(),
        Init::Ones => "ones".into(),
    }
}

impl Primitive for Param {
    fn name(&self) -> &'static str {
        "param"
    }

    fn arity(&self) -> Arity {
        Arity::exactly(0)
    }

    fn n_outputs(&self) -> usize {
        1
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("shape", Attr::Dims(&self.shape)),
            ("init", Attr::Text(init_name(self.init))),
        ]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        self.shape.iter_mut().collect()
    }

    fn owns_params(&self) -> bool {
        true
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn param_specs(
        &self,
        _: &[Vec<Dim>],
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        let shape = self.shape.iter().map(eval).collect::<Option<Vec<_>>>()?;
        Some(vec![spec("", shape, self.init)])
    }

    fn shape(&self, cx: &dyn ShapeCx, _: &[TensorType]) -> Rule<Vec<TensorType>> {
        let mut dims = Vec::with_capacity(self.shape.len());
        for e in &self.shape {
            let n = cx.size(e, "a param dim")?;
            dims.push(Dim::Fixed(positive(n, "a param dim")?));
        }
        Ok(vec![tt(Dtype::F32, dims)])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, _: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        match k.params()?.remove("") {
            Some(t) => Ok(vec![t]),
            None => candle_core::bail!("internal: a param node without its tensor"),
        }
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, _: &[&str]) -> Mapped {
        Ok(vec![cx.weight("")?])
    }
}

/// A scalar constant (f32[]), for arithmetic with numbers (`0.5 * x`) and constant loss targets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scalar {
    pub value: f64,
}

impl Primitive for Scalar {
    fn name(&self) -> &'static str {
        "scalar"
    }

    stateless!(Arity::exactly(0));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![("value", Attr::Float(self.value))]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, _: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![tt(Dtype::F32, Vec::new())])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, _: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![Tensor::new(self.value as f32, k.device())?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, _: &[&str]) -> Mapped {
        Ok(vec![cx.scalar(self.value as f32)])
    }
}
