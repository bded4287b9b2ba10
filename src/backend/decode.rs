//! Decoding for sequence-to-sequence models: greedy search and batched beam search (architectures.md §5.5)
//! over any [`Stepper`], and [`Network::translate`], which runs a model's encoder once (the ancestors of an
//! `attention_decoder` node, without the targets) and then steps the decoder with its trained parameters.

use std::collections::HashMap;

use candle_core::{DType, Error, Result, Tensor};

use super::Network;
use crate::ir::tokens::{BOS, EOS};
use crate::ir::{Decoder, NodeId, Op, Value};
use crate::nn::{self, DecoderState, DecoderWeights};

/// Search settings. `beam = 1` is greedy search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeOptions {
    pub beam: usize,
    /// Tokens generated at most (EOS included).
    pub max_len: usize,
    /// Length penalty: hypotheses are ranked by `score / len^alpha`.
    pub alpha: f64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            beam: 1,
            max_len: 100,
            alpha: 1.0,
        }
    }
}

/// One decoded sequence: tokens without BOS and EOS, and the sum of their log-probabilities (EOS included
/// when the hypothesis finished).
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    pub tokens: Vec<u32>,
    pub score: f64,
    pub finished: bool,
}

/// A decoder seen one step at a time. Rows are hypotheses; `select` reorders or repeats rows of a state.
pub trait Stepper {
    type State;
    /// Log-probabilities `[rows][V]` of the next token after `prev` (one token per row), and the new state.
    fn step(&self, prev: &[u32], state: &Self::State) -> Result<(Vec<Vec<f32>>, Self::State)>;
    fn select(&self, state: &Self::State, rows: &[usize]) -> Result<Self::State>;
}

/// The `k` best entries of a row, best first; ties go to the lower id, the same rule for greedy and beam.
fn top_k(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let k = k.min(row.len());
    if k == 0 {
        return Vec::new();
    }
    // `a` ranks before `b`: larger value (in `total_cmp`'s order), then lower id.
    let before = |a: (u32, f32), b: (u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)).is_lt();
    if k > SMALL_K {
        return top_k_sorted(row, k);
    }
    // Small k (beam sizes): one pass over the row keeping the best k in order, no allocation of V ids. Ids
    // arrive in increasing order, so a later entry displaces an earlier one only with a strictly larger value.
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &v) in row.iter().enumerate() {
        let e = (i as u32, v);
        if best.len() == k && !before(e, best[k - 1]) {
            continue;
        }
        let at = best.partition_point(|&b| before(b, e));
        best.insert(at, e);
        best.truncate(k);
    }
    best
}

/// Beam sizes up to this take [`top_k`]'s single pass.
const SMALL_K: usize = 32;

/// [`top_k`] by partial sorting of all ids: the general path, and the reference its single pass must match.
fn top_k_sorted(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..row.len() as u32).collect();
    let key = |i: &u32| row[*i as usize];
    idx.select_nth_unstable_by(k - 1, |a, b| key(b).total_cmp(&key(a)).then(a.cmp(b)));
    idx.truncate(k);
    idx.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.cmp(b)));
    idx.into_iter().map(|i| (i, key(&i))).collect()
}

/// Greedy search for `n` rows: the most likely token at each step until EOS or `max_len`; stops once every
/// row has finished.
pub fn greedy<S: Stepper>(
    s: &S,
    state: S::State,
    n: usize,
    max_len: usize,
) -> Result<Vec<Hypothesis>> {
    let mut hyps = vec![
        Hypothesis {
            tokens: Vec::new(),
            score: 0.0,
            finished: false
        };
        n
    ];
    let mut prev = vec![BOS; n];
    let mut state = state;
    for _ in 0..max_len {
        if hyps.iter().all(|h| h.finished) {
            break;
        }
        let (logp, next) = s.step(&prev, &state)?;
        state = next;
        for (i, h) in hyps.iter_mut().enumerate().filter(|(_, h)| !h.finished) {
            let Some(&(w, lp)) = top_k(&logp[i], 1).first() else {
                continue;
            };
            h.score += f64::from(lp);
            if w == EOS {
                h.finished = true;
            } else {
                h.tokens.push(w);
            }
            prev[i] = w;
        }
    }
    Ok(hyps)
}

/// A live beam entry: its hypothesis and its row in the current state.
struct Live {
    hyp: Hypothesis,
    row: usize,
}

