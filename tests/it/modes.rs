//! Mode-specialized graphs (`passes::mode`): the text dumps of `fusec graph --mode` on the mfeat AutoFusion and
//! GAN-Fusion examples, what prediction leaves out, the summary's FLOPs per mode and at the data's lengths.

use fusec::api::{parse_mode, render_mode_graph, summary_text};
use fusec::passes::mode::{mode_graph, specialize, GraphMode};

use super::support::compile_file;

fn graph(path: &str, mode: &str) -> String {
    let c = compile_file(path, &[], false);
    let mode = parse_mode(mode).unwrap();
    render_mode_graph(&c, 0, &mode, false).unwrap()
}

#[test]
fn autofusion_graphs_per_mode() {
    for mode in ["predict", "eval", "train:1"] {
        let name = format!("mfeat_autofusion_{}", mode.replace(':', "_"));
        insta::assert_snapshot!(name, graph("examples/mfeat/autofusion.fuse", mode));
    }
}

#[test]
fn ganfusion_graphs_per_mode() {
    for mode in ["predict", "eval", "train:1", "train:main"] {
        let name = format!("mfeat_ganfusion_{}", mode.replace(':', "_"));
        insta::assert_snapshot!(name, graph("examples/mfeat/ganfusion.fuse", mode));
    }
}

#[test]
fn ganfusion_prediction_runs_no_discriminator_translator_loss_or_noise() {
    for path in [
        "examples/mfeat/ganfusion.fuse",
        "examples/iemocap/ganfusion.fuse",
    ] {
        let c = compile_file(path, &[], true);
        let (model, shapes) = (&c.program.models[0], &c.shapes[0]);
        let g = mode_graph(model, shapes, c.program.train.as_ref(), &GraphMode::Predict).unwrap();
        let m = specialize(model, &g);
        for id in m.graph.node_ids() {
            let node = m.graph.node(id);
            let op = node.op.name();
            assert!(
                ![
                    "noise",
                    "dropout",
                    "stop_gradient",
                    "mse",
                    "bce_with_logits",
                    "cross_entropy"
                ]
                .contains(&op),
                "{path}: {op} @ {}",
                node.path
            );
            // Discriminators (`fusion.d.*`, applied as `fusion.real.*` / `fusion.fake.*`) and the per-view
            // AutoFusion translators that make the discriminators' real codes (`fusion.af.*`).
            let owner = node.params.as_deref().unwrap_or("");
            for part in ["fusion.d.", "fusion.real.", "fusion.fake.", "fusion.af."] {
                assert!(
                    !node.path.starts_with(part) && !owner.starts_with(part),
                    "{path}: {op} @ {}",
                    node.path
                );
            }
        }
        assert!(m.losses.is_empty() && m.outputs.len() == model.outputs.len());
        // The training graph of the batch does run them.
        let t = mode_graph(
            model,
            shapes,
            c.program.train.as_ref(),
            &GraphMode::Train(None),
        )
        .unwrap();
        let discriminator = |n: &fusec::ir::NodeId| {
            let node = model.graph.node(*n);
            node.params
                .as_deref()
                .is_some_and(|o| o.starts_with("fusion.d."))
        };
        assert!(t.nodes.iter().any(discriminator), "{path}");
    }
}

/// The share of the training forward pass that prediction leaves out (the target is 30% on these two
/// models: GAN-Fusion meets it, AutoFusion's decoder is 29.4% of its forward pass).
fn prediction_saving(path: &str) -> (f64, String) {
    let c = compile_file(path, &[], false);
    let text = summary_text(&c, 0, None, &[]).unwrap();
    let modes = text[text.find("FLOPs per example by mode").unwrap()..].to_string();
    let line = modes
        .lines()
        .find(|l| l.starts_with("Prediction computes"))
        .unwrap_or_else(|| panic!("{text}"));
    let pct: f64 = line
        .trim_start_matches("Prediction computes ")
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (pct, modes)
}

#[test]
fn prediction_drops_training_flops_on_the_mfeat_fusion_models() {
    let (gan, gan_modes) = prediction_saving("examples/mfeat/ganfusion.fuse");
    assert!(gan >= 30.0, "{gan_modes}");
    insta::assert_snapshot!("mfeat_ganfusion_mode_flops", gan_modes);
    let (auto, auto_modes) = prediction_saving("examples/mfeat/autofusion.fuse");
    assert!(auto > 25.0, "{auto_modes}");
    insta::assert_snapshot!("mfeat_autofusion_mode_flops", auto_modes);
}

