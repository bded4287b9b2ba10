//! Compile-time facts of the fusion library (docs/COMPARING.md §3): exact trainable-parameter counts of
//! AutoFusion, GAN-Fusion, LMF and MulT at the paper's sizes, and the TFN width warning.

use fusec::front::compile_source;

/// Trainable parameters of the only model in `src`, after checking it (warnings allowed).
fn trainable(src: &str) -> i64 {
    let c = compile_source("main.fuse", src, &[], false)
        .unwrap_or_else(|f| panic!("{}", fusec::diag::render(&f.diagnostics, &f.sources, false)));
    c.shapes[0].n_trainable()
}

/// A model feeding `inputs` (name, width) into `call`, whose result is the output `y`.
fn vectors(inputs: &[(&str, usize)], import: &str, call: &str) -> String {
    let mut s = format!("import std.{import}\nmodel M {{\n");
    for (name, width) in inputs {
        s.push_str(&format!("  input {name}: f32[B, {width}]\n"));
    }
    s.push_str(&format!("  fusion = {call}\n  output y = fusion\n}}\n"));
    s
}

const TRIMODAL: [(&str, usize); 3] = [("a", 256), ("v", 256), ("t", 256)];

#[test]
fn autofusion_counts() {
    let k768 = vectors(&TRIMODAL, "fusion.AutoFusion", "AutoFusion([a, v, t]).z");
    assert_eq!(trainable(&k768), 788_224);
    let k812 = vectors(
        &[("text", 512), ("speech", 300)],
        "fusion.AutoFusion",
        "AutoFusion([text, speech]).z",
    );
    assert_eq!(trainable(&k812), 869_096);
}

#[test]
fn ganfusion_counts() {
    let n3 = vectors(&TRIMODAL, "fusion.GanFusion", "GanFusion([a, v, t]).z");
    assert_eq!(trainable(&n3), 3_558_787);
    let n2 = vectors(&TRIMODAL[..2], "fusion.GanFusion", "GanFusion([a, v]).z");
    assert_eq!(trainable(&n2), 1_781_762);
}

#[test]
fn lmf_count() {
    let src = vectors(
        &TRIMODAL,
        "fusion.LowRankFusion",
        "LowRankFusion([a, v, t], out = 8, rank = 4)",
    );
    assert_eq!(trainable(&src), 24_684);
}

#[test]
fn mult_count_at_code_defaults_on_iemocap_sizes() {
    let src = r#"
import std.mult.MulT
import std.heads.BinaryPerLabel
model M {
  input text: f32[B, 20, 300]
  input audio: f32[B, 20, 74]
  input vision: f32[B, 20, 35]
  fusion = MulT([text, audio, vision])
  output logits = BinaryPerLabel(fusion, labels = 4)
}
"#;
    assert_eq!(trainable(src), 1_074_998);
}

#[test]
fn wide_tensor_fusion_warns_with_its_width() {
    let src = vectors(
        &TRIMODAL,
        "fusion.TensorFusion",
        "linear(TensorFusion([a, v, t]), 2)",
    );
    let c = compile_source("main.fuse", &src, &[], false).unwrap();
    let text = fusec::diag::render(&c.warnings, &c.program.sources, false);
    assert!(text.contains("fusec::fusion::tfn_width"), "{text}");
    assert!(text.contains("16,974,593"), "{text}");
    assert!(text.contains("LowRankFusion"), "{text}");
}

#[test]
fn projected_tensor_fusion_is_quiet() {
    // TFN's matched configuration: 33 * 33 * 65 = 70,785 features into 160 units (11.3 M weights).
    let src = vectors(
        &[("a", 32), ("v", 32), ("t", 64)],
        "fusion.TensorFusion",
        "linear(TensorFusion([a, v, t]), 160)",
    );
    let c = compile_source("main.fuse", &src, &[], false).unwrap();
    let text = fusec::diag::render(&c.warnings, &c.program.sources, false);
    assert!(!text.contains("tfn_width"), "{text}");
}

#[test]
fn encoder_blocks_have_the_documented_parameters() {
    let text = r#"
import std.encoders.TextEncoder
model M {
  input ids: i64[B, T]
  output z = TextEncoder(ids, vocab = 100, width = 8, hidden = 4, out = 6)
}
"#;
    // embedding 100 x 8; BiLSTM 2 directions x 4 gates x 4 units x (8 + 4 + 2); projection 8 -> 6.
    assert_eq!(trainable(text), 800 + 2 * 4 * 4 * 14 + 54);
    let conv = r#"
import std.encoders.TemporalProjection
model M {
  input x: f32[B, 10, 5]
  output z = TemporalProjection(x, 3, kernel = 3)
}
"#;
    assert_eq!(trainable(conv), 3 * 5 * 3);
    let c = compile_source("main.fuse", conv, &[], false).unwrap();
    let z = c.program.models[0].outputs[0].value;
    assert_eq!(format!("{}", c.shapes[0].ty(z).unwrap()), "f32[B, 8, 3]");
    let enc = r#"
import std.encoders.TransformerEncoder
model M {
  input x: f32[B, T, 8]
  output z = TransformerEncoder(x, layers = 2, heads = 2)
}
"#;
    // Two layers of 12 d^2 + 13 d and the final LayerNorm.
    assert_eq!(trainable(enc), 2 * (12 * 64 + 13 * 8) + 16);
}

#[test]
fn ganfusion_discriminators_form_one_parameter_group() {
    let mut src = vectors(
        &TRIMODAL,
        "fusion.GanFusion",
        "GanFusion([a, v, t], hidden = 32)",
    );
    // The instance must be bound to `fusion` for its parameters to live under `fusion.`.
    src = src.replace("output y = fusion\n", "output y = fusion.z\n");
    let c = compile_source("main.fuse", &src, &[], false).unwrap();
    let group: i64 = c.shapes[0]
        .params()
        .iter()
        .filter(|(name, p)| name.starts_with("fusion.d.") && p.trainable)
        .map(|(_, p)| p.shape.iter().product::<i64>())
        .sum();
    // D = 256 -> 32 -> 32 -> 1 with two batch norms, once per target.
    let d = (256 * 32 + 32) + 2 * 32 + (32 * 32 + 32) + 2 * 32 + (32 + 1);
    assert_eq!(group, 3 * d);
}
