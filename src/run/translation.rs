//! Translation tasks in a run: decoding a split with the trained decoder (greedy for validation and model
//! selection, greedy and beam 5 in the final test report), scoring with sacreBLEU-exact corpus BLEU and chrF,
//! and saving the vocabularies to the run directory (`vocab/<field>.txt`) for evaluation and `fusec translate`.

use std::path::Path;

use super::evaluate::batch_inputs;
use super::{write_atomic, RunError};
use crate::backend::{DecodeOptions, Network};
use crate::data::text::{merge_pieces, to_text, Vocab};
use crate::data::Dataset;
use crate::ir::{Op, TrainPlan};
use crate::train::bleu::{corpus_bleu, corpus_chrf};

/// Sentences decoded per batch.
const DECODE_BATCH: usize = 128;

/// Metric values by name (`bleu`, `chrf_beam5`, ...).
type Scores = Vec<(String, f64)>;

/// Beam size of the final test report's second decoding.
pub const TEST_BEAM: usize = 5;

/// Writes every text field's vocabulary to `run_dir/vocab/<field>.txt`.
pub fn save_vocabs(data: &Dataset, run_dir: &Path) -> Result<(), RunError> {
    if data.texts.is_empty() {
        return Ok(());
    }
    let dir = run_dir.join("vocab");
    std::fs::create_dir_all(&dir)?;
    for (name, t) in &data.texts {
        write_atomic(
            &dir.join(format!("{name}.txt")),
            t.vocab.to_text().as_bytes(),
        )?;
    }
    Ok(())
}

/// Reads the vocabulary of `field` saved by [`save_vocabs`].
pub fn load_vocab(run_dir: &Path, field: &str) -> Result<Vocab, RunError> {
    Vocab::load(&run_dir.join("vocab").join(format!("{field}.txt"))).map_err(RunError::Config)
}

/// Detokenized translations of the examples `indices`, with `opts`.
pub fn translate_split(
    net: &Network,
    data: &Dataset,
    indices: &[usize],
    plan: &TrainPlan,
    opts: &DecodeOptions,
) -> Result<Vec<String>, RunError> {
    let decoder = net
        .decoder_of(&plan.task.output)
        .map_err(|e| RunError::Config(e.to_string()))?;
    let text = data.texts.get(&plan.task.target).ok_or_else(|| {
        RunError::Config(format!(
            "the translation target `{}` is not a `text(...)` field",
            plan.task.target
        ))
    })?;
    let mut out = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(DECODE_BATCH) {
        let mut inputs = batch_inputs(net, data, chunk)?;
        inputs.remove(&plan.task.target);
        for h in net.translate(decoder, &inputs, opts)? {
            out.push(to_text(&text.vocab.decode(&h.tokens), &text.options));
        }
    }
    Ok(out)
}

/// The references of `indices`: the target field's lines, lower-cased when the field lower-cases.
pub fn references(data: &Dataset, plan: &TrainPlan, indices: &[usize]) -> Vec<Vec<String>> {
    let Some(text) = data.texts.get(&plan.task.target) else {
        return Vec::new();
    };
    indices
        .iter()
        .map(|i| {
            let line = text.lines.get(*i).cloned().unwrap_or_default();
            let line = if text.options.lowercase {
                line.to_lowercase()
            } else {
                line
            };
            if text.options.pieces {
                let pieces: Vec<&str> = line.split_whitespace().collect();
                return vec![merge_pieces(&pieces)];
            }
            vec![line]
        })
        .collect()
}

/// BLEU and chrF of the split decoded with each beam size in `beams` (1 = greedy, named `bleu`/`chrf`;
/// k > 1 named `bleu_beam{k}`/`chrf_beam{k}`).
pub fn metrics(
    net: &Network,
    data: &Dataset,
    indices: &[usize],
    plan: &TrainPlan,
    beams: &[usize],
) -> Result<Vec<(String, f64)>, RunError> {
    let refs = references(data, plan, indices);
    let mut out = Vec::new();
    for &beam in beams {
        out.extend(score_beam(net, data, indices, plan, &refs, beam)?.0);
    }
    Ok(out)
}

