//! Translating new sentences with a trained run (`fusec translate`): each model input is the source text field
//! (tokenized with its declared options and the vocabulary saved in the run directory), a `lengths` field of
//! it, or a feature array aligned with the sentences (standardized with the run's saved statistics).

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;

use super::translation::load_vocab;
use super::{load_standardization, RunError};
use crate::backend::{DecodeOptions, Network};
use crate::data::npy::RawArray;
use crate::data::text::{to_text, tokenize, Vocab};
use crate::ir::{DataSpec, SourceKind, TextOptions, TrainPlan};

const BATCH: usize = 128;

/// How one model input is filled.
enum Feed {
    Text(Vocab, TextOptions),
    Lengths(String),
    /// With the per-example dims the data declares.
    Features(Vec<crate::ir::DimExpr>),
}

fn feeds(
    net: &Network,
    plan: &TrainPlan,
    spec: &DataSpec,
    run_dir: &Path,
) -> Result<Vec<(String, Feed)>, RunError> {
    let mut out = Vec::new();
    for input in &net.model.inputs {
        if input.name == plan.task.target {
            continue;
        }
        let field = spec
            .fields
            .iter()
            .find(|f| f.name == input.name)
            .ok_or_else(|| {
                RunError::Config(format!(
                    "the model input `{}` has no field in data `{}`",
                    input.name, spec.name
                ))
            })?;
        let feed = match &field.source.kind {
            SourceKind::Text(o) => Feed::Text(load_vocab(run_dir, &input.name)?, o.clone()),
            SourceKind::Lengths { of } => Feed::Lengths(of.clone()),
            _ => Feed::Features(field.dims.clone()),
        };
        out.push((input.name.clone(), feed));
    }
    let n_features = out
        .iter()
        .filter(|(_, f)| matches!(f, Feed::Features(_)))
        .count();
    if n_features > 1 {
        return Err(RunError::Config(format!(
            "the model reads {n_features} feature inputs; `fusec translate` takes one `--features` array"
        )));
    }
    Ok(out)
}

/// The rows `rows` of `features` as a `[n, ..]` tensor, standardized when the run saved statistics for `name`.
fn feature_batch(
    net: &Network,
    name: &str,
    features: &RawArray,
    rows: std::ops::Range<usize>,
    stats: &HashMap<String, (Vec<f32>, Vec<f32>)>,
) -> Result<Tensor, RunError> {
    let per: usize = features.shape.iter().skip(1).product();
    let mut v: Vec<f32> = features.values[rows.start * per..rows.end * per]
        .iter()
        .map(|x| *x as f32)
        .collect();
    if let Some((mean, std)) = stats.get(name) {
        let d = mean.len().max(1);
        for (i, x) in v.iter_mut().enumerate() {
            *x = (*x - mean[i % d]) / std[i % d];
        }
    }
    let mut shape = vec![rows.len()];
    shape.extend(&features.shape[1..]);
    Ok(Tensor::from_vec(v, shape, &net.device)?)
}

/// The features' example shape must be the one the data declares (`f32[2048]`, `f32[32, 32, 3]`).
fn check_feature_shape(feeds: &[(String, Feed)], f: &RawArray) -> Result<(), RunError> {
    for (name, feed) in feeds {
        let Feed::Features(dims) = feed else {
            continue;
        };
        let want: Vec<Option<usize>> = dims
            .iter()
            .map(|d| match d {
                crate::ir::DimExpr::Const(n) => Some(*n as usize),
                _ => None,
            })
            .collect();
        let have = &f.shape[1.min(f.shape.len())..];
        let fits = have.len() == want.len()
            && have
                .iter()
                .zip(&want)
                .all(|(h, w)| w.is_none_or(|w| w == *h));
        if !fits {
            return Err(RunError::Config(format!(
                "the features are examples of shape {have:?}, but the model's `{name}` field is {want:?} per example"
            )));
        }
    }
    Ok(())
}

