//! Optimizers over candle `Var`s with PyTorch's exact update rules (Adam, AdamW, SGD with momentum), plus their
//! state as named tensors so a checkpoint can resume a run bit for bit.

use std::collections::HashMap;

use candle_core::{DType, Error, Result, Tensor, Var};

use super::adam_host::{self, AdamConsts, HostMoments};
use super::grads::Gradients;
use crate::ir::OptimizerKind;

/// One optimizer over a fixed, name-sorted list of parameters.
pub struct Optimizer {
    kind: OptimizerKind,
    lr: f64,
    params: Vec<(String, Var)>,
    slots: Vec<Slot>,
    steps: u64,
}

/// Per-parameter state. PyTorch keeps a step count per parameter, so a parameter that got no gradient in some
/// step has a smaller count and its own bias correction.
#[derive(Clone, Default)]
struct Slot {
    step: u64,
    exp_avg: Option<Tensor>,
    exp_avg_sq: Option<Tensor>,
    momentum: Option<Tensor>,
    /// Adam's moments while the in-place CPU kernel owns them (then `exp_avg`/`exp_avg_sq` are `None`).
    host: Option<HostMoments>,
}

impl Slot {
    /// Moves host moments back into tensors (for the generic path and for checkpoints).
    fn moments_to_tensors(&mut self, var: &Var) -> Result<()> {
        if let Some(h) = self.host.take() {
            self.exp_avg = Some(Tensor::from_vec(h.exp_avg, var.shape(), var.device())?);
            self.exp_avg_sq = Some(Tensor::from_vec(h.exp_avg_sq, var.shape(), var.device())?);
        }
        Ok(())
    }
}

impl Optimizer {
    /// Builds an optimizer; the parameters are sorted by name so state and checkpoints do not depend on the
    /// order the caller collected them in.
    pub fn new(kind: &OptimizerKind, mut params: Vec<(String, Var)>) -> Result<Optimizer> {
        validate(kind)?;
        params.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = params.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::Msg(format!(
                "parameter `{}` is given to the optimizer twice",
                w[0].0
            )));
        }
        let slots = vec![Slot::default(); params.len()];
        Ok(Optimizer {
            kind: kind.clone(),
            lr: kind.lr(),
            params,
            slots,
            steps: 0,
        })
    }

    /// One update of every parameter that has a gradient in `grads`; the others are left untouched, state
    /// included (as PyTorch skips parameters whose `.grad` is None).
    pub fn step<G: Gradients + ?Sized>(&mut self, grads: &G) -> Result<()> {
        for (i, (name, var)) in self.params.iter().enumerate() {
            let Some(grad) = grads.grad(name, var) else {
                continue;
            };
            let slot = &mut self.slots[i];
            slot.step += 1;
            match self.kind {
                OptimizerKind::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    ..
                } => {
                    let betas = (beta1, beta2, eps);
                    adam_step(var, grad, slot, self.lr, betas, weight_decay, false)?
                }
                OptimizerKind::AdamW {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    ..
                } => {
                    let betas = (beta1, beta2, eps);
                    adam_step(var, grad, slot, self.lr, betas, weight_decay, true)?
                }
                OptimizerKind::Sgd {
                    momentum,
                    weight_decay,
                    ..
                } => sgd_step(var, grad, slot, self.lr, momentum, weight_decay)?,
            }
        }
        self.steps += 1;
        Ok(())
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// The number of `step` calls and the state tensors: `{param}.exp_avg`, `{param}.exp_avg_sq` (Adam, AdamW),
    /// `{param}.momentum_buffer` (SGD with momentum) and `{param}.step` (an i64 scalar), for every parameter that
    /// has been updated at least once.
    pub fn state(&self) -> Result<(u64, Vec<(String, Tensor)>)> {
        let mut out = Vec::new();
        for ((name, var), slot) in self.params.iter().zip(&self.slots) {
            if slot.step == 0 {
                continue;
            }
            let step = Tensor::new(slot.step as i64, var.device())?;
            out.push((format!("{name}.step"), step));
            let mut slot = slot.clone();
            slot.moments_to_tensors(var)?;
            let named = [
                ("exp_avg", &slot.exp_avg),
                ("exp_avg_sq", &slot.exp_avg_sq),
                ("momentum_buffer", &slot.momentum),
            ];
            for (suffix, t) in named {
                if let Some(t) = t {
                    out.push((format!("{name}.{suffix}"), t.clone()));
                }
            }
        }
        Ok((self.steps, out))
    }

    /// Restores what [`Optimizer::state`] saved. A parameter without a `{param}.step` entry starts fresh; one
    /// with a step must have the tensors its optimizer needs, with the parameter's shape.
    pub fn load_state(&mut self, steps: u64, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let mut slots = Vec::with_capacity(self.params.len());
        for (name, var) in &self.params {
            slots.push(load_slot(&self.kind, name, var, tensors)?);
        }
        self.slots = slots;
        self.steps = steps;
        Ok(())
    }
}

