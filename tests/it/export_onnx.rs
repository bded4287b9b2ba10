//! `fusec export --format onnx`: every mfeat and IEMOCAP example, trained for one epoch, exported, and run by
//! tract (a Rust ONNX runtime) on raw inputs; its outputs must equal `fusec predict`'s on the same inputs within
//! 1e-4. Also: ops without an ONNX mapping are reported all at once at their uses, and flag mistakes get
//! diagnostics with "did you mean".

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use fusec::api::{self, ExportRequest, PredictRequest, RunRequest, Silent};
use fusec::ir::{DimExpr, Dtype};
use tract_onnx::prelude::{
    Framework, InferenceModelExt, IntoRunnable, IntoTValue, Tensor as TractTensor,
};

use super::support::{compile_file, fusec, temp_dir};

/// The largest absolute difference the issue allows between the ONNX file and `fusec predict`.
const TOLERANCE: f32 = 1e-4;
/// Examples per comparison.
const ROWS: usize = 6;

/// A uniform draw in [-√3, √3) (unit variance) from a fixed linear congruential sequence.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (self.0 >> 40) as f32 / (1u64 << 24) as f32;
        (u * 2.0 - 1.0) * 3f32.sqrt()
    }
}

/// Raw inputs for every model input the prediction needs: standardized fields drawn around the run's training
/// mean with its spread (so the file's own standardization is exercised at a realistic scale), others around 0.
fn raw_inputs(
    file: &str,
    sets: &[(&str, &str)],
    run_dir: &Path,
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let c = compile_file(file, sets, true);
    let plan = c.program.train.clone().unwrap();
    let model = c.program.model(&plan.model).unwrap();
    let spec = c.program.data_spec(&plan.data).unwrap();
    let stats = fusec::run::load_standardization(run_dir).unwrap();
    let mut draws = Draws(7);
    let mut out = Vec::new();
    for input in &model.inputs {
        if input.name == plan.task.target || input.dtype != Dtype::F32 {
            assert!(
                input.name == plan.task.target,
                "{file}: input `{}` is not f32; the test draws only f32 inputs",
                input.name
            );
            continue;
        }
        let field = spec.fields.iter().find(|f| f.name == input.name).unwrap();
        let mut dims = vec![ROWS];
        for d in &field.dims {
            match d {
                DimExpr::Const(n) => dims.push(*n as usize),
                other => panic!("{file}: field `{}` has the size `{other}`", field.name),
            }
        }
        let n: usize = dims.iter().product();
        let width = *dims.last().unwrap();
        let values = (0..n)
            .map(|i| {
                let u = draws.next();
                match stats.get(&input.name) {
                    Some((mean, std)) => mean[i % width] + std[i % width] * u,
                    None => u,
                }
            })
            .collect();
        out.push((input.name.clone(), dims, values));
    }
    out
}

/// Trains `file` for one epoch into a fresh folder and returns the run directory.
fn train(name: &str, file: &str, sets: &[(&str, &str)]) -> PathBuf {
    let dir = temp_dir("export", name).join("run");
    let mut overrides = vec![("epochs".to_string(), "1".to_string())];
    overrides.extend(sets.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let req = RunRequest {
        file: file.into(),
        overrides,
        run_dir: Some(dir.clone()),
        overwrite: false,
        device: Device::Cpu,
        progress: false,
        stop_after: None,
    };
    api::run(&req, &mut Silent).unwrap_or_else(|e| panic!("{file}: {e:?}"));
    dir
}

/// `fusec predict`'s outputs on `inputs`, flattened, in the model's output order.
fn predicted(
    file: &str,
    run_dir: &Path,
    inputs: &[(String, Vec<usize>, Vec<f32>)],
) -> Vec<(String, Vec<f32>)> {
    let path = run_dir.with_file_name("inputs.safetensors");
    let tensors: HashMap<String, Tensor> = inputs
        .iter()
        .map(|(n, dims, v)| {
            (
                n.clone(),
                Tensor::from_vec(v.clone(), dims.as_slice(), &Device::Cpu).unwrap(),
            )
        })
        .collect();
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let req = PredictRequest {
        file: file.into(),
        overrides: Vec::new(),
        run_dir: run_dir.to_path_buf(),
        input: path,
        device: Device::Cpu,
    };
    let p = api::predict(&req, &mut Silent).unwrap_or_else(|e| panic!("{file}: {e:?}"));
    p.outputs
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            )
        })
        .collect()
}

/// The exported file run by tract, with its symbolic dims left to tract, on `inputs` in the file's input order.
fn onnx_outputs(bytes: &[u8], inputs: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<Vec<f32>> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &*bytes)
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let values = inputs
        .iter()
        .map(|(_, dims, v)| TractTensor::from_shape(dims, v).unwrap().into_tvalue())
        .collect();
    let outs = model.run(values).unwrap();
    outs.iter()
        .map(|o| {
            o.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .copied()
                .collect()
        })
        .collect()
}

