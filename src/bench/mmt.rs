//! The translation part of `fusec bench`: training tokens/s of a translation model file and decoding sentences/s
//! with greedy search (the baseline) and beam search, measured in this process on the file's own data.

use std::path::Path;
use std::time::Instant;

use crate::api::FsLoader;
use crate::backend::DecodeOptions;
use crate::front::compile;
use crate::run::{train, RunOptions};

/// Rates of one translation model.
#[derive(Clone, Debug)]
pub struct MmtRates {
    pub file: String,
    pub epochs: usize,
    /// Source and target tokens (padding excluded) of the training split per second of training.
    pub train_tokens_per_s: f64,
    pub train_pairs_per_s: f64,
    pub sentences: usize,
    pub greedy_per_s: f64,
    pub beam_per_s: f64,
    pub beam: usize,
}

/// Trains `file` for `epochs` epochs (into a temporary run directory), then decodes its validation and test
/// sentences greedily and with beam `beam`.
pub fn mmt_rates(file: &str, epochs: usize, beam: usize) -> Result<MmtRates, String> {
    let sets = [("epochs".to_string(), epochs.to_string())];
    let c = compile(&FsLoader, file, &sets, true)
        .map_err(|f| crate::diag::render(&f.diagnostics, &f.sources, false))?;
    let plan = c
        .program
        .train
        .clone()
        .ok_or("the file has no train plan")?;
    let index = c
        .program
        .models
        .iter()
        .position(|m| m.name == plan.model)
        .ok_or("the plan's model is missing")?;
    let spec = c
        .program
        .data_spec(&plan.data)
        .ok_or("the plan's data is missing")?;
    let data = crate::data::load(spec, Path::new("."))
        .map_err(|d| crate::diag::render(&d, &c.program.sources, false))?;
    let run_dir = std::env::temp_dir().join(format!("fusec-bench-mmt-{}", std::process::id()));
    let opts = RunOptions {
        run_dir: run_dir.clone(),
        resume: false,
        overwrite: true,
        device: candle_core::Device::Cpu,
        progress: false,
        stop_after: None,
        config: serde_json::json!({}),
        sources: Vec::new(),
    };
    let outcome = train(
        &c.program.models[index],
        &c.shapes[index],
        &plan,
        &data,
        &opts,
        &mut |_| {},
    )
    .map_err(|e| e.to_string())?;
    let seconds = outcome
        .report
        .as_ref()
        .map(|r| r.train_seconds)
        .unwrap_or(f64::NAN)
        .max(1e-9);
    let sentences: Vec<usize> = data.valid.iter().chain(&data.test).copied().collect();
    let decode = |beam: usize| -> Result<f64, String> {
        let d = DecodeOptions {
            beam,
            ..DecodeOptions::default()
        };
        let t = Instant::now();
        crate::run::translation::translate_split(&outcome.net, &data, &sentences, &plan, &d)
            .map_err(|e| e.to_string())?;
        Ok(sentences.len() as f64 / t.elapsed().as_secs_f64().max(1e-9))
    };
    let rates = MmtRates {
        file: file.to_string(),
        epochs,
        train_tokens_per_s: (data.text_tokens(&data.train) * epochs) as f64 / seconds,
        train_pairs_per_s: (data.train.len() * epochs) as f64 / seconds,
        sentences: sentences.len(),
        greedy_per_s: decode(1)?,
        beam_per_s: decode(beam)?,
        beam,
    };
    let _ = std::fs::remove_dir_all(&run_dir);
    Ok(rates)
}

pub fn format_mmt(r: &MmtRates) -> String {
    format!(
        "{} ({} epoch(s)): training {:.0} tokens/s ({:.0} sentence pairs/s); decoding {} sentences: greedy {:.0}/s, beam {} {:.0}/s (ratio {:.2})\n",
        r.file,
        r.epochs,
        r.train_tokens_per_s,
        r.train_pairs_per_s,
        r.sentences,
        r.greedy_per_s,
        r.beam,
        r.beam_per_s,
        r.beam_per_s / r.greedy_per_s
    )
}