/// The last token of every live hypothesis (BOS for empty ones), indexed by its row in the state.
fn last_tokens(live: &[Vec<Live>]) -> Vec<u32> {
    let rows = live.iter().flatten().map(|l| l.row + 1).max().unwrap_or(0);
    let mut prev = vec![BOS; rows];
    for l in live.iter().flatten() {
        prev[l.row] = l.hyp.tokens.last().copied().unwrap_or(BOS);
    }
    prev
}

/// The `k` best one-token continuations of a row's beams (by summed log-probability), with their parent rows.
fn best_continuations(beams: &[Live], logp: &[Vec<f32>], k: usize) -> Vec<(Hypothesis, usize)> {
    let mut cand: Vec<(Hypothesis, usize)> = Vec::new();
    for l in beams {
        for (w, lp) in top_k(&logp[l.row], k) {
            let mut h = l.hyp.clone();
            h.score += f64::from(lp);
            if w == EOS {
                h.finished = true;
            } else {
                h.tokens.push(w);
            }
            cand.push((h, l.row));
        }
    }
    // Stable: ties keep beam order, then token order.
    cand.sort_by(|a, b| b.0.score.total_cmp(&a.0.score));
    cand.truncate(k);
    cand
}

fn normalized(h: &Hypothesis, alpha: f64) -> f64 {
    let len = h.tokens.len() + usize::from(h.finished);
    h.score / (len.max(1) as f64).powf(alpha)
}

/// Beam search for `n` rows, all beams of all rows stepped together. Each step keeps the `beam` best
/// continuations (by summed log-probability) of each row; those ending in EOS are set aside, and a row stops
/// once `beam` hypotheses have finished or none is live. The result is the best by `score / len^alpha`
/// among the finished ones and those still live at `max_len`.
pub fn beam_search<S: Stepper>(
    s: &S,
    state: S::State,
    n: usize,
    opts: &DecodeOptions,
) -> Result<Vec<Hypothesis>> {
    let k = opts.beam.max(1);
    let start = Hypothesis {
        tokens: Vec::new(),
        score: 0.0,
        finished: false,
    };
    let mut live: Vec<Vec<Live>> = (0..n)
        .map(|r| {
            vec![Live {
                hyp: start.clone(),
                row: r,
            }]
        })
        .collect();
    let mut done: Vec<Vec<Hypothesis>> = vec![Vec::new(); n];
    let mut state = state;
    for _ in 0..opts.max_len {
        let prev_tokens = last_tokens(&live);
        if prev_tokens.is_empty() {
            break;
        }
        let (logp, next) = s.step(&prev_tokens, &state)?;
        let mut rows = Vec::new();
        for (i, beams) in live.iter_mut().enumerate() {
            let cand = best_continuations(beams, &logp, k);
            let mut keep = Vec::new();
            for (h, parent) in cand {
                if h.finished {
                    done[i].push(h);
                } else {
                    keep.push((h, parent));
                }
            }
            if done[i].len() >= k {
                keep.clear();
            }
            *beams = keep
                .into_iter()
                .map(|(hyp, parent)| {
                    rows.push(parent);
                    Live {
                        hyp,
                        row: rows.len() - 1,
                    }
                })
                .collect();
        }
        if rows.is_empty() {
            break;
        }
        state = s.select(&next, &rows)?;
    }
    Ok(done
        .into_iter()
        .zip(live)
        .map(|(mut d, l)| {
            d.extend(l.into_iter().map(|l| l.hyp));
            d.into_iter()
                .max_by(|a, b| normalized(a, opts.alpha).total_cmp(&normalized(b, opts.alpha)))
                .unwrap_or_else(|| start.clone())
        })
        .collect())
}

/// Runs greedy search for `beam <= 1`, beam search otherwise.
pub fn search<S: Stepper>(
    s: &S,
    state: S::State,
    n: usize,
    opts: &DecodeOptions,
) -> Result<Vec<Hypothesis>> {
    if opts.beam <= 1 {
        greedy(s, state, n, opts.max_len)
    } else {
        beam_search(s, state, n, opts)
    }
}

/// The attention decoder as a [`Stepper`]: the state carries each row's memory and source mask too, so beam
/// search can repeat and reorder rows freely.
struct NeuralStepper {
    weights: DecoderWeights,
}

struct NeuralState {
    dec: DecoderState,
    memory: Tensor,
    mask: Tensor,
}

impl Stepper for NeuralStepper {
    type State = NeuralState;

