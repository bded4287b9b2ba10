//! The train plan's checks that need shapes: the task's output and target against the task kind, and every
//! model input against the data field it binds to. Name errors (unknown model, output, loss) belong to lowering.

use super::Shapes;
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::ir::{DimExpr, Dtype, Program, TaskKind, TensorType, TrainPlan};

pub fn check_plan(program: &Program, shapes: &[Shapes], diags: &mut Diagnostics) {
    let Some(plan) = &program.train else { return };
    let Some(i) = program.models.iter().position(|m| m.name == plan.model) else {
        return;
    };
    check_task(program, plan, i, &shapes[i], diags);
    check_fields(program, plan, i, diags);
}

fn check_task(
    program: &Program,
    plan: &TrainPlan,
    i: usize,
    shapes: &Shapes,
    diags: &mut Diagnostics,
) {
    let model = &program.models[i];
    let Some(out) = model
        .output_value(&plan.task.output)
        .and_then(|v| shapes.ty(v))
    else {
        return;
    };
    let target = model
        .inputs
        .iter()
        .find(|m| m.name == plan.task.target)
        .and_then(|m| shapes.ty(crate::ir::Value::new(m.node, 0)));
    let Some(target) = target else { return };
    let (ok, want) = task_fits(&plan.task.kind, out, target);
    if !ok {
        let d = Diagnostic::error(
            "fusec::shape::task",
            format!(
                "the task `{}` cannot compare the output {out} with the target {target}",
                task_name(&plan.task.kind)
            ),
        )
        .label(
            plan.task.span,
            format!(
                "output `{}` is {out}, target `{}` is {target}",
                plan.task.output, plan.task.target
            ),
        )
        .help(want);
        diags.push(d);
    }
}

fn task_name(kind: &TaskKind) -> &'static str {
    match kind {
        TaskKind::Classification => "classification",
        TaskKind::BinaryPerLabel => "binary_per_label",
        TaskKind::Regression => "regression",
        TaskKind::Translation => "translation",
    }
}

/// Whether an output and a target fit a task kind, and what the kind wants.
fn task_fits(kind: &TaskKind, out: &TensorType, target: &TensorType) -> (bool, String) {
    let int = matches!(target.dtype, Dtype::I64 | Dtype::U32);
    let batch_same = out.dims.first() == target.dims.first();
    match kind {
        TaskKind::Classification => {
            let ok =
                out.dtype.is_float() && out.rank() == 2 && int && target.rank() == 1 && batch_same;
            (
                ok,
                "classification compares logits [B, C] with integer labels i64[B]".into(),
            )
        }
        TaskKind::BinaryPerLabel => {
            let k = target.dims.get(1);
            let three = out.rank() == 3
                && out.dims.get(1) == k
                && out.dims.get(2).and_then(|d| d.fixed()) == Some(2);
            let flat = out.rank() == 2
                && matches!((out.dims[1].fixed(), k.and_then(|d| d.fixed())), (Some(w), Some(k)) if w == 2 * k);
            let ok =
                out.dtype.is_float() && int && target.rank() == 2 && batch_same && (three || flat);
            (
                ok,
                "binary_per_label compares logits [B, K, 2] (or [B, 2K]) with labels i64[B, K]"
                    .into(),
            )
        }
        TaskKind::Translation => {
            let ok = out.dtype.is_float()
                && out.rank() == 3
                && int
                && target.rank() == 2
                && batch_same
                && out.dims.get(1) == target.dims.get(1);
            (
                ok,
                "translation compares decoder logits [B, T, V] (an `attention_decoder` output) with target token ids i64[B, T]".into(),
            )
        }
        TaskKind::Regression => {
            let vec_like =
                |t: &TensorType| t.rank() == 1 || (t.rank() == 2 && t.dims[1].fixed() == Some(1));
            let ok = out.dtype.is_float()
                && target.dtype.is_float()
                && vec_like(out)
                && vec_like(target)
                && batch_same;
            (ok, "regression compares predictions [B] or [B, 1] with float targets of the same shape".into())
        }
    }
}

/// Every model input binds to the data field of the same name: same dtype and the same dims after the example axis.
fn check_fields(program: &Program, plan: &TrainPlan, i: usize, diags: &mut Diagnostics) {
    let Some(data) = program.data_spec(&plan.data) else {
        return;
    };
    for input in &program.models[i].inputs {
        let Some(field) = data.fields.iter().find(|f| f.name == input.name) else {
            let mut d = Diagnostic::error(
                "fusec::shape::field",
                format!(
                    "the model input `{}` has no field in data `{}`",
                    input.name, data.name
                ),
            )
            .label(
                input.span,
                "this input is bound to a data field of the same name",
            )
            .label(data.span, format!("data `{}` declared here", data.name));
            if let Some(s) = did_you_mean(&input.name, data.fields.iter().map(|f| f.name.as_str()))
            {
                d = d.help(format!("did you mean `{s}`?"));
            } else {
                d = d.help(format!(
                    "add `field {}: ...` to data `{}`",
                    input.name, data.name
                ));
            }
            diags.push(d);
            continue;
        };
        let dims_clash =
            input.dims.len() != field.dims.len() + 1
                || input.dims.iter().skip(1).zip(&field.dims).any(
                    |(a, b)| matches!((a, b), (DimExpr::Const(x), DimExpr::Const(y)) if x != y),
                );
        if field.dtype != input.dtype || dims_clash {
            let show = |dims: &[DimExpr]| {
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let d = Diagnostic::error(
                "fusec::shape::field",
                format!(
                    "the model input `{}` is {}[{}] but the field gives {}[{}] per example",
                    input.name,
                    input.dtype,
                    show(&input.dims),
                    field.dtype,
                    show(&field.dims)
                ),
            )
            .label(input.span, "the input")
            .label(field.span, "the field")
            .help("a field's dims exclude the example axis: `field x: f32[76]` feeds `input x: f32[B, 76]`");
            diags.push(d);
        }
    }
}
