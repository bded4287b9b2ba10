//! Typed parameter sets of the layer kernels. Each set names its parameters (PyTorch-style suffixes) exactly once,
//! gives their shapes and initialisers to the IR (`specs`, what the checker puts in the parameter table and the
//! back end allocates) and picks them out of a node's parameter map for the kernel (`from_map`). A set nested in
//! another (the transformer layer's attention) is stored under a prefix (`attn.`).

use std::collections::HashMap;

use candle_core::{Result, Tensor, Var};

use crate::ir::{Cell, Init, ParamSpec};

/// Parameters of one op, keyed by suffix (`weight`, `weight_ih_l0_reverse`, `attn.in_proj_weight`, ...).
pub type ParamMap = HashMap<String, Tensor>;

/// Looks up a parameter, with an error naming the missing suffix (a back-end bug, never a user error).
fn param<'a>(p: &'a ParamMap, suffix: &str) -> Result<&'a Tensor> {
    match p.get(suffix) {
        Some(t) => Ok(t),
        None => candle_core::bail!("missing parameter `{suffix}`"),
    }
}

fn take(p: &ParamMap, suffix: &str) -> Result<Tensor> {
    param(p, suffix).cloned()
}

/// A trainable parameter's spec.
pub fn spec(suffix: &str, shape: Vec<i64>, init: Init) -> ParamSpec {
    ParamSpec {
        suffix: suffix.to_string(),
        shape,
        init,
        trainable: true,
    }
}

/// Specs of a nested set, their suffixes under `prefix`.
pub fn prefixed(prefix: &str, specs: Vec<ParamSpec>) -> Vec<ParamSpec> {
    specs
        .into_iter()
        .map(|s| ParamSpec {
            suffix: format!("{prefix}{}", s.suffix),
            ..s
        })
        .collect()
}

/// The entries of `p` under `prefix`, with the prefix removed (tensor clones share storage).
pub fn sub_map(p: &ParamMap, prefix: &str) -> ParamMap {
    p.iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v.clone())))
        .collect()
}

/// `linear`: `weight [out, in]`, optional `bias [out]`.
#[derive(Clone, Debug)]
pub struct LinearParams {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl LinearParams {
    pub const WEIGHT: &'static str = "weight";
    pub const BIAS: &'static str = "bias";

    /// PyTorch's `nn.Linear` initialisation: U(±1/√in) for both.
    pub fn specs(input: i64, out: i64, bias: bool) -> Vec<ParamSpec> {
        let init = Init::UniformFanIn { fan_in: input };
        Self::specs_with(input, out, bias, init, init)
    }

    pub fn specs_with(input: i64, out: i64, bias: bool, w: Init, b: Init) -> Vec<ParamSpec> {
        let mut v = vec![spec(Self::WEIGHT, vec![out, input], w)];
        if bias {
            v.push(spec(Self::BIAS, vec![out], b));
        }
        v
    }

    pub fn from_map(p: &ParamMap) -> Result<LinearParams> {
        Ok(LinearParams {
            weight: take(p, Self::WEIGHT)?,
            bias: p.get(Self::BIAS).cloned(),
        })
    }
}

/// `embedding`: `weight [vocab, dim]`, N(0, 1).
#[derive(Clone, Debug)]
pub struct EmbeddingParams {
    pub weight: Tensor,
}

impl EmbeddingParams {
    pub const WEIGHT: &'static str = "weight";

    pub fn specs(vocab: i64, dim: i64) -> Vec<ParamSpec> {
        vec![spec(Self::WEIGHT, vec![vocab, dim], Init::StdNormal)]
    }

    pub fn from_map(p: &ParamMap) -> Result<EmbeddingParams> {
        Ok(EmbeddingParams {
            weight: take(p, Self::WEIGHT)?,
        })
    }
}

/// `layer_norm`: `weight [d]` (ones), `bias [d]` (zeros).
#[derive(Clone, Debug)]
pub struct LayerNormParams {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl LayerNormParams {
    pub const WEIGHT: &'static str = "weight";
    pub const BIAS: &'static str = "bias";