/// Refuses a search whose hypotheses (`beam` per sentence of a batch, each up to `max_len` tokens, with the
/// encoder memory and a row of vocabulary scores) would need more than the memory budget.
fn check_decoding_memory(
    net: &Network,
    decoder: crate::ir::NodeId,
    lines: &[String],
    vocab: usize,
    opts: &DecodeOptions,
) -> Result<(), RunError> {
    use crate::guarded_read::{human_bytes, max_memory};
    let width = net
        .model
        .graph
        .operands(decoder)
        .first()
        .and_then(|v| net.shapes.ty(*v))
        .and_then(|t| t.dims.last().and_then(|d| d.fixed()))
        .unwrap_or(1);
    // Tokens are at most the characters of a line, plus BOS and EOS.
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 2;
    let need = crate::summary::memory::decoding_memory(
        lines.len().min(BATCH) as u64,
        opts.beam as u64,
        opts.max_len as u64,
        vocab as u64,
        longest as u64,
        width.max(1) as u64,
        0,
    );
    if need > max_memory() {
        return Err(RunError::Config(format!(
            "decoding with --beam {} and --max-len {} needs about {}, more than the memory budget of {}; lower \
             --beam or --max-len (or raise --max-memory)",
            opts.beam,
            opts.max_len,
            human_bytes(need),
            human_bytes(max_memory())
        )));
    }
    Ok(())
}

/// Translates `lines` (one source sentence each) with `features` row i for line i when the model reads
/// features. Returns one detokenized translation per line.
pub fn translate_lines(
    net: &Network,
    plan: &TrainPlan,
    spec: &DataSpec,
    run_dir: &Path,
    lines: &[String],
    features: Option<&RawArray>,
    opts: &DecodeOptions,
) -> Result<Vec<String>, RunError> {
    let decoder = net
        .decoder_of(&plan.task.output)
        .map_err(|e| RunError::Config(e.to_string()))?;
    let target = load_vocab(run_dir, &plan.task.target)?;
    let target_options = spec
        .fields
        .iter()
        .find_map(|f| match &f.source.kind {
            SourceKind::Text(o) if f.name == plan.task.target => Some(o.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            RunError::Config(format!(
                "the translation target `{}` is not a `text(...)` field",
                plan.task.target
            ))
        })?;
    let feeds = feeds(net, plan, spec, run_dir)?;
    let needs_features = feeds.iter().any(|(_, f)| matches!(f, Feed::Features(_)));
    let features = match (needs_features, features) {
        (false, _) => None,
        (true, None) => return Err(RunError::Config("the model reads visual features: pass them with `--features FILE.npy`".into())),
        (true, Some(f)) if f.shape.first() != Some(&lines.len()) => {
            return Err(RunError::Config(format!(
                "the features hold {} rows but the input has {} sentences; row i must belong to line i",
                f.shape.first().copied().unwrap_or(0),
                lines.len()
            )))
        }
        (true, Some(f)) => Some(f),
    };
    if let Some(f) = features {
        check_feature_shape(&feeds, f)?;
    }
    check_decoding_memory(net, decoder, lines, target.len(), opts)?;
    let stats = load_standardization(run_dir)?;
    let mut out = Vec::with_capacity(lines.len());
    for start in (0..lines.len()).step_by(BATCH) {
        let rows = start..(start + BATCH).min(lines.len());
        let mut inputs = HashMap::new();
        let mut lengths: HashMap<String, Vec<i64>> = HashMap::new();
        for (name, feed) in &feeds {
            match feed {
                Feed::Text(vocab, o) => {
                    let ids: Vec<Vec<u32>> = lines[rows.clone()]
                        .iter()
                        .map(|l| vocab.encode(&tokenize(l, o.lowercase, o.punct), o.bos, o.eos))
                        .collect();
                    let width = ids.iter().map(Vec::len).max().unwrap_or(1).max(1);
                    let mut flat = vec![0i64; ids.len() * width];
                    for (i, s) in ids.iter().enumerate() {
                        for (j, id) in s.iter().enumerate() {
                            flat[i * width + j] = i64::from(*id);
                        }
                    }
                    lengths.insert(name.clone(), ids.iter().map(|s| s.len() as i64).collect());
                    inputs.insert(
                        name.clone(),
                        Tensor::from_vec(flat, (ids.len(), width), &net.device)?,
                    );
                }
                Feed::Features(_) => {
                    if let Some(f) = features {
                        inputs.insert(
                            name.clone(),
                            feature_batch(net, name, f, rows.clone(), &stats)?,
                        );
                    }
                }
                Feed::Lengths(_) => {}
            }
        }
        for (name, feed) in &feeds {
            if let Feed::Lengths(of) = feed {
                let l = lengths.get(of).cloned().ok_or_else(|| {
                    RunError::Config(format!(
                        "`{name}` counts the tokens of `{of}`, which the model does not read"
                    ))
                })?;
                let n = l.len();
                inputs.insert(name.clone(), Tensor::from_vec(l, n, &net.device)?);
            }
        }
        for h in net.translate(decoder, &inputs, opts)? {
            out.push(to_text(&target.decode(&h.tokens), &target_options));
        }
    }
    Ok(out)
}