/// Trains, exports and compares; returns the largest difference over every output.
fn export_matches_predict(name: &str, file: &str, sets: &[(&str, &str)]) -> f32 {
    let run_dir = train(name, file, sets);
    let inputs = raw_inputs(file, sets, &run_dir);
    let expected = predicted(file, &run_dir, &inputs);
    let req = ExportRequest {
        run_dir: run_dir.clone(),
        overrides: Vec::new(),
    };
    let bytes = api::export_onnx(&req, &mut Silent).unwrap_or_else(|e| {
        let (d, s) = e.diagnostics();
        panic!("{file}: {}", fusec::diag::render(&d, &s, false))
    });
    let got = onnx_outputs(&bytes, &inputs);
    assert_eq!(
        got.len(),
        expected.len(),
        "{file}: one ONNX output per model output"
    );
    let (mut worst, mut spread) = (0f32, 0f32);
    for ((output, want), got) in expected.iter().zip(&got) {
        assert_eq!(want.len(), got.len(), "{file}: `{output}` has another size");
        for (a, b) in want.iter().zip(got) {
            worst = worst.max((a - b).abs());
        }
        let mean = want.iter().sum::<f32>() / want.len() as f32;
        spread = spread.max(want.iter().map(|v| (v - mean).abs()).fold(0.0, f32::max));
    }
    eprintln!(
        "export {file}: max abs difference {worst:e} (outputs spread {spread:e} around their mean)"
    );
    // Outputs that hardly vary would make the comparison say little.
    assert!(spread > 1e-4, "{file}: the outputs hardly vary ({spread})");
    assert!(
        worst <= TOLERANCE,
        "{file}: max abs difference {worst} > {TOLERANCE}"
    );
    worst
}

macro_rules! exports {
    ($($test:ident: $file:literal $(, $k:literal = $v:literal)*;)*) => {
        $(
            #[test]
            fn $test() {
                export_matches_predict(stringify!($test), $file, &[$(($k, $v)),*]);
            }
        )*
    };
}

exports! {
    mfeat_all_views: "examples/mfeat/all_views.fuse";
    mfeat_autofusion: "examples/mfeat/autofusion.fuse";
    mfeat_concat: "examples/mfeat/concat.fuse";
    mfeat_concat_kfold: "examples/mfeat/concat_kfold.fuse", "data.fold" = "1";
    mfeat_concat_mlp: "examples/mfeat/concat_mlp.fuse";
    mfeat_conv_rows: "examples/mfeat/conv_rows.fuse";
    mfeat_ganfusion: "examples/mfeat/ganfusion.fuse";
    mfeat_lmf: "examples/mfeat/lmf.fuse";
    mfeat_mult: "examples/mfeat/mult.fuse";
    mfeat_six_views: "examples/mfeat/six_views.fuse";
    mfeat_tfn: "examples/mfeat/tfn.fuse";
    iemocap_autofusion: "examples/iemocap/autofusion.fuse";
    iemocap_concat: "examples/iemocap/concat.fuse";
    iemocap_concat_4way: "examples/iemocap/concat_4way.fuse";
    iemocap_concat_mlp: "examples/iemocap/concat_mlp.fuse";
    iemocap_ganfusion: "examples/iemocap/ganfusion.fuse";
    iemocap_lmf: "examples/iemocap/lmf.fuse";
    iemocap_mult: "examples/iemocap/mult.fuse";
    iemocap_tfn: "examples/iemocap/tfn.fuse";
}

/// Every example file of the two folders has a test above.
#[test]
fn every_mfeat_and_iemocap_example_is_exported() {
    let listed = include_str!("export_onnx.rs");
    for folder in ["examples/mfeat", "examples/iemocap"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            if name.ends_with(".fuse") && name != "common.fuse" {
                let path = format!("\"{folder}/{name}\"");
                assert!(listed.contains(&path), "{path} has no export test");
            }
        }
    }
}

/// A model with two uses of an op that has no ONNX mapping (the attention decoder): both are reported at once,
/// each at its use, and no file is made.
const UNEXPORTABLE: &str = r#"model Unexportable {
  input x: f32[B, T, 8]
  input lens: i64[B]
  input tgt: i64[B, S]
  rnn = lstm(x, 16, lengths = lens)
  a = attention(rnn.seq, heads = 2, causal = true)
  output words = attention_decoder(a, lens, rnn.h, tgt, vocab = 20, emb = 8)
  output tags = attention_decoder(rnn.seq, lens, rnn.h, tgt, vocab = 5, emb = 4)
  output pooled = mean(a, axis = 1)
}
"#;