fn validate(kind: &OptimizerKind) -> Result<()> {
    let (lr, wd, betas, extra) = match *kind {
        OptimizerKind::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        }
        | OptimizerKind::AdamW {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => (lr, weight_decay, vec![beta1, beta2], ("eps", eps)),
        OptimizerKind::Sgd {
            lr,
            momentum,
            weight_decay,
        } => (lr, weight_decay, vec![], ("momentum", momentum)),
    };
    for (what, v) in [("lr", lr), ("weight_decay", wd), extra] {
        if !v.is_finite() || v < 0.0 {
            return Err(Error::Msg(format!(
                "optimizer {what} must be a finite number >= 0, got {v}"
            )));
        }
    }
    if let Some(b) = betas.iter().find(|b| !(0.0..1.0).contains(*b)) {
        return Err(Error::Msg(format!(
            "optimizer betas must lie in [0, 1), got {b}"
        )));
    }
    Ok(())
}

/// PyTorch's single-tensor Adam; `decoupled` selects AdamW (`p *= 1 - lr*wd` before the update) instead of
/// the L2 penalty added to the gradient.
fn adam_step(
    var: &Var,
    grad: &Tensor,
    slot: &mut Slot,
    lr: f64,
    (beta1, beta2, eps): (f64, f64, f64),
    weight_decay: f64,
    decoupled: bool,
) -> Result<()> {
    if adam_host::applies(var, grad) {
        if let (Some(m), Some(v)) = (slot.exp_avg.take(), slot.exp_avg_sq.take()) {
            slot.host = Some(HostMoments {
                exp_avg: m.flatten_all()?.to_vec1::<f32>()?,
                exp_avg_sq: v.flatten_all()?.to_vec1::<f32>()?,
            });
        }
        let consts = AdamConsts {
            beta1,
            beta2,
            eps,
            lr,
            weight_decay,
            decoupled,
            step: slot.step,
        };
        return adam_host::update(var, grad, &mut slot.host, consts);
    }
    slot.moments_to_tensors(var)?;
    let mut param = var.as_tensor().detach();
    let mut grad = grad.detach();
    if weight_decay != 0.0 {
        if decoupled {
            param = param.affine(1.0 - lr * weight_decay, 0.0)?;
        } else {
            grad = (grad + param.affine(weight_decay, 0.0)?)?;
        }
    }
    let m = match &slot.exp_avg {
        Some(m) => (m.affine(beta1, 0.0)? + grad.affine(1.0 - beta1, 0.0)?)?,
        None => grad.affine(1.0 - beta1, 0.0)?,
    };
    let g2 = grad.sqr()?.affine(1.0 - beta2, 0.0)?;
    let v = match &slot.exp_avg_sq {
        Some(v) => (v.affine(beta2, 0.0)? + g2)?,
        None => g2,
    };
    let k = slot.step as i32;
    let step_size = lr / (1.0 - beta1.powi(k));
    let bc2_sqrt = (1.0 - beta2.powi(k)).sqrt();
    let denom = v.sqrt()?.affine(1.0 / bc2_sqrt, eps)?;
    let update = m.div(&denom)?.affine(step_size, 0.0)?;
    var.set(&(param - update)?)?;
    slot.exp_avg = Some(m);
    slot.exp_avg_sq = Some(v);
    Ok(())
}

/// PyTorch SGD: coupled weight decay, momentum buffer equal to the gradient at the first step, no dampening.
fn sgd_step(
    var: &Var,
    grad: &Tensor,
    slot: &mut Slot,
    lr: f64,
    momentum: f64,
    wd: f64,
) -> Result<()> {
    let param = var.as_tensor().detach();
    let mut grad = grad.detach();
    if wd != 0.0 {
        grad = (grad + param.affine(wd, 0.0)?)?;
    }
    if momentum != 0.0 {
        let buf = match &slot.momentum {
            Some(b) => (b.affine(momentum, 0.0)? + &grad)?,
            None => grad.copy()?,
        };
        grad = buf.clone();
        slot.momentum = Some(buf);
    }
    var.set(&(param - grad.affine(lr, 0.0)?)?)
}

fn load_slot(
    kind: &OptimizerKind,
    name: &str,
    var: &Var,
    tensors: &HashMap<String, Tensor>,
) -> Result<Slot> {
    let Some(step) = tensors.get(&format!("{name}.step")) else {
        return Ok(Slot::default());
    };
    let step = step.to_dtype(DType::I64)?.to_scalar::<i64>()?.max(0) as u64;
    let get = |suffix: &str| -> Result<Tensor> {
        let key = format!("{name}.{suffix}");
        let t = tensors
            .get(&key)
            .ok_or_else(|| Error::Msg(format!("optimizer state lacks `{key}`")))?;
        if t.dims() != var.dims() {
            return Err(Error::Msg(format!(
                "optimizer state `{key}` has shape {:?} but the parameter has {:?}",
                t.dims(),
                var.dims()
            )));
        }
        t.to_dtype(var.dtype())?.to_device(var.device())
    };
    let mut slot = Slot {
        step,
        ..Slot::default()
    };
    match kind {
        OptimizerKind::Adam { .. } | OptimizerKind::AdamW { .. } if step > 0 => {
            slot.exp_avg = Some(get("exp_avg")?);
            slot.exp_avg_sq = Some(get("exp_avg_sq")?);
        }
        OptimizerKind::Sgd { momentum, .. } if step > 0 && *momentum != 0.0 => {
            slot.momentum = Some(get("momentum_buffer")?);
        }
        _ => {}
    }
    Ok(slot)
}
