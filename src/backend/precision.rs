//! Mixed precision (`precision = "bf16"` in a train plan): the network computes in bf16 while its parameters stay
//! f32 `Var`s (the master weights the optimizers update, with f32 state). Each node reads its parameters and
//! operands cast to the dtype it computes in; a cast is differentiable, so gradients reach the master weights in
//! f32. Losses and batch normalization (whose running statistics are f32 state) compute in f32; layer norm and
//! softmax widen half types to f32 inside `crate::nn`.

use candle_core::{DType, Result, Tensor};

use super::Network;
use crate::ir::{NodeId, Op, Precision};

/// Ops that compute in f32 whatever the network's precision.
fn runs_in_f32(op: &Op) -> bool {
    matches!(op, Op::Loss(_) | Op::BatchNorm(_))
}

fn is_float(t: &Tensor) -> bool {
    t.dtype().is_float()
}

impl Network {
    /// Sets the dtype the forward (and so the backward) pass computes in.
    pub fn set_precision(&mut self, precision: Precision) {
        self.compute = match precision {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
        };
    }

    /// The dtype the network computes in (f32 unless mixed precision is on).
    pub fn compute_dtype(&self) -> DType {
        self.compute
    }

    fn mixed(&self) -> bool {
        self.compute != DType::F32
    }

    /// The dtype node `id` computes in: f32 for the ops that need it, the network's dtype for the rest. An
    /// element-wise op or concatenation with an f32 operand (a sum of losses) stays in f32, as PyTorch's type
    /// promotion has it.
    fn node_dtype(&self, id: NodeId, operands: &[&Tensor]) -> DType {
        let op = &self.model.graph.node(id).op;
        let promotes = matches!(op, Op::Binary(_) | Op::Concat(_));
        if runs_in_f32(op) || (promotes && operands.iter().any(|t| t.dtype() == DType::F32)) {
            DType::F32
        } else {
            self.compute
        }
    }

    /// A parameter as node `id` reads it: cast to the node's dtype under mixed precision.
    pub(super) fn param_for_node(&self, id: NodeId, t: &Tensor) -> Result<Tensor> {
        let op = &self.model.graph.node(id).op;
        if self.mixed() && !runs_in_f32(op) && is_float(t) {
            t.to_dtype(self.compute)
        } else {
            Ok(t.clone())
        }
    }

    /// Runs node `id` at its precision: float operands cast in, float results cast to the network's dtype
    /// (loss values stay f32). Without mixed precision, exactly `run_node`.
    pub(in crate::backend) fn run_node_at_precision(
        &self,
        id: NodeId,
        args: &[&Tensor],
        run: impl FnOnce(&[&Tensor]) -> Result<Vec<Tensor>>,
    ) -> Result<Vec<Tensor>> {
        if !self.mixed() {
            return run(args);
        }
        let dtype = self.node_dtype(id, args);
        let cast: Vec<Tensor> = args
            .iter()
            .map(|t| {
                if is_float(t) && t.dtype() != dtype {
                    t.to_dtype(dtype)
                } else {
                    Ok((*t).clone())
                }
            })
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = cast.iter().collect();
        let outs = run(&refs)?;
        let keep_f32 =
            dtype == DType::F32 && !matches!(self.model.graph.node(id).op, Op::BatchNorm(_));
        outs.into_iter()
            .map(|t| {
                if is_float(&t) && !keep_f32 && t.dtype() != self.compute {
                    t.to_dtype(self.compute)
                } else {
                    Ok(t)
                }
            })
            .collect()
    }
}