#[test]
fn ops_without_an_onnx_mapping_are_reported_at_their_uses() {
    let c = fusec::front::compile_source("unexportable.fuse", UNEXPORTABLE, &[], true)
        .unwrap_or_else(|f| panic!("{}", fusec::diag::render(&f.diagnostics, &f.sources, false)));
    let (model, shapes) = (&c.program.models[0], &c.shapes[0]);
    let net = fusec::backend::Network::build(
        model,
        shapes,
        &Device::Cpu,
        &mut fusec::rng::SeededRng::new(0),
    )
    .unwrap();
    let weights = net
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let req = fusec::export::OnnxRequest {
        model,
        shapes,
        weights: &weights,
        standardization: &HashMap::new(),
        sources: &c.program.sources,
    };
    let diags = fusec::export::onnx(&req).expect_err("two ops have no mapping");
    assert_eq!(diags.iter().count(), 2, "both ops are reported");
    assert!(diags.iter().all(|d| d.code == "fusec::export::unsupported"));
    insta::assert_snapshot!(fusec::diag::render(&diags, &c.program.sources, false));
}

/// The binary writes the file; a wrong format or a missing run directory is a diagnostic with the closest
/// name.
#[test]
fn the_cli_writes_the_file_and_names_flag_mistakes() {
    let run_dir = train("cli", "examples/mfeat/concat.fuse", &[]);
    let rd = run_dir.to_str().unwrap();
    let out = run_dir.with_file_name("model.onnx");
    let (code, stdout, stderr) = fusec(&[
        "export",
        rd,
        "--format",
        "onnx",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ONNX opset 17"), "{stdout}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(tract_onnx::onnx().model_for_read(&mut &*bytes).is_ok());

    let (code, _, stderr) = fusec(&["export", rd, "--format", "onxx", "--output", "x.onnx"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("fusec::cli::format") && stderr.contains("did you mean `onnx`?"),
        "{stderr}"
    );

    let typo = format!("{rd}x");
    let (code, _, stderr) = fusec(&["export", &typo, "--output", "x.onnx"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("fusec::cli::run_dir") && stderr.contains("did you mean"),
        "{stderr}"
    );
    assert!(stderr.contains(rd), "the closest folder is named: {stderr}");
    assert!(!Path::new("x.onnx").exists());
}

/// With lengths, a recurrent layer gets them as the ONNX `sequence_lens` input (int32). tract runs only
/// constant, uniform lengths equal to the sequence length, so it refuses such a file: this test checks the
/// graph's structure and records that refusal; the numbers of masked sequences are checked only against
/// `fusec predict`'s own kernels (tests/it/nn_recurrent.rs), not through an ONNX runtime.
#[test]
fn lengths_become_sequence_lens() {
    let source = r#"model Lengths {
  input x: f32[B, T, 8]
  input lens: i64[B]
  rnn = gru(x, 16, lengths = lens, bidirectional = true)
  output h = rnn.h
}
"#;
    let c = fusec::front::compile_source("lengths.fuse", source, &[], true)
        .unwrap_or_else(|f| panic!("{}", fusec::diag::render(&f.diagnostics, &f.sources, false)));
    let (model, shapes) = (&c.program.models[0], &c.shapes[0]);
    let net = fusec::backend::Network::build(
        model,
        shapes,
        &Device::Cpu,
        &mut fusec::rng::SeededRng::new(0),
    )
    .unwrap();
    let weights = net
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let req = fusec::export::OnnxRequest {
        model,
        shapes,
        weights: &weights,
        standardization: &HashMap::new(),
        sources: &c.program.sources,
    };
    let bytes = fusec::export::onnx(&req).unwrap();
    let proto = <tract_onnx::pb::ModelProto as prost::Message>::decode(&*bytes).unwrap();
    let graph = proto.graph.unwrap();
    let gru = graph.node.iter().find(|n| n.op_type == "GRU").unwrap();
    let lens = &gru.input[4];
    let cast = graph.node.iter().find(|n| n.output.contains(lens)).unwrap();
    assert_eq!(cast.op_type, "Cast");
    assert_eq!(cast.input, ["lens"]);
    let attr = |name: &str| gru.attribute.iter().find(|a| a.name == name).unwrap();
    assert_eq!(attr("direction").s, b"bidirectional");
    assert_eq!(attr("linear_before_reset").i, 1);
    let refused = tract_onnx::onnx()
        .model_for_read(&mut &*bytes)
        .and_then(|m| m.into_optimized());
    assert!(
        refused.is_err(),
        "tract now runs sequence_lens: compare it with predict here"
    );
}