    fn step(&self, prev: &[u32], st: &NeuralState) -> Result<(Vec<Vec<f32>>, NeuralState)> {
        let prev = Tensor::from_vec(prev.to_vec(), prev.len(), st.memory.device())?;
        let (logp, dec) = nn::decoder_step(&self.weights, &st.memory, &st.mask, &st.dec, &prev)?;
        let rows = logp.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let next = NeuralState {
            dec,
            memory: st.memory.clone(),
            mask: st.mask.clone(),
        };
        Ok((rows, next))
    }

    fn select(&self, st: &NeuralState, rows: &[usize]) -> Result<NeuralState> {
        let idx: Vec<u32> = rows.iter().map(|r| *r as u32).collect();
        let idx = Tensor::from_vec(idx, rows.len(), st.memory.device())?;
        Ok(NeuralState {
            dec: st.dec.select(&idx)?,
            memory: st.memory.index_select(&idx, 0)?,
            mask: st.mask.index_select(&idx, 0)?,
        })
    }
}

impl Network {
    /// The `attention_decoder` node whose logits are the model output `output`.
    pub fn decoder_of(&self, output: &str) -> Result<NodeId> {
        let v = self
            .model
            .output_value(output)
            .ok_or_else(|| Error::Msg(format!("`{output}` is not an output of the model")))?;
        if let Op::Decoder(_) = self.model.graph.node(v.node).op {
            Ok(v.node)
        } else {
            Err(Error::Msg(format!(
                "the output `{output}` is not the logits of an `attention_decoder`, so it cannot be decoded"
            )))
        }
    }

    /// Runs, in evaluation mode, only the nodes that `targets` depend on (the targets' own nodes included),
    /// through the tape-free inference path (fused recurrent kernels, intermediates freed after their last use).
    fn forward_to(
        &self,
        inputs: &HashMap<String, Tensor>,
        targets: &[Value],
    ) -> Result<HashMap<Value, Tensor>> {
        let plan = super::infer::InferPlan::new(self, targets);
        Ok(self.infer(&plan, inputs)?.values)
    }

    /// Translates a batch: encodes `inputs` (the decoder's target input is not needed) and searches with
    /// `opts`. Returns one hypothesis per example, in batch order.
    pub fn translate(
        &self,
        decoder: NodeId,
        inputs: &HashMap<String, Tensor>,
        opts: &DecodeOptions,
    ) -> Result<Vec<Hypothesis>> {
        let Op::Decoder(Decoder { init, .. }) = self.model.graph.node(decoder).op else {
            return Err(Error::Msg(
                "internal: translate needs a decoder node".into(),
            ));
        };
        let ops: Vec<Value> = self.operands[&decoder].iter().take(3).copied().collect();
        if ops.len() != 3 {
            return Err(Error::Msg("internal: decoder without its operands".into()));
        }
        let values = self.forward_to(inputs, &ops)?;
        let get = |v: &Value| {
            values
                .get(v)
                .ok_or_else(|| Error::Msg("internal: encoder value missing".into()))
        };
        let (memory, lengths, fused) = (get(&ops[0])?, get(&ops[1])?, get(&ops[2])?);
        let n = memory.dim(0)?;
        let state = NeuralState {
            dec: DecoderState::initial(fused, init)?,
            mask: nn::source_mask_bias(lengths, memory.dim(1)?, memory.dtype())?,
            memory: memory.clone(),
        };
        let stepper = NeuralStepper {
            weights: DecoderWeights::from_map(&self.param_map(decoder)?)?,
        };
        search(&stepper, state, n, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn top_k_single_pass_matches_sorting_with_ties_and_nan() {
        let mut rng = SeededRng::new(11);
        for case in 0..300 {
            let n = 1 + case % 40;
            // Few distinct values, so ties are common; some NaN and infinities.
            let row: Vec<f32> = (0..n)
                .map(|_| match (rng.uniform(0.0, 1.0) * 10.0) as u32 {
                    0 => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    2 => f32::INFINITY,
                    v => (v % 4) as f32 - 2.0,
                })
                .collect();
            for k in [1, 2, 5, n] {
                let fast = top_k(&row, k);
                let slow = top_k_sorted(&row, k.min(n));
                let ids = |v: &[(u32, f32)]| v.iter().map(|e| e.0).collect::<Vec<_>>();
                assert_eq!(ids(&fast), ids(&slow), "row {row:?}, k {k}");
            }
        }
    }
}
