//! ONNX compositions of the layers that are more than one ONNX operator: linear layers, layer norm, fairseq
//! multi-head attention, MulT's pre-LN transformer layer, the sinusoidal position table and GELU. Each follows
//! its kernel in `crate::nn` (named beside it) step by step, with the same weights.

use super::graph::{attr_float, attr_int, attr_ints, ExportError, OnnxCx};

type Out = Result<String, ExportError>;

/// Operand `i`'s ONNX value.
pub fn arg<'a>(args: &[&'a str], i: usize) -> Result<&'a str, ExportError> {
    args.get(i)
        .copied()
        .ok_or_else(|| ExportError::Internal(format!("operand {i} is missing")))
}

/// `x W^T + b` over the last axis (`nn::linear`): weights `{prefix}weight [out, in]`, `{prefix}bias`.
pub fn linear(cx: &mut OnnxCx<'_>, x: &str, prefix: &str) -> Out {
    let w = cx.weight_transposed(&format!("{prefix}weight"))?;
    let y = cx.op("MatMul", &[x, &w], vec![]);
    let bias = format!("{prefix}bias");
    if !cx.has_weight(&bias) {
        return Ok(y);
    }
    let b = cx.weight(&bias)?;
    Ok(cx.op("Add", &[&y, &b], vec![]))
}

/// `nn::layer_norm` over the last axis: `{prefix}weight`, `{prefix}bias`, biased variance.
pub fn layer_norm(cx: &mut OnnxCx<'_>, x: &str, prefix: &str, eps: f64) -> Out {
    let w = cx.weight(&format!("{prefix}weight"))?;
    let b = cx.weight(&format!("{prefix}bias"))?;
    Ok(cx.op(
        "LayerNormalization",
        &[x, &w, &b],
        vec![attr_int("axis", -1), attr_float("epsilon", eps as f32)],
    ))
}

/// Exact GELU, `0.5 x (1 + erf(x / √2))`, or its tanh approximation (`nn::activation`), from opset-17 ops.
pub fn gelu(cx: &mut OnnxCx<'_>, x: &str, tanh: bool) -> Out {
    let inner = if tanh {
        // tanh(√(2/π) (x + 0.044715 x³))
        let c = cx.scalar(0.044_715);
        let x2 = cx.op("Mul", &[x, x], vec![]);
        let x3 = cx.op("Mul", &[&x2, x], vec![]);
        let cx3 = cx.op("Mul", &[&x3, &c], vec![]);
        let sum = cx.op("Add", &[x, &cx3], vec![]);
        let k = cx.scalar((2.0 / std::f32::consts::PI).sqrt());
        let scaled = cx.op("Mul", &[&sum, &k], vec![]);
        cx.op("Tanh", &[&scaled], vec![])
    } else {
        let r = cx.scalar(std::f32::consts::SQRT_2);
        let scaled = cx.op("Div", &[x, &r], vec![]);
        cx.op("Erf", &[&scaled], vec![])
    };
    let one = cx.scalar(1.0);
    let half = cx.scalar(0.5);
    let plus = cx.op("Add", &[&inner, &one], vec![]);
    let xs = cx.op("Mul", &[x, &plus], vec![]);
    Ok(cx.op("Mul", &[&xs, &half], vec![]))
}

/// Columns `rows` of a packed `[3d, d]` projection (`in_proj_weight`'s q, k or v block), transposed for
/// `MatMul`, and the matching bias block: `x W_blk^T + b_blk`.
fn project_block(cx: &mut OnnxCx<'_>, x: &str, prefix: &str, block: usize, d: usize) -> Out {
    let (w, dims) = cx.weight_values(&format!("{prefix}in_proj_weight"))?;
    let (b, _) = cx.weight_values(&format!("{prefix}in_proj_bias"))?;
    if dims != [3 * d, d] || b.len() != 3 * d {
        return Err(ExportError::Internal(format!(
            "attention weights of shape {dims:?} for width {d}"
        )));
    }
    let rows = &w[block * d * d..(block + 1) * d * d];
    let wt = super::graph::transpose(rows, d, d);
    let names = ["q", "k", "v"];
    let w_name = cx.floats(
        &format!("{prefix}w_{}", names[block]),
        &wt,
        &[d as i64, d as i64],
    );
    let b_name = cx.floats(
        &format!("{prefix}b_{}", names[block]),
        &b[block * d..(block + 1) * d],
        &[d as i64],
    );
    let y = cx.op("MatMul", &[x, &w_name], vec![]);
    Ok(cx.op("Add", &[&y, &b_name], vec![]))
}

