//! The parts of a train plan besides references and task: optimizers, steps, scalar settings with `--set`
//! overrides, the LR schedule, model selection and metrics.

use crate::diag::Diagnostic;
use crate::ir::{LossTerm, Model, OptimizerSpec, Schedule, Selection, StepSpec, TaskKind};
use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind, TrainDecl, TrainEntry};

use super::super::statics::{self, static_call};
use super::super::suggest;
use super::super::value::Val;
use super::{optimizer_kind, terms, Lowering, OPTIMIZERS, SCHEDULES};

impl Lowering<'_> {
    pub(super) fn optimizers(&mut self, decl: &TrainDecl) -> Option<Vec<OptimizerSpec>> {
        let mut out: Vec<OptimizerSpec> = Vec::new();
        let mut ok = true;
        for e in &decl.entries {
            let TrainEntry::Optimizer { name, value, .. } = e else {
                continue;
            };
            if out.iter().any(|o| o.name == name.name) {
                self.diags.push(
                    Diagnostic::error(
                        "fusec::train::duplicate",
                        format!("optimizer `{}` is declared twice", name.name),
                    )
                    .label(name.span, "declared again here")
                    .help("give each optimizer its own name"),
                );
                ok = false;
                continue;
            }
            match self.optimizer(&name.name, value) {
                Some(kind) => out.push(OptimizerSpec {
                    name: name.name.clone(),
                    kind: kind.0,
                    params: kind.1,
                    span: name.span,
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn optimizer(
        &mut self,
        name: &str,
        value: &Expr,
    ) -> Option<(crate::ir::OptimizerKind, Vec<String>)> {
        let call = static_call(
            value,
            OPTIMIZERS,
            "an optimizer: adam, adamw or sgd",
            self.diags,
        )?;
        let sgd = call.name == "sgd";
        let (lr_i, wd_i, params_i) = if sgd { (0, 2, 3) } else { (0, 3, 4) };
        let at = |i: usize| call.arg(i).map(|e| e.span).unwrap_or(value.span);
        let mut lr = match call.arg(lr_i) {
            Some(e) => (statics::float(e, self.diags)?, e.span),
            None if sgd => {
                self.diags.push(
                    Diagnostic::error("fusec::param::missing", "`sgd` needs a learning rate")
                        .label(value.span, "`lr` missing")
                        .help("write `sgd(lr = 0.01)`"),
                );
                return None;
            }
            None => (1e-3, value.span),
        };
        let mut wd = match call.arg(wd_i) {
            Some(e) => Some((statics::float(e, self.diags)?, e.span)),
            None => None,
        };
        let mut betas = ((0.9, 0.999), at(1));
        let (mut eps, mut momentum) = ((1e-8, at(2)), (0.0, at(1)));
        if sgd {
            if let Some(m) = call.arg(1) {
                momentum = (statics::float(m, self.diags)?, m.span);
            }
        } else {
            if let Some(b) = call.arg(1) {
                betas = (self.betas(b)?, b.span);
            }
            if let Some(e) = call.arg(2) {
                eps = (statics::float(e, self.diags)?, e.span);
            }
        }
        let key = |k: &str| format!("optimizer.{name}.{k}");
        lr = self.float_override_at(&key("lr")).unwrap_or(lr);
        wd = self.float_override_at(&key("weight_decay")).or(wd);
        if sgd {
            momentum = self.float_override_at(&key("momentum")).unwrap_or(momentum);
        } else {
            eps = self.float_override_at(&key("eps")).unwrap_or(eps);
        }
        let positive = |x: f64| x > 0.0 && x.is_finite();
        let fraction = |x: f64| (0.0..1.0).contains(&x);
        let ok = [
            self.valid(
                &key("lr"),
                lr,
                positive,
                "a positive number",
                "typical rates are 1e-4 to 1e-2",
            ),
            wd.is_none_or(|w| {
                self.valid(
                    &key("weight_decay"),
                    w,
                    |x| x >= 0.0 && x.is_finite(),
                    "zero or positive",
                    "typical values are 0 to 0.1",
                )
            }),
            sgd || self.valid(
                &key("eps"),
                eps,
                positive,
                "a positive number",
                "the default is 1e-8",
            ),
            !sgd || self.valid(
                &key("momentum"),
                momentum,
                fraction,
                "in [0, 1)",
                "typical momentum is 0.9",
            ),
            sgd || self.valid(
                &key("betas"),
                (betas.0 .0, betas.1),
                fraction,
                "in [0, 1)",
                "the default is `betas = [0.9, 0.999]`",
            ),
            sgd || self.valid(
                &key("betas"),
                (betas.0 .1, betas.1),
                fraction,
                "in [0, 1)",
                "the default is `betas = [0.9, 0.999]`",
            ),
        ];
        if ok.contains(&false) {
            return None;
        }
        let (lr, wd, betas, eps, momentum) = (lr.0, wd.map(|w| w.0), betas.0, eps.0, momentum.0);
        let params = match call.arg(params_i) {
            Some(e) => self.strings(e)?,
            None => Vec::new(),
        };
        Some((
            optimizer_kind(&call.name, lr, betas, eps, wd, momentum),
            params,
        ))
    }

    fn betas(&mut self, e: &Expr) -> Option<(f64, f64)> {
        if let ExprKind::List(items) = &e.kind {
            if let [a, b] = items.as_slice() {
                return Some((
                    statics::float(a, self.diags)?,
                    statics::float(b, self.diags)?,
                ));
            }
        }
        self.diags.push(
            Diagnostic::error("fusec::value::type", "`betas` is a list of two numbers")
                .label(e.span, "not `[b1, b2]`")
                .help("write `betas = [0.9, 0.999]`"),
        );
        None
    }

    fn strings(&mut self, e: &Expr) -> Option<Vec<String>> {
        if let ExprKind::List(items) = &e.kind {
            return items
                .iter()
                .map(|i| statics::string(i, self.diags))
                .collect();
        }
        self.diags.push(
            Diagnostic::error("fusec::value::type", "`params` is a list of globs")
                .label(e.span, "not a list")
                .help("write `params = [\"fusion.d.*\"]`"),
        );
        None
    }

    pub(super) fn steps(
        &mut self,
        decl: &TrainDecl,
        model: Option<&Model>,
        optimizers: &Option<Vec<OptimizerSpec>>,
    ) -> Option<Vec<StepSpec>> {
        let losses: Option<Vec<String>> = model.map(|m| {
            let all = m.losses.iter().chain(&m.named_scalars);
            all.map(|l| l.name.clone()).collect()
        });
        let opt_names: Vec<String> = optimizers
            .iter()
            .flatten()
            .map(|o| o.name.clone())
            .collect();
        let mut out: Vec<StepSpec> = Vec::new();
        let mut ok = true;
        for e in &decl.entries {
            let TrainEntry::Step {
                name,
                objective,
                using,
                span,
            } = e
            else {
                continue;
            };
            let step_name = name
                .as_ref()
                .map(|n| n.name.clone())
                .unwrap_or_else(|| "main".into());
            if out.iter().any(|s| s.name == step_name) {
                let d = Diagnostic::error(
                    "fusec::train::duplicate",
                    format!("step `{step_name}` is declared twice"),
                )
                .label(*span, "declared again here")
                .help("give each step its own name");
                self.diags.push(d);
                ok = false;
                continue;
            }
            let terms = self.objective(objective, losses.as_deref());
            let opt = using
                .as_ref()
                .map(|u| (u.name.clone(), u.span))
                .unwrap_or((step_name.clone(), *span));
            ok &= terms.is_some() && self.optimizer_exists(&opt.0, opt.1, &opt_names);
            let terms = terms.unwrap_or_default();
            out.push(StepSpec {
                name: step_name,
                terms,
                optimizer: opt.0,
                span: *span,
            });
        }
        if out.is_empty() {
            self.diags.push(
                Diagnostic::error("fusec::train::missing", "the train plan minimizes nothing")
                    .label(super::keyword_span(decl.span), "no `step` or `minimize`")
                    .help("write `minimize task` or `step main minimize task + recon`"),
            );
            return None;
        }
        if ok {
            // After an unknown optimizer name, "never used" would only repeat the same mistake.
            self.check_optimizers_used(optimizers, &out);
        }
        ok.then_some(out)
    }

    /// The terms of one objective, each naming a loss (checked when the model lowered).
    fn objective(&mut self, objective: &Expr, losses: Option<&[String]>) -> Option<Vec<LossTerm>> {
        let mut ts: Vec<LossTerm> = Vec::new();
        if !terms(objective, &mut ts) {
            let d = Diagnostic::error(
                "fusec::train::objective",
                "an objective is a weighted sum of loss names",
            )
            .label(objective.span, "not a weighted sum")
            .help("write `task + 0.5 * recon + fusion.g_loss`");
            self.diags.push(d);
            return None;
        }
        let mut ok = true;
        for t in ts
            .iter()
            .filter(|t| losses.is_some_and(|l| !l.contains(&t.name)))
        {
            let d = Diagnostic::error("fusec::train::loss", format!("no loss named `{}`", t.name))
                .label(t.span, "not a loss of the model");
            let known = losses.unwrap_or_default().to_vec();
            self.diags.push(suggest(
                d,
                &t.name,
                &known,
                "losses and scalar block outputs",
            ));
            ok = false;
        }
        ok.then_some(ts)
    }

    /// Whether a step's optimizer is declared (always true when none is: each step then gets Adam).
    fn optimizer_exists(
        &mut self,
        name: &str,
        at: crate::source::Span,
        declared: &[String],
    ) -> bool {
        if declared.is_empty() || declared.iter().any(|d| d == name) {
            return true;
        }
        let d = Diagnostic::error(
            "fusec::train::optimizer",
            format!("no optimizer named `{name}`"),
        )
        .label(at, "unknown optimizer");
        self.diags.push(suggest(d, name, declared, "optimizers"));
        false
    }

    fn check_optimizers_used(
        &mut self,
        optimizers: &Option<Vec<OptimizerSpec>>,
        steps: &[StepSpec],
    ) {
        for o in optimizers.iter().flatten() {
            if !steps.iter().any(|s| s.optimizer == o.name) {
                self.diags.push(
                    Diagnostic::error(
                        "fusec::train::unused_optimizer",
                        format!("optimizer `{}` is never used", o.name),
                    )
                    .label(o.span, "no step uses it")
                    .help(format!(
                        "add `using {}` to a step, or remove the optimizer",
                        o.name
                    )),
                );
            }
        }
    }
}

impl Lowering<'_> {
    /// A `--set` number with the span of its value.
    pub(super) fn float_override_at(&mut self, key: &str) -> Option<(f64, Span)> {
        let (v, at) = self.ov.take(key, self.diags)?;
        let r = v.as_f64();
        if r.is_none() {
            self.diags.push(set_type(key, "a number", &v, at));
        }
        r.map(|x| (x, at))
    }

    /// Whether a setting's value (from the file or `--set`, with its span) satisfies `ok`; reports it if not.
    pub(super) fn valid(
        &mut self,
        key: &str,
        (x, at): (f64, Span),
        ok: impl Fn(f64) -> bool,
        rule: &str,
        help: &str,
    ) -> bool {
        if ok(x) {
            return true;
        }
        self.diags.push(
            Diagnostic::error(
                "fusec::train::value",
                format!("`{key}` = {x} must be {rule}"),
            )
            .label(at, format!("must be {rule}"))
            .help(help.to_string()),
        );
        false
    }

    fn int_override(&mut self, key: &str) -> Option<i64> {
        let (v, at) = self.ov.take(key, self.diags)?;
        match v {
            Val::Int(n) => Some(n),
            other => {
                self.diags.push(set_type(key, "an int", &other, at));
                None
            }
        }
    }

    /// An int setting of at least `min` (with `--set`), or its default. `None` after an error.
    pub(super) fn count(&mut self, key: &str, default: i64, min: i64) -> Option<i64> {
        let written = match self.get(key) {
            Some(e) => statics::int_at_least(e, min, self.diags)?,
            None => default,
        };
        let n = self.int_override(key).unwrap_or(written);
        if n < min {
            self.diags.push(
                Diagnostic::error(
                    "fusec::set::value",
                    format!("`{key}` must be at least {min}"),
                )
                .help(format!("pass `--set {key}=N` with N >= {min}")),
            );
            return None;
        }
        Some(n)
    }

    pub(super) fn opt_count(&mut self, key: &str) -> Option<Option<i64>> {
        let written = match self.get(key) {
            Some(e) => Some(statics::int_at_least(e, 1, self.diags)?),
            None => None,
        };
        Some(self.int_override(key).or(written))
    }

    /// An optional positive setting (`clip_norm = 50.0`); `none`, written or given with `--set`, turns it off.
    pub(super) fn opt_float(&mut self, key: &str) -> Option<Option<f64>> {
        let positive = |x: f64, span, origin: &str, diags: &mut crate::diag::Diagnostics| {
            if x > 0.0 && x.is_finite() {
                Some(x)
            } else {
                diags.push(
                    Diagnostic::error("fusec::train::value", format!("`{key}` must be positive"))
                        .label(span, format!("{origin} {x}, not a positive number"))
                        .help(format!(
                            "for example `{key} = 50.0`, or `{key} = none` to turn it off"
                        )),
                );
                None
            }
        };
        let written = match self.get(key) {
            Some(e) => match statics::value(e, self.diags)? {
                Val::None => None,
                Val::Str(s) if s == "none" => None,
                v => match v.as_f64() {
                    Some(x) => Some(positive(x, e.span, "written as", self.diags)?),
                    None => {
                        self.diags
                            .push(statics::type_error(e, "a number or none", &v));
                        return None;
                    }
                },
            },
            None => None,
        };
        let Some((v, at)) = self.ov.take(key, self.diags) else {
            return Some(written);
        };
        match v {
            Val::None => Some(None),
            Val::Str(s) if s == "none" => Some(None),
            v => match v.as_f64() {
                Some(x) => Some(Some(positive(x, at, "--set gives", self.diags)?)),
                None => {
                    self.diags.push(set_type(key, "a number or none", &v, at));
                    None
                }
            },
        }
    }

    pub(super) fn schedule(&mut self) -> Option<Schedule> {
        let Some(e) = self.get("schedule") else {
            return Some(Schedule::Constant);
        };
        let call = static_call(
            e,
            SCHEDULES,
            "a schedule: constant, step, cosine or plateau",
            self.diags,
        )?;
        let f = |i: usize, d: f64, diags: &mut crate::diag::Diagnostics| {
            call.arg(i)
                .map(|x| statics::float(x, diags))
                .unwrap_or(Some(d))
        };
        let span_of = |i: usize| call.arg(i).map(|x| x.span).unwrap_or(e.span);
        let schedule = match call.name.as_str() {
            "constant" => Schedule::Constant,
            "step" => {
                let Some(every) = call.arg(0) else {
                    self.diags.push(
                        Diagnostic::error("fusec::param::missing", "`step` needs `every`")
                            .label(e.span, "how many epochs?")
                            .help("write `step(every = 10, gamma = 0.5)`"),
                    );
                    return None;
                };
                Schedule::Step {
                    every: statics::int_at_least(every, 1, self.diags)? as usize,
                    gamma: f(1, 0.1, self.diags)?,
                }
            }
            "cosine" => Schedule::Cosine {
                min_lr: f(0, 0.0, self.diags)?,
            },
            _ => {
                let patience = match call.arg(1) {
                    Some(p) => statics::int_at_least(p, 1, self.diags)? as usize,
                    None => 5,
                };
                Schedule::Plateau {
                    factor: f(0, 0.1, self.diags)?,
                    patience,
                }
            }
        };
        let finite = |x: f64| x.is_finite();
        let ok = match &schedule {
            Schedule::Constant => true,
            Schedule::Step { gamma, .. } => self.valid(
                "schedule.gamma",
                (*gamma, span_of(1)),
                |x| finite(x) && x > 0.0,
                "a positive number",
                "the rate is multiplied by `gamma` every `every` epochs, e.g. `gamma = 0.5`",
            ),
            Schedule::Cosine { min_lr } => self.valid(
                "schedule.min_lr",
                (*min_lr, span_of(0)),
                |x| finite(x) && x >= 0.0,
                "zero or positive",
                "the rate falls to `min_lr`, e.g. `min_lr = 1e-5`",
            ),
            Schedule::Plateau { factor, .. } => self.valid(
                "schedule.factor",
                (*factor, span_of(0)),
                |x| finite(x) && x > 0.0 && x <= 1.0,
                "in (0, 1]",
                "the rate is multiplied by `factor` on a plateau, e.g. `factor = 0.5`",
            ),
        };
        ok.then_some(schedule)
    }

    /// `select = valid.accuracy`: maximised unless the metric is a loss or an error.
    pub(super) fn select(&mut self, task: &TaskKind) -> Option<Selection> {
        let Some(e) = self.get("select") else {
            return Some(Selection {
                split: "valid".into(),
                metric: "loss".into(),
                maximize: false,
            });
        };
        // `valid.accuracy`, or `valid.happy.acc` for a per-label metric.
        let parsed = super::dotted(e).and_then(|d| {
            d.split_once('.')
                .map(|(split, m)| (split.to_string(), m.to_string()))
        });
        let Some((split, metric)) = parsed else {
            self.diags.push(
                Diagnostic::error(
                    "fusec::train::select",
                    "`select` names a split and a metric",
                )
                .label(e.span, "not `split.metric`")
                .help("write `select = valid.accuracy` or `select = valid.loss`"),
            );
            return None;
        };
        let splits = ["train", "valid", "test"].map(String::from);
        if !splits.contains(&split) {
            let d = Diagnostic::error("fusec::train::select", format!("no split named `{split}`"))
                .label(e.span, "unknown split");
            self.diags.push(suggest(d, &split, &splits, "splits"));
            return None;
        }
        self.known_metric(&metric, e.span, task)?;
        let maximize = !(metric == "loss" || metric.ends_with("_loss") || metric == "mae");
        Some(Selection {
            split,
            metric,
            maximize,
        })
    }

    pub(super) fn metrics(&mut self, task: &TaskKind) -> Option<Vec<String>> {
        let Some(e) = self.get("metrics") else {
            // Empty means every metric of the task (per-label ones included), as `compute_metrics` has it.
            let d: &[&str] = match task {
                TaskKind::Classification => &["accuracy", "f1_macro"],
                TaskKind::BinaryPerLabel | TaskKind::Regression => &[],
                TaskKind::Translation => &["bleu", "chrf"],
            };
            return Some(d.iter().map(|s| s.to_string()).collect());
        };
        let list = dotted_names(e, self.diags)?;
        let mut out = Vec::new();
        for (m, at) in list {
            self.known_metric(&m, at, task)?;
            out.push(m);
        }
        Some(out)
    }

    /// A metric the task computes: `TaskKind::metric_names`, `loss`, and for binary-per-label tasks the
    /// per-label names `LABEL.METRIC` (`happy.acc`; the label must exist in the data, checked at run time).
    fn known_metric(&mut self, m: &str, at: crate::source::Span, task: &TaskKind) -> Option<()> {
        let valid = task.metric_names().to_vec();
        let per_label = matches!(task, TaskKind::BinaryPerLabel)
            && m.split_once('.')
                .is_some_and(|(l, s)| !l.is_empty() && valid.contains(&s));
        if m == "loss" || valid.contains(&m) || per_label {
            return Some(());
        }
        let d = Diagnostic::error("fusec::train::metric", format!("unknown metric `{m}`"))
            .label(at, format!("not a metric of a {} task", task_name(task)));
        let mut all: Vec<String> = valid.iter().map(|s| s.to_string()).collect();
        all.push("loss".into());
        self.diags.push(suggest(d, m, &all, "metrics"));
        None
    }
}

/// A list of metric names, bare (`acc`) or dotted (`happy.acc`).
fn dotted_names(
    e: &Expr,
    diags: &mut crate::diag::Diagnostics,
) -> Option<Vec<(String, crate::source::Span)>> {
    let ExprKind::List(items) = &e.kind else {
        return statics::names(e, diags);
    };
    let mut out = Vec::new();
    for i in items {
        match super::dotted(i) {
            Some(n) => out.push((n, i.span)),
            None => {
                diags.push(
                    Diagnostic::error("fusec::value::type", "expected a metric name")
                        .label(i.span, "not a name")
                        .help("write a bare name such as `acc`, or `happy.acc` for one label"),
                );
                return None;
            }
        }
    }
    Some(out)
}

fn task_name(task: &TaskKind) -> &'static str {
    match task {
        TaskKind::Classification => "classification",
        TaskKind::BinaryPerLabel => "binary_per_label",
        TaskKind::Regression => "regression",
        TaskKind::Translation => "translation",
    }
}

fn set_type(key: &str, expected: &str, v: &Val, at: crate::source::Span) -> Diagnostic {
    Diagnostic::error(
        "fusec::set::value",
        format!("`--set {key}` expects {expected}, found {}", v.kind()),
    )
    .label(at, "this value")
    .help(format!("pass {expected}"))
}
