//! `train { ... }` -> `ir::TrainPlan`: model and data references, task, optimizers, steps with weighted loss
//! terms, and the scalar settings, with defaults and `--set` overrides (`epochs=5`, `optimizer.main.lr=3e-4`).

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{DataSpec, LossTerm, Model, OptimizerKind, TaskKind, TaskSpec, TrainPlan};
use crate::source::Span;
use crate::syntax::ast::{BinOp, Expr, ExprKind, SectionKind, TrainDecl, TrainEntry};

use super::modules::Module;
use super::overrides::Overrides;
use super::sections::{Section, SectionDecl, Visible};
use super::statics::{self, static_call};
use super::suggest;

const KEYS: &[&str] = &[
    "model",
    "data",
    "task",
    "batch_size",
    "epochs",
    "seed",
    "clip_norm",
    "schedule",
    "patience",
    "select",
    "metrics",
    "robustness",
    "precision",
];

const TASKS: &[(&str, &[&str])] = &[
    ("classification", &["output", "target"]),
    ("binary_per_label", &["output", "target"]),
    ("regression", &["output", "target"]),
    ("translation", &["output", "target"]),
];

const OPTIMIZERS: &[(&str, &[&str])] = &[
    ("adam", &["lr", "betas", "eps", "weight_decay", "params"]),
    ("adamw", &["lr", "betas", "eps", "weight_decay", "params"]),
    ("sgd", &["lr", "momentum", "weight_decay", "params"]),
];

const SCHEDULES: &[(&str, &[&str])] = &[
    ("constant", &[]),
    ("step", &["every", "gamma"]),
    ("cosine", &["min_lr"]),
    ("plateau", &["factor", "patience"]),
];

pub fn lower_train(
    root: &Module,
    models: &[Model],
    failed: &[String],
    data: &[DataSpec],
    ov: &mut Overrides,
    diags: &mut Diagnostics,
) -> Option<TrainPlan> {
    let chosen = pick_plan(root, diags)?;
    let decl = chosen.train()?;
    let data_names: Vec<String> = root
        .sections
        .iter()
        .filter(|v| v.section.kind == SectionKind::Data)
        .filter_map(|v| v.section.name.clone())
        .collect();
    let before = diags.iter().filter(|d| d.is_error()).count();
    let mut t = Lowering {
        ov,
        diags,
        settings: Vec::new(),
    };
    t.collect_settings(&decl);
    // A file without models (a library of blocks and sections) has no plan to run: its train sections are
    // lowered in the files that import them, and only their keys are checked here.
    if models.is_empty() && failed.is_empty() {
        return None;
    }
    let plan = t.plan(&decl, models, failed, data, &data_names);
    let after = t.diags.iter().filter(|d| d.is_error()).count();
    plan.filter(|_| after == before)
}

/// The file's train plan: its own `train` section (extending the imported one of its name, if any), or else
/// the one train section it imports. Two plans are an error: a second own one, an own one beside an imported
/// one it does not extend, or two imported ones.
fn pick_plan(root: &Module, diags: &mut Diagnostics) -> Option<std::rc::Rc<Section>> {
    let trains = || {
        root.sections
            .iter()
            .filter(|v| v.section.kind == SectionKind::Train)
    };
    let own: Vec<&Visible> = trains().filter(|v| v.imported_at.is_none()).collect();
    let imported: Vec<(&Section, Span)> = trains()
        .filter_map(|v| v.imported_at.map(|at| (&*v.section, at)))
        .collect();
    let Some(first) = own.first() else {
        let (plan, at) = *imported.first()?;
        for (other, other_at) in &imported[1..] {
            let name = other.name.clone().unwrap_or_default();
            diags.push(
                Diagnostic::error(
                    "fusec::section::conflict",
                    format!(
                        "this file imports two train plans, `{}` and `{name}`",
                        plan.name.clone().unwrap_or_default()
                    ),
                )
                .label(*other_at, "second plan imported here")
                .label(at, "first plan imported here")
                .help(format!(
                    "a file runs one plan: import only the data of the other, `{{data {name}}}`"
                )),
            );
        }
        return trains()
            .find(|v| v.imported_at.is_some())
            .map(|v| v.section.clone());
    };
    let first_span = own_span(&first.section);
    for extra in &own[1..] {
        diags.push(
            Diagnostic::error(
                "fusec::train::duplicate",
                "a file has at most one `train` plan",
            )
            .label(own_span(&extra.section), "second plan")
            .label(first_span, "first plan")
            .help("keep one `train { }` and use `--set` for variants"),
        );
    }
    // A named plan that extends nothing beside an imported plan was reported as misspelt while loading.
    if let Some((other, at)) = imported.first() {
        let name = other.name.clone().unwrap_or_default();
        diags.push(
            Diagnostic::error(
                "fusec::section::conflict",
                format!("this file has its own train plan and imports the plan `{name}`"),
            )
            .label(first_span, "this file's plan")
            .label(*at, "imported plan")
            .help(format!(
                "a file runs one plan: extend the imported one with `train {name} {{ ... }}`, or import only its data: `{{data {name}}}`"
            )),
        );
    }
    Some(first.section.clone())
}