/// Fairseq multi-head attention (`nn::attention` without dropout): `q [B, Tq, d]`, `kv [B, Tk, d]` (self-attention
/// on `q` when `None`), weights under `prefix` (`in_proj_*`, `out_proj.*`).
pub fn attention(
    cx: &mut OnnxCx<'_>,
    q: &str,
    kv: Option<&str>,
    prefix: &str,
    heads: usize,
    causal: Mask,
    d: usize,
) -> Out {
    if heads == 0 || d % heads != 0 {
        return Err(ExportError::Internal(format!("width {d} in {heads} heads")));
    }
    let head_dim = d / heads;
    let kv = kv.unwrap_or(q);
    let qp = project_block(cx, q, prefix, 0, d)?;
    let kp = project_block(cx, kv, prefix, 1, d)?;
    let vp = project_block(cx, kv, prefix, 2, d)?;
    let scale = cx.scalar((head_dim as f32).powf(-0.5));
    let qp = cx.op("Mul", &[&qp, &scale], vec![]);
    // [B, T, d] -> [B, T, H, hd] (0 keeps B and T as they are).
    let split = cx.ints(&[0, 0, heads as i64, head_dim as i64]);
    let qh = cx.op("Reshape", &[&qp, &split], vec![]);
    let kh = cx.op("Reshape", &[&kp, &split], vec![]);
    let vh = cx.op("Reshape", &[&vp, &split], vec![]);
    let qh = cx.op("Transpose", &[&qh], vec![attr_ints("perm", &[0, 2, 1, 3])]);
    let kt = cx.op("Transpose", &[&kh], vec![attr_ints("perm", &[0, 2, 3, 1])]);
    let vh = cx.op("Transpose", &[&vh], vec![attr_ints("perm", &[0, 2, 1, 3])]);
    let mut scores = cx.op("MatMul", &[&qh, &kt], vec![]); // [B, H, Tq, Tk]
    let mask = match causal {
        Mask::None => None,
        Mask::Fixed(tq, tk) => Some(cx.floats("future_mask", &future_mask(tq, tk), &[tq, tk])),
        Mask::Runtime => Some(runtime_future_mask(cx, q, kv)),
    };
    if let Some(m) = mask {
        scores = cx.op("Add", &[&scores, &m], vec![]);
    }
    let probs = cx.op("Softmax", &[&scores], vec![attr_int("axis", -1)]);
    let ctx = cx.op("MatMul", &[&probs, &vh], vec![]); // [B, H, Tq, hd]
    let ctx = cx.op("Transpose", &[&ctx], vec![attr_ints("perm", &[0, 2, 1, 3])]);
    let merge = cx.ints(&[0, 0, d as i64]);
    let merged = cx.op("Reshape", &[&ctx, &merge], vec![]);
    linear(cx, &merged, &format!("{prefix}out_proj."))
}

/// The causal mask of an attention op, if any: a constant for fixed lengths, else built at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    None,
    Fixed(i64, i64),
    Runtime,
}

/// [`future_mask`] for the lengths of `q [B, Tq, d]` and `kv [B, Tk, d]` at run time: `Where(j > i + |Tk - Tq|,
/// -inf, 0)` over `Range`s of the step indices.
fn runtime_future_mask(cx: &mut OnnxCx<'_>, q: &str, kv: &str) -> String {
    let (one, two) = (cx.ints(&[1]), cx.ints(&[2]));
    let mut length = |x: &str| {
        let shape = cx.op("Shape", &[x], vec![]);
        let t = cx.op("Slice", &[&shape, &one, &two], vec![]);
        cx.op("Squeeze", &[&t], vec![])
    };
    let (tq, tk) = (length(q), length(kv));
    let (zero, step) = (cx.int_scalar(0), cx.int_scalar(1));
    let rows = cx.op("Range", &[&zero, &tq, &step], vec![]);
    let rows = cx.op("Unsqueeze", &[&rows, &one], vec![]); // [Tq, 1]
    let cols = cx.op("Range", &[&zero, &tk, &step], vec![]); // [Tk]
    let diff = cx.op("Sub", &[&tk, &tq], vec![]);
    let offset = cx.op("Abs", &[&diff], vec![]);
    let last = cx.op("Add", &[&rows, &offset], vec![]);
    let future = cx.op("Greater", &[&cols, &last], vec![]); // [Tq, Tk]
    let (minus_inf, zero_f) = (cx.scalar(f32::NEG_INFINITY), cx.scalar(0.0));
    cx.op("Where", &[&future, &minus_inf, &zero_f], vec![])
}