    pub fn specs(d: i64) -> Vec<ParamSpec> {
        vec![
            spec(Self::WEIGHT, vec![d], Init::Ones),
            spec(Self::BIAS, vec![d], Init::Zeros),
        ]
    }

    pub fn from_map(p: &ParamMap) -> Result<LayerNormParams> {
        Ok(LayerNormParams {
            weight: take(p, Self::WEIGHT)?,
            bias: take(p, Self::BIAS)?,
        })
    }
}

/// `batch_norm`: `weight`, `bias` `[C]` and the buffers `running_mean`, `running_var` (saved, never trained;
/// updated in place in training, so the kernel gets them as `Var`s).
#[derive(Clone, Debug)]
pub struct BatchNormParams {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Var,
    pub running_var: Var,
}

impl BatchNormParams {
    pub const WEIGHT: &'static str = "weight";
    pub const BIAS: &'static str = "bias";
    pub const RUNNING_MEAN: &'static str = "running_mean";
    pub const RUNNING_VAR: &'static str = "running_var";

    pub fn specs(c: i64) -> Vec<ParamSpec> {
        let buffer = |suffix: &str, init| ParamSpec {
            trainable: false,
            ..spec(suffix, vec![c], init)
        };
        vec![
            spec(Self::WEIGHT, vec![c], Init::Ones),
            spec(Self::BIAS, vec![c], Init::Zeros),
            buffer(Self::RUNNING_MEAN, Init::Zeros),
            buffer(Self::RUNNING_VAR, Init::Ones),
        ]
    }

    pub fn from_vars(p: &HashMap<String, Var>) -> Result<BatchNormParams> {
        let var = |suffix: &str| match p.get(suffix) {
            Some(v) => Ok(v.clone()),
            None => candle_core::bail!("missing parameter `{suffix}`"),
        };
        Ok(BatchNormParams {
            weight: var(Self::WEIGHT)?.as_tensor().clone(),
            bias: var(Self::BIAS)?.as_tensor().clone(),
            running_mean: var(Self::RUNNING_MEAN)?,
            running_var: var(Self::RUNNING_VAR)?,
        })
    }
}

/// `conv1d` / `conv2d`: `weight [out, C, k(, k)]`, optional `bias [out]`, both U(±1/√(C·k(·k))).
#[derive(Clone, Debug)]
pub struct ConvParams {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl ConvParams {
    pub const WEIGHT: &'static str = "weight";
    pub const BIAS: &'static str = "bias";

    /// `kernel` is the weight's trailing dims (`[k]` or `[k, k]`).
    pub fn specs(channels: i64, out: i64, kernel: &[i64], bias: bool) -> Vec<ParamSpec> {
        let fan_in = kernel.iter().product::<i64>() * channels;
        let init = Init::UniformFanIn { fan_in };
        let mut shape = vec![out, channels];
        shape.extend_from_slice(kernel);
        let mut v = vec![spec(Self::WEIGHT, shape, init)];
        if bias {
            v.push(spec(Self::BIAS, vec![out], init));
        }
        v
    }

    pub fn from_map(p: &ParamMap) -> Result<ConvParams> {
        Ok(ConvParams {
            weight: take(p, Self::WEIGHT)?,
            bias: p.get(Self::BIAS).cloned(),
        })
    }
}

/// Multi-head attention (fairseq / MulT layout): `in_proj_weight [3d, d]`, `in_proj_bias [3d]` with row blocks
/// q, k, v; `out_proj.weight [d, d]`, `out_proj.bias [d]`.
#[derive(Clone, Debug)]
pub struct AttentionParams {
    pub in_proj_weight: Tensor,
    pub in_proj_bias: Tensor,
    pub out_proj: LinearParams,
}

impl AttentionParams {
    pub const IN_PROJ_WEIGHT: &'static str = "in_proj_weight";
    pub const IN_PROJ_BIAS: &'static str = "in_proj_bias";
    pub const OUT_PROJ: &'static str = "out_proj.";

