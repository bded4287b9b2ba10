//! `robustness = [drop(text, "zero"), drop(audio, "mean"), noise(vision, [0.1, 0.5, 1.0])]` in a train plan ->
//! `ir::RobustnessCase`s: which float inputs `fusec eval --robustness` removes or corrupts, and how.

use crate::diag::Diagnostic;
use crate::ir::{Model, Perturbation, RobustnessCase};
use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind};

use super::super::statics::{self, static_call};
use super::super::suggest;
use super::Lowering;

const CASES: &[(&str, &[&str])] = &[("drop", &["fields", "fill"]), ("noise", &["fields", "std"])];

impl Lowering<'_> {
    /// The plan's robustness cases in the order written (fields of one entry in the order listed).
    pub(super) fn robustness(&mut self, model: Option<&Model>) -> Option<Vec<RobustnessCase>> {
        let Some(e) = self.get("robustness") else {
            return Some(Vec::new());
        };
        let ExprKind::List(items) = &e.kind else {
            self.diags.push(
                Diagnostic::error(
                    "fusec::train::robustness",
                    "`robustness` is a list of cases",
                )
                .label(e.span, "not a list")
                .help("write `robustness = [drop(text, \"zero\"), noise(audio, [0.1, 0.5])]`"),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.robustness_entry(item, model) {
                Some(cases) => out.extend(cases),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn robustness_entry(&mut self, e: &Expr, model: Option<&Model>) -> Option<Vec<RobustnessCase>> {
        let what =
            "a robustness case: drop(FIELDS, \"zero\" | \"mean\") or noise(FIELDS, [STD, ...])";
        let call = static_call(e, CASES, what, self.diags)?;
        let Some(fields_expr) = call.arg(0) else {
            self.diags.push(
                Diagnostic::error(
                    "fusec::param::missing",
                    format!("`{}` needs the inputs to perturb", call.name),
                )
                .label(e.span, "which inputs?")
                .help(format!(
                    "write `{}(text, ...)` or `{}([text, audio], ...)`",
                    call.name, call.name
                )),
            );
            return None;
        };
        let fields = self.robust_fields(fields_expr, model)?;
        let perturbations = if call.name == "drop" {
            vec![self.fill(call.arg(1), e.span)?]
        } else {
            self.noise_levels(call.arg(1), e.span)?
        };
        Some(
            fields
                .iter()
                .flat_map(|(f, at)| {
                    perturbations.iter().map(|p| RobustnessCase {
                        field: f.clone(),
                        perturbation: *p,
                        span: *at,
                    })
                })
                .collect(),
        )
    }

    /// A name or a list of names, each a float input of the model.
    fn robust_fields(&mut self, e: &Expr, model: Option<&Model>) -> Option<Vec<(String, Span)>> {
        let fields = match &e.kind {
            ExprKind::List(_) => statics::names(e, self.diags)?,
            _ => vec![(statics::name(e, self.diags)?, e.span)],
        };
        let Some(m) = model else {
            return Some(fields);
        };
        let floats: Vec<String> = m
            .inputs
            .iter()
            .filter(|i| i.dtype.is_float())
            .map(|i| i.name.clone())
            .collect();
        let mut ok = true;
        for (f, at) in &fields {
            if !floats.contains(f) {
                let d = Diagnostic::error(
                    "fusec::train::robustness",
                    format!("`{f}` is not a float input of model `{}`", m.name),
                )
                .label(*at, "cannot be perturbed");
                self.diags.push(suggest(d, f, &floats, "float inputs"));
                ok = false;
            }
        }
        ok.then_some(fields)
    }

    fn fill(&mut self, e: Option<&Expr>, at: Span) -> Option<Perturbation> {
        let Some(e) = e else {
            return Some(Perturbation::Zero);
        };
        match statics::string(e, self.diags)?.as_str() {
            "zero" => Some(Perturbation::Zero),
            "mean" => Some(Perturbation::Mean),
            other => {
                self.diags.push(
                    Diagnostic::error("fusec::train::robustness", format!("`\"{other}\"` is not a way to drop an input"))
                        .label(e.span, "expected \"zero\" or \"mean\"")
                        .label(at, "in this case")
                        .help("\"zero\" replaces the input by 0, \"mean\" by its per-feature training mean"),
                );
                None
            }
        }
    }

    fn noise_levels(&mut self, e: Option<&Expr>, at: Span) -> Option<Vec<Perturbation>> {
        let Some(e) = e else {
            self.diags.push(
                Diagnostic::error("fusec::param::missing", "`noise` needs the noise levels")
                    .label(at, "how much noise?")
                    .help("write `noise(audio, [0.1, 0.5, 1.0])`: standard deviations on standardized inputs"),
            );
            return None;
        };
        let levels = match &e.kind {
            ExprKind::List(items) => items
                .iter()
                .map(|i| statics::float(i, self.diags).map(|v| (v, i.span)))
                .collect::<Option<Vec<_>>>()?,
            _ => vec![(statics::float(e, self.diags)?, e.span)],
        };
        if levels.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "fusec::train::robustness",
                    "`noise` needs at least one level",
                )
                .label(e.span, "empty list"),
            );
            return None;
        }
        let mut out = Vec::new();
        for (v, span) in levels {
            if !(v.is_finite() && v > 0.0) {
                self.diags.push(
                    Diagnostic::error(
                        "fusec::value::range",
                        format!("noise level {v} must be positive"),
                    )
                    .label(span, "not a positive standard deviation"),
                );
                return None;
            }
            out.push(Perturbation::Noise { std: v });
        }
        Some(out)
    }
}