/// The span labels about a whole plan point at: its `train` keyword, in the file that declares its outermost layer.
fn own_span(section: &Section) -> Span {
    match section.layers.last().map(|l| &l.decl) {
        Some(SectionDecl::Train(t)) => keyword_span(t.span),
        _ => Span::default(),
    }
}

struct Lowering<'a> {
    ov: &'a mut Overrides,
    diags: &'a mut Diagnostics,
    settings: Vec<(String, &'a Expr, Span)>,
}

impl<'a> Lowering<'a> {
    fn collect_settings(&mut self, decl: &'a TrainDecl) {
        for e in &decl.entries {
            let TrainEntry::Setting(s) = e else { continue };
            if !KEYS.contains(&s.key.name.as_str()) {
                let d = Diagnostic::error(
                    "fusec::train::unknown_key",
                    format!("`train` has no setting `{}`", s.key.name),
                )
                .label(s.key.span, "unknown setting");
                let mut keys: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
                keys.extend(["optimizer", "step", "minimize"].map(String::from));
                self.diags.push(suggest(d, &s.key.name, &keys, "settings"));
                continue;
            }
            if let Some((_, _, first)) = self.settings.iter().find(|(k, _, _)| *k == s.key.name) {
                self.diags.push(
                    Diagnostic::error(
                        "fusec::train::duplicate",
                        format!("`{}` is set twice", s.key.name),
                    )
                    .label(s.key.span, "set again here")
                    .label(*first, "first set here")
                    .help("set each key once"),
                );
                continue;
            }
            self.settings
                .push((s.key.name.clone(), &s.value, s.key.span));
        }
    }

    fn get(&self, key: &str) -> Option<&'a Expr> {
        self.settings
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, e, _)| *e)
    }

    fn plan(
        &mut self,
        decl: &'a TrainDecl,
        models: &[Model],
        failed: &[String],
        data: &[DataSpec],
        data_names: &[String],
    ) -> Option<TrainPlan> {
        let model_names: Vec<String> = models
            .iter()
            .map(|m| m.name.clone())
            .chain(failed.iter().cloned())
            .collect();
        let keyword = keyword_span(decl.span);
        let model_name = self.reference("model", keyword, &model_names, "models")?;
        let data_name = self.reference("data", keyword, data_names, "data sets");
        let model = models.iter().find(|m| m.name == model_name);
        let task = self.task(keyword, model);
        let optimizers = self.optimizers(decl);
        let steps = self.steps(decl, model, &optimizers);
        let (batch_size, epochs, seed) = (
            self.count("batch_size", 32, 1),
            self.count("epochs", 10, 1),
            self.count("seed", 0, 0),
        );
        let clip_norm = self.opt_float("clip_norm");
        let patience = self.opt_count("patience");
        let schedule = self.schedule();
        let task = task?;
        let select = self.select(&task.kind);
        let metrics = self.metrics(&task.kind);
        let robustness = self.robustness(model);
        let precision = self.precision();
        let data_name = data_name?;
        if !data.iter().any(|d| d.name == data_name) {
            return None;
        }
        let optimizers = optimizers.map(|o| default_optimizers(o, steps.as_deref().unwrap_or(&[])));
        Some(TrainPlan {
            model: model_name,
            data: data_name,
            task,
            optimizers: optimizers?,
            steps: steps?,
            batch_size: batch_size? as usize,
            epochs: epochs? as usize,
            seed: seed? as u64,
            clip_norm: clip_norm?,
            schedule: schedule?,
            patience: patience?.map(|p| p as usize),
            select: select?,
            metrics: metrics?,
            robustness: robustness?,
            precision: precision?,
            span: decl.span,
        })
    }

    /// `model = NAME` / `data = NAME`, defaulting to the only candidate.
    fn reference(&mut self, key: &str, at: Span, names: &[String], what: &str) -> Option<String> {
        let Some(e) = self.get(key) else {
            if names.len() == 1 {
                return Some(names[0].clone());
            }
            let d = Diagnostic::error(
                "fusec::train::missing",
                format!("the train plan does not say which {key} to use"),
            )
            .label(at, format!("`{key} = ...` missing"));
            self.diags.push(suggest(d, "", names, what));
            return None;
        };
        let n = statics::name(e, self.diags)?;
        if names.contains(&n) {
            return Some(n);
        }
        let d = Diagnostic::error(
            if key == "model" {
                "fusec::train::model"
            } else {
                "fusec::train::data"
            },
            format!("no {key} named `{n}`"),
        )
        .label(e.span, "unknown");
        self.diags.push(suggest(d, &n, names, what));
        None
    }

    fn task(&mut self, at: Span, model: Option<&Model>) -> Option<TaskSpec> {
        let Some(e) = self.get("task") else {
            self.diags.push(Diagnostic::error("fusec::train::missing", "the train plan has no `task`").label(at, "`task = ...` missing").help("write `task = classification(logits, label)`: the output and the target metrics compare"));
            return None;
        };
        let call = static_call(
            e,
            TASKS,
            "a task: classification, binary_per_label, regression or translation",
            self.diags,
        )?;
        let kind = match call.name.as_str() {
            "classification" => TaskKind::Classification,
            "binary_per_label" => TaskKind::BinaryPerLabel,
            "translation" => TaskKind::Translation,
            _ => TaskKind::Regression,
        };
        let (Some(o), Some(t)) = (call.arg(0), call.arg(1)) else {
            self.diags.push(
                Diagnostic::error(
                    "fusec::param::missing",
                    format!("`{}` needs an output and a target", call.name),
                )
                .label(e.span, "incomplete")
                .help(format!("write `{}(logits, label)`", call.name)),
            );
            return None;
        };
        let (output, target) = (statics::name(o, self.diags)?, statics::name(t, self.diags)?);
        if let Some(m) = model {
            let outs: Vec<String> = m.outputs.iter().map(|x| x.name.clone()).collect();
            let ins: Vec<String> = m.inputs.iter().map(|x| x.name.clone()).collect();
            if !outs.contains(&output) {
                let d = Diagnostic::error(
                    "fusec::train::task",
                    format!("`{output}` is not an output of model `{}`", m.name),
                )
                .label(o.span, "not an output");
                self.diags.push(suggest(d, &output, &outs, "outputs"));
            }
            if !ins.contains(&target) {
                let d = Diagnostic::error(
                    "fusec::train::task",
                    format!("`{target}` is not an input of model `{}`", m.name),
                )
                .label(t.span, "not an input");
                self.diags.push(suggest(d, &target, &ins, "inputs"));
            }
        }
        Some(TaskSpec {
            kind,
            output,
            target,
            span: e.span,
        })
    }
}