/// MulT's future mask (`nn::attention`): `-inf` where key `j > i + |Tk - Tq|`.
fn future_mask(tq: i64, tk: i64) -> Vec<f32> {
    let offset = tk.abs_diff(tq) as i64;
    (0..tq)
        .flat_map(|i| {
            (0..tk).map(move |j| {
                if j > i + offset {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect()
}

/// MulT's pre-LN transformer layer (`nn::transformer_layer` without dropout).
pub fn transformer_layer(
    cx: &mut OnnxCx<'_>,
    x: &str,
    kv: Option<&str>,
    heads: usize,
    causal: Mask,
    d: usize,
) -> Out {
    const EPS: f64 = 1e-5; // MulT's LayerNorm epsilon (`nn::attention`'s LAYER_NORM_EPS).
    let xn = layer_norm(cx, x, "ln0.", EPS)?;
    let kvn = kv.map(|kv| layer_norm(cx, kv, "ln0.", EPS)).transpose()?;
    let a = attention(cx, &xn, kvn.as_deref(), "attn.", heads, causal, d)?;
    let x1 = cx.op("Add", &[x, &a], vec![]);
    let y = layer_norm(cx, &x1, "ln1.", EPS)?;
    let y = linear(cx, &y, "fc1.")?;
    let y = cx.op("Relu", &[&y], vec![]);
    let y = linear(cx, &y, "fc2.")?;
    Ok(cx.op("Add", &[&x1, &y], vec![]))
}

/// The fairseq sinusoidal table `[T, d]` for positions `1..=T` (`nn::positions`), `T` read from `x`'s shape at
/// run time: `sin(p f_i)` then `cos(p f_i)`, a zero column when `d` is odd.
pub fn positions(cx: &mut OnnxCx<'_>, x: &str, d: usize) -> Out {
    let freqs = crate::nn::position_frequencies(d).map_err(ExportError::from)?;
    let freqs: Vec<f32> = freqs.iter().map(|f| *f as f32).collect();
    let shape = cx.op("Shape", &[x], vec![]);
    let one_i = cx.ints(&[1]);
    let two_i = cx.ints(&[2]);
    let t = cx.op("Slice", &[&shape, &one_i, &two_i], vec![]); // [T] as int64 [1]
    let t = cx.op("Squeeze", &[&t], vec![]);
    let t = cx.op(
        "Cast",
        &[&t],
        vec![attr_int("to", i64::from(super::onnx_pb::data_type::FLOAT))],
    );
    let start = cx.scalar(1.0);
    let step = cx.scalar(1.0);
    let end = cx.op("Add", &[&t, &start], vec![]);
    let pos = cx.op("Range", &[&start, &end, &step], vec![]); // [T]: 1..=T
    let col = cx.ints(&[1]);
    let pos = cx.op("Unsqueeze", &[&pos, &col], vec![]); // [T, 1]
    let f = cx.floats("position_frequencies", &freqs, &[1, freqs.len() as i64]);
    let angles = cx.op("Mul", &[&pos, &f], vec![]); // [T, d/2]
    let sin = cx.op("Sin", &[&angles], vec![]);
    let cos = cx.op("Cos", &[&angles], vec![]);
    let mut parts = vec![sin, cos];
    if d % 2 == 1 {
        let zero = cx.scalar(0.0);
        let z = cx.op("Mul", &[&pos, &zero], vec![]); // [T, 1] zeros
        parts.push(z);
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    Ok(cx.op("Concat", &refs, vec![attr_int("axis", 1)]))
}