#[test]
fn summary_flops_are_at_the_lengths_the_data_declares() {
    for f in ["autofusion", "concat", "ganfusion", "lmf", "mult", "tfn"] {
        let path = format!("examples/iemocap/{f}.fuse");
        let c = compile_file(&path, &[], false);
        let text = summary_text(&c, 0, None, &[]).unwrap();
        assert!(
            text.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("FLOPs at T = 20 (data iemocap, field ")),
            "{path}:\n{text}"
        );
        assert!(!text.contains("count as 1"), "{path}:\n{text}");
        // The count is the one at T = 20 given by hand, and more than at T = 1.
        let flops = |dims: &[(String, i64)]| {
            let t = summary_text(&c, 0, None, dims).unwrap();
            t.lines()
                .find_map(|l| l.strip_prefix("FLOPs per example (forward): "))
                .unwrap()
                .replace(',', "")
                .parse::<i64>()
                .unwrap()
        };
        let at_data = flops(&[]);
        assert_eq!(at_data, flops(&[("T".into(), 20)]), "{path}");
        assert!(at_data > flops(&[("T".into(), 1)]), "{path}");
        // `--dim` overrides the data and says so.
        let over = summary_text(&c, 0, None, &[("T".into(), 50)]).unwrap();
        assert!(over.contains("FLOPs at T = 50 (--dim)"), "{path}:\n{over}");
    }
}

#[test]
fn summary_of_one_mode_and_bad_modes() {
    let c = compile_file("examples/mfeat/autofusion.fuse", &[], false);
    let predict = summary_text(&c, 0, Some(&GraphMode::Predict), &[]).unwrap();
    insta::assert_snapshot!(predict);
    let codes = |r: Result<_, fusec::api::Error>| match r {
        Err(e) => e.diagnostics().0.iter().map(|d| d.code).collect::<Vec<_>>(),
        Ok(_) => Vec::new(),
    };
    assert_eq!(codes(parse_mode("infer").map(|_| ())), ["fusec::cli::mode"]);
    let step = GraphMode::Train(Some("disc".into()));
    assert_eq!(
        codes(render_mode_graph(&c, 0, &step, false).map(|_| ())),
        ["fusec::cli::mode"]
    );
}

/// The training graphs `fusec graph --mode train:STEP` shows are the ones training runs: the same forward nodes,
/// backward nodes and parameter-gradient nodes as the compiled plan of the trainer, step by step.
#[test]
fn train_step_graphs_are_those_the_trainer_compiles() {
    use candle_core::Device;
    use fusec::backend::Network;
    use fusec::rng::SeededRng;
    use fusec::run::step_plan::CompiledPlan;
    use fusec::run::{assign_params, Objectives};
    use std::collections::{HashMap, HashSet};

    for path in [
        "examples/mfeat/ganfusion.fuse",
        "examples/mfeat/autofusion.fuse",
        "examples/mfeat/mult.fuse",
    ] {
        let c = compile_file(path, &[], true);
        let plan = c.program.train.clone().unwrap();
        let (model, shapes) = (&c.program.models[0], &c.shapes[0]);
        let net = Network::build(model, shapes, &Device::Cpu, &mut SeededRng::new(1)).unwrap();
        let objectives = Objectives::resolve(&plan, model).unwrap();
        let assignment: HashMap<String, Vec<String>> = assign_params(&plan, &net)
            .unwrap()
            .into_iter()
            .map(|(n, ps)| (n, ps.into_iter().map(|(p, _)| p).collect()))
            .collect();
        let compiled = CompiledPlan::new(&net, &objectives, &assignment);
        for step in &compiled.steps {
            let mode = GraphMode::Train(Some(step.name.clone()));
            let g = mode_graph(model, shapes, Some(&plan), &mode).unwrap();
            let grad = g.grad.unwrap();
            let what = format!("{path} step {}", step.name);
            assert_eq!(g.nodes, step.graph.forward, "{what}");
            assert_eq!(grad.backward, step.graph.backward, "{what}");
            assert_eq!(grad.param_nodes, step.graph.param_nodes, "{what}");
            assert_eq!(grad.grad_values, step.graph.grad_values, "{what}");
            assert!(!grad.param_nodes.is_empty(), "{what}");
        }
        let all = mode_graph(model, shapes, Some(&plan), &GraphMode::Train(None)).unwrap();
        let forward: HashSet<_> = compiled.forward.iter().collect();
        assert_eq!(all.nodes.iter().collect::<HashSet<_>>(), forward, "{path}");
    }
}
