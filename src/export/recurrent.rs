//! `lstm` / `gru` stacks as ONNX `LSTM` / `GRU` nodes, one per layer (`nn::recurrent`'s semantics).
//!
//! The weights are PyTorch's (gates i, f, g, o for the LSTM; r, z, n for the GRU); ONNX orders the gate blocks
//! i, o, f, c and z, r, h, so the row blocks are permuted. PyTorch's GRU applies the reset gate after the hidden
//! projection, which is ONNX's `linear_before_reset = 1`. The ONNX ops run time-major (`layout = 0`, which every
//! runtime implements), so the sequence is transposed once in and once out. Lengths become `sequence_lens`
//! (int32): ONNX then freezes each sequence's state past its length, zeroes the outputs there and starts the
//! reverse direction at the last valid step, as `nn::recurrent` does.

use super::graph::{attr_int, attr_ints, attr_str, ExportError, OnnxCx, INT32};
use crate::ir::{Cell, Merge};
use crate::nn::RecurrentParams;

/// The shape of the stack being exported (mirrors `ops::Recurrent`).
pub struct Stack {
    pub cell: Cell,
    pub hidden: usize,
    pub layers: usize,
    pub bidirectional: bool,
    pub merge: Merge,
}

impl Stack {
    fn gates(&self) -> usize {
        match self.cell {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// For each ONNX gate block, the PyTorch block it comes from.
    fn gate_order(&self) -> &'static [usize] {
        match self.cell {
            // ONNX i, o, f, c <- PyTorch i, f, g, o
            Cell::Lstm => &[0, 3, 1, 2],
            // ONNX z, r, h <- PyTorch r, z, n
            Cell::Gru => &[1, 0, 2],
        }
    }
}

/// The ports of the op: the merged sequence `[B, T, ·]`, the final `h`, and the LSTM's final `c`.
pub fn export(
    cx: &mut OnnxCx<'_>,
    x: &str,
    lengths: Option<&str>,
    s: &Stack,
) -> Result<Vec<String>, ExportError> {
    let lens = lengths.map(|l| cx.op("Cast", &[l], vec![attr_int("to", i64::from(INT32))]));
    let mut seq = cx.op("Transpose", &[x], vec![attr_ints("perm", &[1, 0, 2])]); // [T, B, I]
                                                                                 // The zero initial state, given explicitly: the same as leaving it out, but runtimes that need a fixed
                                                                                 // batch size to make their own zeros (tract) then run the file with a symbolic batch dim.
    let zeros = initial_state(cx, &seq, s);
    let mut finals = (String::new(), None);
    for layer in 0..s.layers {
        let (w, r, b) = layer_weights(cx, s, layer)?;
        let mut attrs = vec![
            attr_int("hidden_size", s.hidden as i64),
            attr_str(
                "direction",
                if s.bidirectional {
                    "bidirectional"
                } else {
                    "forward"
                },
            ),
        ];
        if s.cell == Cell::Gru {
            attrs.push(attr_int("linear_before_reset", 1));
        }
        let op = match s.cell {
            Cell::Lstm => "LSTM",
            Cell::Gru => "GRU",
        };
        let mut inputs: Vec<&str> = vec![&seq, &w, &r, &b, lens.as_deref().unwrap_or(""), &zeros];
        if s.cell == Cell::Lstm {
            inputs.push(&zeros);
        }
        let n_out = if s.cell == Cell::Lstm { 3 } else { 2 };
        let outs = cx.op_n(op, &inputs, n_out, attrs);
        // Y [T, dirs, B, H] -> [T, B, H·dirs] (concat: forward first) or [T, B, H] (sum).
        seq = merge_seq(cx, &outs[0], s)?;
        finals = (outs[1].clone(), outs.get(2).cloned());
    }
    let seq_out = cx.op("Transpose", &[&seq], vec![attr_ints("perm", &[1, 0, 2])]);
    let h = merge_final(cx, &finals.0, s)?;
    let mut ports = vec![seq_out, h];
    if let Some(c) = finals.1 {
        ports.push(merge_final(cx, &c, s)?);
    }
    Ok(ports)
}

/// Zeros `[dirs, B, H]`, `B` read from the time-major sequence `[T, B, ·]`.
fn initial_state(cx: &mut OnnxCx<'_>, seq: &str, s: &Stack) -> String {
    let shape = cx.op("Shape", &[seq], vec![]);
    let (one, two) = (cx.ints(&[1]), cx.ints(&[2]));
    let batch = cx.op("Slice", &[&shape, &one, &two], vec![]);
    let dirs = cx.ints(&[if s.bidirectional { 2 } else { 1 }]);
    let hidden = cx.ints(&[s.hidden as i64]);
    let dims = cx.op(
        "Concat",
        &[&dirs, &batch, &hidden],
        vec![attr_int("axis", 0)],
    );
    // An f32 zero broadcast to the shape (ConstantOfShape's default dtype is not read alike by every runtime).
    let zero = cx.scalar(0.0);
    cx.op("Expand", &[&zero, &dims], vec![])
}

fn merge_seq(cx: &mut OnnxCx<'_>, y: &str, s: &Stack) -> Result<String, ExportError> {
    match (s.bidirectional, s.merge) {
        (true, Merge::Sum) => {
            let axis = cx.ints(&[1]);
            Ok(cx.op("ReduceSum", &[y, &axis], vec![attr_int("keepdims", 0)]))
        }
        _ => {
            let t = cx.op("Transpose", &[y], vec![attr_ints("perm", &[0, 2, 1, 3])]);
            let shape = cx.ints(&[0, 0, -1]);
            Ok(cx.op("Reshape", &[&t, &shape], vec![]))
        }
    }
}

/// `Y_h` / `Y_c` `[dirs, B, H]` -> `[B, H·dirs]` (concat) or `[B, H]` (sum).
fn merge_final(cx: &mut OnnxCx<'_>, y: &str, s: &Stack) -> Result<String, ExportError> {
    match (s.bidirectional, s.merge) {
        (true, Merge::Sum) => {
            let axis = cx.ints(&[0]);
            Ok(cx.op("ReduceSum", &[y, &axis], vec![attr_int("keepdims", 0)]))
        }
        _ => {
            let t = cx.op("Transpose", &[y], vec![attr_ints("perm", &[1, 0, 2])]);
            let shape = cx.ints(&[0, -1]);
            Ok(cx.op("Reshape", &[&t, &shape], vec![]))
        }
    }
}

/// ONNX's `W [dirs, G·H, I]`, `R [dirs, G·H, H]` and `B [dirs, 2·G·H]` (input then hidden biases) of one layer.
fn layer_weights(
    cx: &mut OnnxCx<'_>,
    s: &Stack,
    layer: usize,
) -> Result<(String, String, String), ExportError> {
    let dirs: &[bool] = if s.bidirectional {
        &[false, true]
    } else {
        &[false]
    };
    let (mut w, mut r, mut b) = (Vec::new(), Vec::new(), Vec::new());
    let mut input = 0;
    for &reverse in dirs {
        let tag = RecurrentParams::tag(layer, reverse);
        let (wi, wdims) = cx.weight_values(&format!("weight_ih{tag}"))?;
        let (wh, _) = cx.weight_values(&format!("weight_hh{tag}"))?;
        let (bi, _) = cx.weight_values(&format!("bias_ih{tag}"))?;
        let (bh, _) = cx.weight_values(&format!("bias_hh{tag}"))?;
        input = wdims.get(1).copied().unwrap_or(0);
        w.extend(reorder(&wi, s, input)?);
        r.extend(reorder(&wh, s, s.hidden)?);
        b.extend(reorder(&bi, s, 1)?);
        b.extend(reorder(&bh, s, 1)?);
    }
    let (n, gh) = (dirs.len() as i64, (s.gates() * s.hidden) as i64);
    let hint = format!("l{layer}");
    Ok((
        cx.floats(&format!("{hint}_W"), &w, &[n, gh, input as i64]),
        cx.floats(&format!("{hint}_R"), &r, &[n, gh, s.hidden as i64]),
        cx.floats(&format!("{hint}_B"), &b, &[n, 2 * gh]),
    ))
}

/// Permutes the gate row blocks (`[G·H, width]` row-major) from PyTorch's order into ONNX's.
fn reorder(values: &[f32], s: &Stack, width: usize) -> Result<Vec<f32>, ExportError> {
    let block = s.hidden * width;
    if values.len() != s.gates() * block {
        return Err(ExportError::Internal(format!(
            "recurrent weight of {} values, expected {} gates of {block}",
            values.len(),
            s.gates()
        )));
    }
    Ok(s.gate_order()
        .iter()
        .flat_map(|g| values[g * block..(g + 1) * block].iter().copied())
        .collect())
}