/// The final test report's translations: beam [`TEST_BEAM`] on the test split, its metrics (`bleu_beam5`,
/// `chrf_beam5`), and every (reference, translation) pair, detokenized, which `run_dir/translations_test.txt`
/// also receives (one translation per line, in test order).
pub fn test_translations(
    net: &Network,
    data: &Dataset,
    plan: &TrainPlan,
    run_dir: &Path,
) -> Result<(Scores, Vec<(String, String)>), RunError> {
    let refs = references(data, plan, &data.test);
    let (metrics, hyps) = score_beam(net, data, &data.test, plan, &refs, TEST_BEAM)?;
    let mut text = hyps.join("\n");
    text.push('\n');
    write_atomic(&run_dir.join("translations_test.txt"), text.as_bytes())?;
    let pairs = refs
        .into_iter()
        .map(|r| r.into_iter().next().unwrap_or_default())
        .zip(hyps)
        .collect();
    Ok((metrics, pairs))
}

/// Decodes `indices` with beam size `beam` and scores the translations against `refs`.
fn score_beam(
    net: &Network,
    data: &Dataset,
    indices: &[usize],
    plan: &TrainPlan,
    refs: &[Vec<String>],
    beam: usize,
) -> Result<(Scores, Vec<String>), RunError> {
    let opts = DecodeOptions {
        beam,
        ..DecodeOptions::default()
    };
    let hyps = translate_split(net, data, indices, plan, &opts)?;
    let bleu = corpus_bleu(&hyps, refs).map_err(RunError::Config)?;
    let chrf = corpus_chrf(&hyps, refs).map_err(RunError::Config)?;
    let sfx = if beam > 1 {
        format!("_beam{beam}")
    } else {
        String::new()
    };
    let metrics = vec![
        (format!("bleu{sfx}"), bleu.score),
        (format!("chrf{sfx}"), chrf),
    ];
    Ok((metrics, hyps))
}

/// Every `embedding` or `attention_decoder` that reads a data field directly must have room for the field's
/// vocabulary (a text field) and ids (any integer field): model sizes are compile-time numbers, vocabularies
/// come from the data.
pub fn check_vocab_sizes(net: &Network, data: &Dataset) -> Result<(), RunError> {
    let graph = &net.model.graph;
    for id in graph.node_ids() {
        let node = graph.node(id);
        // The ops whose size attribute `vocab` indexes a text operand: (vocab, operand).
        let (vocab, operand) = if let Op::Embedding(e) = &node.op {
            (&e.vocab, 0)
        } else if let Op::Decoder(d) = &node.op {
            (&d.vocab, 3)
        } else {
            continue;
        };
        let Some(v) = graph.operands(id).get(operand).copied() else {
            continue;
        };
        let Op::Input(input) = &graph.node(v.node).op else {
            continue;
        };
        let name = &input.name;
        let Some(room) = net.shapes.eval_fixed(vocab) else {
            continue;
        };
        if let Some(text) = data.texts.get(name) {
            if text.vocab.len() as i64 > room {
                return Err(RunError::Config(format!(
                    "the text field `{name}` has a vocabulary of {} tokens, but `{}` reading it has vocab = {room}; \
                     raise the model's vocab size or cap the field with `max_vocab = {room}`",
                    text.vocab.len(),
                    node.path
                )));
            }
        }
        // Ids read from a numeric file (a CSV or .npy of token ids) must index the table too.
        if let Some(crate::data::FieldValues::I64(ids)) = data.fields.get(name).map(|f| &f.values) {
            if let Some(bad) = ids.iter().find(|i| **i < 0 || **i >= room) {
                return Err(RunError::Config(format!(
                    "the field `{name}` holds the id {bad}, but `{}` reading it has vocab = {room} (ids 0..{}); \
                     raise the model's vocab size or check the field",
                    node.path,
                    room - 1
                )));
            }
        }
    }
    Ok(())
}
