//! Checkpoints: `checkpoints/{best,last}/` each hold `model.safetensors` (weights and buffers under their IR
//! names), `optimizer.safetensors` (every optimizer's moments, keyed `optimizer/tensor`) and `state.json` (epoch,
//! generator positions, schedulers, selection state, history). A checkpoint directory is replaced as a whole:
//! written beside, then renamed, so a kill at any moment leaves either the old or the new one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::report::EpochRow;
use super::tensor_files::{load_params, save_params, save_tensors};
use super::{write_atomic, RunError};
use crate::backend::Network;
use crate::rng::RngState;
use crate::train::{Optimizer, Scheduler};

/// Everything besides tensors that a resumed run needs to continue exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs completed.
    pub epoch: usize,
    pub global_step: u64,
    pub rng_shuffle: RngState,
    pub rng_train: RngState,
    pub schedulers: Vec<Scheduler>,
    pub optimizer_steps: BTreeMap<String, u64>,
    pub best_epoch: Option<usize>,
    pub best_value: Option<f64>,
    pub bad_epochs: usize,
    pub history: Vec<EpochRow>,
    pub train_seconds: f64,
}

pub struct Checkpoint;

impl Checkpoint {
    pub fn dir(run_dir: &Path, which: &str) -> PathBuf {
        run_dir.join("checkpoints").join(which)
    }

    pub fn save(
        run_dir: &Path,
        which: &str,
        net: &Network,
        optimizers: &[(String, Optimizer)],
        state: &TrainState,
    ) -> Result<(), RunError> {
        let target = Checkpoint::dir(run_dir, which);
        let parent = target
            .parent()
            .ok_or_else(|| RunError::Io("checkpoint path has no parent".into()))?;
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!("{which}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        save_params(&net.params, &tmp.join("model.safetensors"))?;
        let mut opt_tensors: HashMap<String, Tensor> = HashMap::new();
        for (name, opt) in optimizers {
            let (_, tensors) = opt.state()?;
            for (k, t) in tensors {
                opt_tensors.insert(format!("{name}/{k}"), t);
            }
        }
        if !opt_tensors.is_empty() {
            save_tensors(&opt_tensors, &tmp.join("optimizer.safetensors"))?;
        }
        let json = serde_json::to_vec_pretty(state).map_err(|e| RunError::Io(e.to_string()))?;
        write_atomic(&tmp.join("state.json"), &json)?;
        let old = parent.join(format!("{which}.old"));
        if target.exists() {
            if old.exists() {
                std::fs::remove_dir_all(&old)?;
            }
            std::fs::rename(&target, &old)?;
        }
        std::fs::rename(&tmp, &target)?;
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(())
    }

    /// The checkpoint directory to resume from: `which`, or the `.old` copy a kill during replacement left.
    pub fn find(run_dir: &Path, which: &str) -> Option<PathBuf> {
        let dir = Checkpoint::dir(run_dir, which);
        if dir.join("state.json").exists() {
            return Some(dir);
        }
        let old = dir.with_file_name(format!("{which}.old"));
        old.join("state.json").exists().then_some(old)
    }

    /// Builds `model`'s network and loads the weights of a run directory's `best` checkpoint (`last` with
    /// `last = true`): what `eval`, `predict` and `translate` start from. The initialisation is overwritten, so
    /// any generator will do.
    pub fn restore_network(
        run_dir: &Path,
        last: bool,
        model: &crate::ir::Model,
        shapes: &crate::check::Shapes,
        device: &candle_core::Device,
    ) -> Result<Network, RunError> {
        let net = Network::build(model, shapes, device, &mut crate::rng::SeededRng::new(0))?;
        let which = if last { "last" } else { "best" };
        let dir = Checkpoint::find(run_dir, which).ok_or_else(|| {
            RunError::Io(format!(
                "{} has no `checkpoints/{which}`; is it a run directory of `fusec run`?",
                run_dir.display()
            ))
        })?;
        Checkpoint::load(&dir, &net, None)?;
        Ok(net)
    }

    /// Loads weights into `net` (and optimizer moments, when `optimizers` is given) and returns the state.
    pub fn load(
        dir: &Path,
        net: &Network,
        optimizers: Option<&mut [(String, Optimizer)]>,
    ) -> Result<TrainState, RunError> {
        load_params(&net.params, &dir.join("model.safetensors"), &net.device)
            .map_err(RunError::Io)?;
        let text = std::fs::read_to_string(dir.join("state.json"))
            .map_err(|e| RunError::Io(format!("{}: {e}", dir.display())))?;
        let state: TrainState = serde_json::from_str(&text)
            .map_err(|e| RunError::Io(format!("{}/state.json: {e}", dir.display())))?;
        if let Some(optimizers) = optimizers {
            let path = dir.join("optimizer.safetensors");
            let all = if path.exists() {
                candle_core::safetensors::load(&path, &net.device)?
            } else {
                HashMap::new()
            };
            for (name, opt) in optimizers.iter_mut() {
                let prefix = format!("{name}/");
                let mine: HashMap<String, Tensor> = all
                    .iter()
                    .filter_map(|(k, t)| {
                        k.strip_prefix(&prefix).map(|s| (s.to_string(), t.clone()))
                    })
                    .collect();
                let steps = state.optimizer_steps.get(name).copied().unwrap_or(0);
                opt.load_state(steps, &mine)?;
            }
        }
        Ok(state)
    }
}