/// Without any `optimizer`, each step gets Adam at 1e-3 under the name it uses.
fn default_optimizers(
    declared: Vec<crate::ir::OptimizerSpec>,
    steps: &[crate::ir::StepSpec],
) -> Vec<crate::ir::OptimizerSpec> {
    if !declared.is_empty() {
        return declared;
    }
    let mut out: Vec<crate::ir::OptimizerSpec> = Vec::new();
    for s in steps {
        if !out.iter().any(|o| o.name == s.optimizer) {
            let kind = optimizer_kind("adam", 1e-3, (0.9, 0.999), 1e-8, None, 0.0);
            out.push(crate::ir::OptimizerSpec {
                name: s.optimizer.clone(),
                kind,
                params: Vec::new(),
                span: s.span,
            });
        }
    }
    out
}

#[path = "train_parts.rs"]
mod parts;

/// The `train` keyword of a plan's span: labels about the whole plan point there, not at every line of it.
pub(super) fn keyword_span(plan: Span) -> Span {
    Span {
        end: plan.start.saturating_add(5).min(plan.end),
        ..plan
    }
}

#[path = "train_robustness.rs"]
mod robustness;

#[path = "train_precision.rs"]
mod precision;

/// `a.b.c` written as nested field accesses, as one dotted name.
fn dotted(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Name(n) => Some(n.clone()),
        ExprKind::Field(base, f) => Some(format!("{}.{}", dotted(base)?, f.name)),
        _ => None,
    }
}

/// Terms of a weighted sum of names: `task + 0.5 * recon + fusion.g_loss`.
fn terms(e: &Expr, out: &mut Vec<LossTerm>) -> bool {
    match &e.kind {
        ExprKind::Binary(BinOp::Add, a, b) => terms(a, out) && terms(b, out),
        ExprKind::Binary(BinOp::Mul, a, b) => {
            let (w, n) = match (number(a), number(b)) {
                (Some(w), None) => (w, b),
                (None, Some(w)) => (w, a),
                _ => return false,
            };
            match dotted(n) {
                Some(name) => {
                    out.push(LossTerm {
                        weight: w,
                        name,
                        span: n.span,
                    });
                    true
                }
                None => false,
            }
        }
        _ => match dotted(e) {
            Some(name) => {
                out.push(LossTerm {
                    weight: 1.0,
                    name,
                    span: e.span,
                });
                true
            }
            None => false,
        },
    }
}

fn number(e: &Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Int(n) => Some(*n as f64),
        ExprKind::Float(x) => Some(*x),
        _ => None,
    }
}

fn optimizer_kind(
    name: &str,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    wd: Option<f64>,
    momentum: f64,
) -> OptimizerKind {
    match name {
        "adamw" => OptimizerKind::AdamW {
            lr,
            beta1: betas.0,
            beta2: betas.1,
            eps,
            weight_decay: wd.unwrap_or(0.01),
        },
        "sgd" => OptimizerKind::Sgd {
            lr,
            momentum,
            weight_decay: wd.unwrap_or(0.0),
        },
        _ => OptimizerKind::Adam {
            lr,
            beta1: betas.0,
            beta2: betas.1,
            eps,
            weight_decay: wd.unwrap_or(0.0),
        },
    }
}
