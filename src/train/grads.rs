//! Where optimizers and clipping read gradients from: candle's `GradStore` (a model differentiated by candle's
//! autograd, as the gradient-flow check does) or the per-step `ParamGrads` of the compiled backward pass.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::backend::autodiff::ParamGrads;

/// A gradient per parameter, looked up by full name or by variable.
pub trait Gradients {
    fn grad(&self, name: &str, var: &Var) -> Option<&Tensor>;
    fn set_grad(&mut self, name: &str, var: &Var, grad: Tensor);
}

impl Gradients for GradStore {
    fn grad(&self, _name: &str, var: &Var) -> Option<&Tensor> {
        self.get(var.as_tensor())
    }

    fn set_grad(&mut self, _name: &str, var: &Var, grad: Tensor) {
        self.insert(var.as_tensor(), grad);
    }
}

impl Gradients for ParamGrads {
    fn grad(&self, name: &str, _var: &Var) -> Option<&Tensor> {
        self.grads.get(name)
    }

    fn set_grad(&mut self, name: &str, _var: &Var, grad: Tensor) {
        self.grads.insert(name.to_string(), grad);
    }
}