    pub fn specs(d: i64) -> Vec<ParamSpec> {
        let mut v = vec![
            spec(Self::IN_PROJ_WEIGHT, vec![3 * d, d], Init::XavierUniform),
            spec(Self::IN_PROJ_BIAS, vec![3 * d], Init::Zeros),
        ];
        let out = LinearParams::specs_with(d, d, true, Init::XavierUniform, Init::Zeros);
        v.extend(prefixed(Self::OUT_PROJ, out));
        v
    }

    pub fn from_map(p: &ParamMap) -> Result<AttentionParams> {
        let out_proj = LinearParams::from_map(&sub_map(p, Self::OUT_PROJ))?;
        if out_proj.bias.is_none() {
            candle_core::bail!("missing parameter `{}bias`", Self::OUT_PROJ);
        }
        Ok(AttentionParams {
            in_proj_weight: take(p, Self::IN_PROJ_WEIGHT)?,
            in_proj_bias: take(p, Self::IN_PROJ_BIAS)?,
            out_proj,
        })
    }
}

/// MulT's pre-LN transformer layer: `ln0.*`, `attn.*` ([`AttentionParams`]), `ln1.*`, `fc1.weight [ff, d]`,
/// `fc1.bias`, `fc2.weight [d, ff]`, `fc2.bias`.
#[derive(Clone, Debug)]
pub struct TransformerParams {
    pub ln0: LayerNormParams,
    pub attn: AttentionParams,
    pub ln1: LayerNormParams,
    pub fc1: LinearParams,
    pub fc2: LinearParams,
}

impl TransformerParams {
    pub const LN0: &'static str = "ln0.";
    pub const ATTN: &'static str = "attn.";
    pub const LN1: &'static str = "ln1.";
    pub const FC1: &'static str = "fc1.";
    pub const FC2: &'static str = "fc2.";

    pub fn specs(d: i64, ff: i64) -> Vec<ParamSpec> {
        let fc = |i, o| LinearParams::specs_with(i, o, true, Init::XavierUniform, Init::Zeros);
        let mut v = prefixed(Self::LN0, LayerNormParams::specs(d));
        v.extend(prefixed(Self::ATTN, AttentionParams::specs(d)));
        v.extend(prefixed(Self::LN1, LayerNormParams::specs(d)));
        v.extend(prefixed(Self::FC1, fc(d, ff)));
        v.extend(prefixed(Self::FC2, fc(ff, d)));
        v
    }

    pub fn from_map(p: &ParamMap) -> Result<TransformerParams> {
        let fc = |prefix| {
            let l = LinearParams::from_map(&sub_map(p, prefix))?;
            match l.bias {
                Some(_) => Ok(l),
                None => candle_core::bail!("missing parameter `{prefix}bias`"),
            }
        };
        Ok(TransformerParams {
            ln0: LayerNormParams::from_map(&sub_map(p, Self::LN0))?,
            attn: AttentionParams::from_map(&sub_map(p, Self::ATTN))?,
            ln1: LayerNormParams::from_map(&sub_map(p, Self::LN1))?,
            fc1: fc(Self::FC1)?,
            fc2: fc(Self::FC2)?,
        })
    }
}

/// The weights of one recurrent cell (PyTorch's names): `weight_ih [G·H, in]`, `weight_hh [G·H, H]`,
/// `bias_ih [G·H]`, `bias_hh [G·H]`, with G = 4 gates (LSTM: i, f, g, o) or 3 (GRU: r, z, n).
#[derive(Clone, Debug)]
pub struct CellParams {
    pub weight_ih: Tensor,
    pub weight_hh: Tensor,
    pub bias_ih: Tensor,
    pub bias_hh: Tensor,
}

impl CellParams {
    pub const WEIGHT_IH: &'static str = "weight_ih";
    pub const WEIGHT_HH: &'static str = "weight_hh";
    pub const BIAS_IH: &'static str = "bias_ih";
    pub const BIAS_HH: &'static str = "bias_hh";

