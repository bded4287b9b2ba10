//! The memory budget of a command (`--max-memory`, by default the machine's memory, held by
//! [`crate::guarded_read::max_memory`]): the estimates of `summary::memory` checked before anything is
//! allocated.

use std::collections::HashMap;

use crate::diag::Diagnostics;
use crate::front::Compiled;
use crate::guarded_read::max_memory;
use crate::summary::memory::{inference_memory, memory_error, training_memory};

/// Refuses a compiled program whose training (the plan's model at the plan's batch size) or, without a plan,
/// whose models at one example need more than the budget; the diagnostics name the largest consumers.
pub fn check_memory(compiled: &Compiled) -> Result<(), Diagnostics> {
    let limit = max_memory();
    let program = &compiled.program;
    let env = HashMap::new();
    let mut diags = Diagnostics::default();
    for (model, shapes) in program.models.iter().zip(&compiled.shapes) {
        let found = match &program.train {
            Some(plan) if plan.model == model.name => memory_error(
                &training_memory(model, shapes, plan, &env),
                limit,
                &format!("training `{}`", model.name),
            ),
            _ => memory_error(
                &inference_memory(model, shapes, 1, &env),
                limit,
                &format!("the model `{}`", model.name),
            ),
        };
        if let Some(d) = found {
            diags.push(d);
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(diags)
    }
}