    /// Specs named `{name}{tag}` (`weight_ih_l0_reverse` for `tag = "_l0_reverse"`), all U(±1/√H).
    pub fn specs(tag: &str, gates: i64, hidden: i64, input: i64) -> Vec<ParamSpec> {
        let init = Init::UniformFanIn { fan_in: hidden };
        let g = gates * hidden;
        vec![
            spec(&format!("{}{tag}", Self::WEIGHT_IH), vec![g, input], init),
            spec(&format!("{}{tag}", Self::WEIGHT_HH), vec![g, hidden], init),
            spec(&format!("{}{tag}", Self::BIAS_IH), vec![g], init),
            spec(&format!("{}{tag}", Self::BIAS_HH), vec![g], init),
        ]
    }

    pub fn from_map(p: &ParamMap, tag: &str) -> Result<CellParams> {
        let get = |name: &str| take(p, &format!("{name}{tag}"));
        Ok(CellParams {
            weight_ih: get(Self::WEIGHT_IH)?,
            weight_hh: get(Self::WEIGHT_HH)?,
            bias_ih: get(Self::BIAS_IH)?,
            bias_hh: get(Self::BIAS_HH)?,
        })
    }
}

/// A stack of LSTM or GRU layers: per layer the forward cell and, when bidirectional, the reverse one
/// (`weight_ih_l{k}`, `weight_ih_l{k}_reverse`, ...).
#[derive(Clone, Debug)]
pub struct RecurrentParams {
    /// `layers[k] = (forward, reverse)`.
    pub layers: Vec<(CellParams, Option<CellParams>)>,
}

impl RecurrentParams {
    /// The name tag of layer `layer` in one direction: `_l0`, `_l0_reverse`.
    pub fn tag(layer: usize, reverse: bool) -> String {
        let sfx = if reverse { "_reverse" } else { "" };
        format!("_l{layer}{sfx}")
    }

    /// `inputs[k]` is the input width of layer `k`.
    pub fn specs(cell: Cell, hidden: i64, inputs: &[i64], bidirectional: bool) -> Vec<ParamSpec> {
        let gates = match cell {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        };
        let mut v = Vec::new();
        for (layer, input) in inputs.iter().enumerate() {
            for reverse in [false, true]
                .into_iter()
                .take(1 + usize::from(bidirectional))
            {
                v.extend(CellParams::specs(
                    &Self::tag(layer, reverse),
                    gates,
                    hidden,
                    *input,
                ));
            }
        }
        v
    }

    pub fn from_map(p: &ParamMap, layers: usize, bidirectional: bool) -> Result<RecurrentParams> {
        let layers = (0..layers)
            .map(|k| {
                let fwd = CellParams::from_map(p, &Self::tag(k, false))?;
                let bwd = bidirectional
                    .then(|| CellParams::from_map(p, &Self::tag(k, true)))
                    .transpose()?;
                Ok((fwd, bwd))
            })
            .collect::<Result<_>>()?;
        Ok(RecurrentParams { layers })
    }

    /// The cell of one layer and direction.
    pub fn cell(&self, layer: usize, reverse: bool) -> Result<&CellParams> {
        let found = self
            .layers
            .get(layer)
            .and_then(|(f, r)| if reverse { r.as_ref() } else { Some(f) });
        match found {
            Some(c) => Ok(c),
            None => candle_core::bail!(
                "missing parameters of recurrent layer {layer}{}",
                if reverse { " (reverse)" } else { "" }
            ),
        }
    }
}
