//! Lowering tests: .fuse text in, a stable dump of the lowered program (or the rendered diagnostics) out.

use std::fmt::Write;

use fusec::diag::render;
use fusec::ir::print::{print_model, Numbering};
use fusec::ir::{Model, PortType, Program};
use fusec::lower::lower_program;
use fusec::source::{Loader, MemoryLoader};

/// Reads files relative to the crate root, as the CLI does relative to the working folder.
pub struct DiskLoader;

impl Loader for DiskLoader {
    fn load(&self, path: &str) -> Result<String, String> {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        // The reason only, not the absolute path, so rendered diagnostics do not depend on the checkout.
        std::fs::read_to_string(full).map_err(|e| e.to_string())
    }
}

/// Lowers one in-memory file; returns the program dump (with warnings) or the rendered errors.
pub fn check(src: &str) -> String {
    check_with(src, &[])
}

pub fn check_with(src: &str, overrides: &[(&str, &str)]) -> String {
    let loader = MemoryLoader::new().with("main.fuse", src);
    run(&loader, "main.fuse", overrides)
}

pub fn run(loader: &dyn Loader, path: &str, overrides: &[(&str, &str)]) -> String {
    let ov: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match lower_program(loader, path, &ov) {
        Ok((program, warnings)) => {
            let mut out = dump_program(&program);
            if !warnings.is_empty() {
                out.push_str(&render(&warnings, &program.sources, false));
            }
            out
        }
        Err((diags, sources)) => render(&diags, &sources, false),
    }
}

pub fn dump_program(p: &Program) -> String {
    let mut out = String::new();
    for m in &p.models {
        dump_model(&mut out, m);
    }
    for d in &p.data {
        let _ = writeln!(
            out,
            "data {} path={:?} declared_in={:?} split={:?}",
            d.name, d.path, d.declared_in, d.split
        );
        for f in &d.fields {
            let dims: Vec<String> = f.dims.iter().map(|d| d.to_string()).collect();
            let _ = writeln!(
                out,
                "  field {}: {}[{}] {:?} files={:?} classes={:?}",
                f.name,
                f.dtype,
                dims.join(", "),
                f.source.kind,
                f.source.files,
                f.classes
            );
        }
        let _ = writeln!(out, "  standardize {:?}", d.standardize);
    }
    if let Some(t) = &p.train {
        let _ = writeln!(
            out,
            "train model={} data={} task={:?}({}, {})",
            t.model, t.data, t.task.kind, t.task.output, t.task.target
        );
        for o in &t.optimizers {
            let _ = writeln!(
                out,
                "  optimizer {} {:?} params={:?}",
                o.name, o.kind, o.params
            );
        }
        for s in &t.steps {
            let terms: Vec<String> = s
                .terms
                .iter()
                .map(|t| format!("{}*{}", t.weight, t.name))
                .collect();
            let _ = writeln!(
                out,
                "  step {} minimize {} using {}",
                s.name,
                terms.join(" + "),
                s.optimizer
            );
        }
        let _ = writeln!(
            out,
            "  batch_size={} epochs={} seed={} clip_norm={:?} schedule={:?} patience={:?} select={:?} metrics={:?}",
            t.batch_size, t.epochs, t.seed, t.clip_norm, t.schedule, t.patience, t.select, t.metrics
        );
    }
    out
}

/// A lowered model: the product's IR dump (`ir::print`, untyped before the checker), then the declared inputs and
/// the block instances with their ports, values numbered as in the dump.
fn dump_model(out: &mut String, m: &Model) {
    out.push_str(&print_model(m, ()));
    let num = Numbering::new(m);
    for i in &m.inputs {
        let dims: Vec<String> = i.dims.iter().map(|d| d.to_string()).collect();
        let _ = writeln!(out, "  input {}: {}[{}]", i.name, i.dtype, dims.join(", "));
    }
    for b in &m.blocks {
        let parent = b
            .parent
            .map(|p| m.blocks[p].path.clone())
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "  block {}: {} parent={parent} in [{}] out [{}]",
            b.path,
            b.block,
            ports(&num, &b.inputs),
            ports(&num, &b.outputs)
        );
    }
}

fn ports(num: &Numbering, ps: &[PortType]) -> String {
    ps.iter()
        .map(|p| {
            let vals: Vec<String> = p.values.iter().map(|v| num.value(*v)).collect();
            let dims: Vec<String> = p.dims.iter().map(|d| num.dim(d)).collect();
            format!(
                "{}={} {}[{}]",
                p.name,
                vals.join("|"),
                p.dtype,
                dims.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn mfeat_autofusion_example() {
    insta::assert_snapshot!(run(&DiskLoader, "examples/mfeat/autofusion.fuse", &[]));
}

#[test]
fn mfeat_concat_example() {
    insta::assert_snapshot!(run(&DiskLoader, "examples/mfeat/concat.fuse", &[]));
}

#[test]
fn mfeat_all_views_example() {
    insta::assert_snapshot!(run(&DiskLoader, "examples/mfeat/all_views.fuse", &[]));
}

/// GAN-Fusion as in reference/architectures.md §3: variadic inputs, `without`, loops with index-appended names,
/// a shared discriminator applied to real and fake, noise, stop_gradient, batch_norm, leaky_relu, constant
/// targets, and scalar outputs that train steps name.
const GAN: &str = r#"
import std.fusion.AutoFusion

block Generator(z: f32[B, L]) -> f32[B, L] {
  l1 = linear(z, 2 * L)
  h = leaky_relu(batch_norm(l1), slope = 0.2)
  l2 = linear(h, 2 * L)
  h = leaky_relu(batch_norm(l2), slope = 0.2)
  l3 = linear(h, L)
  return l3
}

block Discriminator(z: f32[B, L], hidden: int = 256) -> f32[B, 1] {
  l1 = linear(z, hidden)
  h = leaky_relu(batch_norm(l1), slope = 0.2)
  l2 = linear(h, hidden)
  h = leaky_relu(batch_norm(l2), slope = 0.2)
  l3 = linear(h, 1)
  return l3
}

block GanFusion(zs: f32[B, L]..., hidden: int = 256, sigma: float = 0.01)
    -> (z: f32[B, L], d_loss: f32[], g_loss: f32[], recon: f32[]) {
  n = len(zs)
  assert n >= 2, "GAN-Fusion needs at least two modalities"
  fakes = []
  d_terms = []
  g_terms = []
  recons = []
  for i in 0..n {
    af = AutoFusion(without(zs, i), dim = L)
    g = Generator(noise(zs[i], sigma))
    d = shared Discriminator(hidden = hidden)
    real = d(stop_gradient(af.z))
    fake = d(stop_gradient(g))
    d_terms = d_terms + [bce_with_logits(real, 1.0) + bce_with_logits(fake, 0.0)]
    g_terms = g_terms + [bce_with_logits(d(g), 1.0)]
    recons = recons + [af.recon]
    fakes = fakes + [g]
  }
  c1 = linear(concat(fakes), n * L / 2)
  c2 = linear(tanh(c1), L)
  return (z = relu(c2), d_loss = sum(d_terms), g_loss = sum(g_terms), recon = sum(recons))
}

model Gan {
  input a: f32[B, 8]
  input v: f32[B, 8]
  input t: f32[B, 8]
  input y: i64[B]
  fusion = GanFusion([a, v, t], hidden = 4)
  output logits = linear(fusion.z, 3)
  loss task = cross_entropy(logits, y)
}

data toy {
  path = "."
  field a: f32[8] = npy("a.npy")
  field v: f32[8] = npy("v.npy")
  field t: f32[8] = npy("t.npy")
  field y: i64[] = npy("y.npy", classes = 3)
}

train {
  task = classification(logits, y)
  optimizer disc = adam(lr = 1e-3, params = ["fusion.d.*"])
  optimizer main = adam(lr = 1e-3)
  step disc minimize fusion.d_loss
  step main minimize task + fusion.g_loss + fusion.recon
  clip_norm = 50.0
}
"#;

#[test]
fn gan_fusion_is_expressible() {
    insta::assert_snapshot!(check(GAN));
}

/// TFN (pad 1 first, outer products) and LMF (rank-r factors as raw parameters, broadcasting matmul).
#[test]
fn tfn_and_lmf_are_expressible() {
    let src = r#"
block Tfn(zs: f32[B, _]...) -> f32[B, _] {
  acc = pad(zs[0], before = 1, value = 1.0)
  for i in 1..len(zs) {
    acc = outer(acc, pad(zs[i], before = 1, value = 1.0))
  }
  return acc
}

block Lmf(zs: f32[B, _]..., out: int, rank: int = 4) -> f32[B, out] {
  prod = none
  for i in 0..len(zs) {
    factor = param([rank, dim(zs[i], -1) + 1, out], init = "xavier_normal")
    f = pad(zs[i], before = 1, value = 1.0) @ factor
    if i == 0 { prod = f } else { prod = prod * f }
  }
  weights = param([1, rank], init = "xavier_normal")
  bias = param([1, out], init = "zeros")
  fused = weights @ transpose(prod, 0, 1)
  return reshape(fused, B, out) + bias
}

model M {
  input a: f32[B, 4]
  input v: f32[B, 5]
  output tfn = linear(Tfn([a, v]), 2)
  output lmf = Lmf([a, v], out = 2, rank = 3)
}
"#;
    insta::assert_snapshot!(check(src));
}

/// MulT's pieces: conv1d projection, positions, cross-modal transformer layers with `kv`, the last step.
#[test]
fn mult_pieces_are_expressible() {
    let src = r#"
block CrossStack(x: f32[B, T, D], src: f32[B, S, D], layers: int = 2, heads: int = 2) -> f32[B, T, D] {
  h = x + positions(x)
  kv = src + positions(src)
  for i in 0..layers {
    layer = transformer_layer(h, kv = kv, heads = heads, dropout = 0.1, causal = true)
    h = layer
  }
  return layer_norm(h)
}

model M {
  input l: f32[B, T, 6]
  input a: f32[B, U, 4]
  pl = conv1d(l, 8, kernel = 1, bias = false)
  pa = conv1d(a, 8, kernel = 1, bias = false)
  la = CrossStack(pl, pa)
  mem = transformer_layer(la, heads = 2)
  last = select(mem, axis = 1, index = -1)
  output logits = linear(concat([last, mean(pa, axis = 1)]), 8) |> reshape(B, 4, 2)
}
"#;
    insta::assert_snapshot!(check(src));
}

/// Codes only lowering produces: an item expecting one must fail in lowering with it.
const LOWERING_CODES: &[&str] = &[
    "fusec::syntax",
    "fusec::import",
    "fusec::param::unknown",
    "fusec::param::missing",
    "fusec::param::duplicate",
    "fusec::set",
    "fusec::value",
    "fusec::block",
    "fusec::type::dtype",
    "fusec::type::unknown",
    "fusec::assert",
    "fusec::limit",
    "fusec::data::split",
    "fusec::train::model",
    "fusec::train::loss",
    "fusec::train::optimizer",
    "fusec::train::unused_optimizer",
    "fusec::train::unknown_key",
    "fusec::train::metric",
    "fusec::train::duplicate",
];

/// Every invalid program whose error lowering catches fails in lowering with exactly the expected code; the
/// others (shape, dtype, cycle errors) pass lowering and are left to the corpus runner of the full pipeline.
#[test]
fn invalid_corpus_lowering_items() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".fuse"))
        .collect();
    names.sort();
    let mut failed_in_lowering = 0;
    for name in &names {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// expect: "))
            .unwrap()
            .trim();
        match lower_program(&DiskLoader, &format!("tests/invalid/{name}"), &[]) {
            Err((diags, sources)) => {
                if std::env::var("SHOW").is_ok() {
                    eprintln!("==== {name}\n{}", render(&diags, &sources, false));
                }
                let codes: Vec<&str> = diags
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.code)
                    .collect();
                assert!(
                    codes.contains(&expected),
                    "{name}: expected {expected}, lowering gave {codes:?}"
                );
                failed_in_lowering += 1;
            }
            Ok(_) => assert!(
                !LOWERING_CODES.iter().any(|p| expected.starts_with(p)),
                "{name}: expected {expected}, but lowering succeeded"
            ),
        }
    }
    assert!(
        failed_in_lowering >= 40,
        "only {failed_in_lowering} items fail in lowering"
    );
}

const SMALL: &str = r#"
import std.encoders.Mlp
import std.fusion.AutoFusion

model Small {
  input a: f32[B, 6]
  input b: f32[B, 3]
  input y: i64[B]
  param latent: int = 8
  za = Mlp(a, sizes = [16, latent])
  zb = Mlp(b, sizes = [latent])
  fusion = AutoFusion([za, zb], dim = 4)
  output logits = linear(fusion.z, 2)
  loss task = cross_entropy(logits, y)
  loss recon = fusion.recon
}

data toy {
  path = "data"
  field a: f32[6] = csv("t.csv", columns = 0..6)
  field b: f32[3] = csv("t.csv", columns = 6..9)
  field y: i64[] = csv("t.csv", column = 9, classes = 2)
}

train {
  task = classification(logits, y)
  optimizer main = adam(lr = 1e-3)
  step main minimize task + 0.5 * recon
  epochs = 3
}
"#;

#[test]
fn set_overrides_train_model_and_instance_keys() {
    let out = check_with(
        SMALL,
        &[
            ("epochs", "7"),
            ("optimizer.main.lr", "3e-4"),
            ("latent", "12"),
            ("fusion.dim", "5"),
            ("data.path", "elsewhere"),
        ],
    );
    assert!(out.contains("epochs=7"), "{out}");
    assert!(out.contains("lr: 0.0003"), "{out}");
    assert!(
        out.contains("out=12 bias=true : ?  @ za.layer.1\n"),
        "{out}"
    );
    assert!(
        out.contains("out=5 bias=true : ?  @ fusion.enc2\n"),
        "{out}"
    );
    assert!(out.contains("path=\"elsewhere\""), "{out}");
}

#[test]
fn unknown_set_key_suggests_a_valid_one() {
    insta::assert_snapshot!(check_with(SMALL, &[("fusion.dimm", "5"), ("epoch", "3")]));
}

#[test]
fn set_value_of_the_wrong_type() {
    insta::assert_snapshot!(check_with(
        SMALL,
        &[("latent", "\"big\""), ("epochs", "2.5")]
    ));
}

#[test]
fn shared_instances_share_parameter_paths() {
    let out = check(
        "model M {\n  input a: f32[B, 4]\n  input b: f32[B, 4]\n  proj = shared linear(out = 3)\n  pa = proj(a)\n  pb = proj(b)\n  output s = pa + pb\n}\n",
    );
    assert!(
        out.contains("linear(%0) out=3 bias=true : ?  @ pa (shares proj)\n"),
        "{out}"
    );
    assert!(
        out.contains("linear(%1) out=3 bias=true : ?  @ pb (shares proj)\n"),
        "{out}"
    );
}

#[test]
fn unused_names_warn_in_user_files_only() {
    insta::assert_snapshot!(check(
        "import std.encoders.Mlp\nblock Id(x: f32[B, D], scale: float = 1.0) -> f32[B, D] {\n  return x\n}\nmodel M {\n  input a: f32[B, 4]\n  spare = relu(a)\n  _quiet = tanh(a)\n  output z = Mlp(Id(a), sizes = [2])\n  output w = Id(a)\n}\n"
    ));
}

#[test]
fn every_error_of_the_stage_is_reported() {
    insta::assert_snapshot!(check(
        "import std.encoders.Mlp\nmodel M {\n  input a: f32[B, 4]\n  x = Mlp(a, size = [2])\n  y = linear(aa, 3)\n  z = dropout(a, 2.0)\n  output o = relu(a)\n}\n"
    ));
}

#[test]
fn errors_inside_stdlib_blocks_point_at_the_call_site_too() {
    insta::assert_snapshot!(check(
        "import std.encoders.SeqEncoder\nmodel M {\n  input s: f32[B, T, 4]\n  output h = SeqEncoder(s, cell = \"rnn\")\n}\n"
    ));
}

#[test]
fn compile_time_evaluation() {
    let out = check(
        "model M {\n  input a: f32[B, 4]\n  sizes = [s * 2 for s in 1..4]\n  k = max(sizes) - sizes[-1] % 4 + len(without(sizes, 0))\n  h = a\n  for s in sizes {\n    if s >= k and not (s == 4) {\n      h = linear(h, s + k)\n    }\n  }\n  output o = reshape(h, [B, -1])\n}\n",
    );
    // sizes = [2, 4, 6], k = 6 - 2 + 2 = 6: only s = 6 passes the test, giving linear(h, 6 + 6).
    assert!(out.contains("out=12 bias=true : ?  @ h.2\n"), "{out}");
    assert!(out.contains("reshape(%1) shape=[B, -1]"), "{out}");
}

/// Byte- and token-mutated variants of the examples and the GAN program never panic in parsing and lowering:
/// each ends in a program or in diagnostics that render. (The full-pipeline property test lives with the
/// checker; this one keeps lowering's own failures local.)
#[test]
fn mutated_programs_never_panic_in_lowering() {
    let seeds: Vec<String> = [
        "examples/mfeat/autofusion.fuse",
        "examples/mfeat/concat.fuse",
        "examples/mfeat/all_views.fuse",
    ]
    .iter()
    .map(|p| DiskLoader.load(p).unwrap())
    .chain(
        ["encoders", "fusion", "heads"]
            .iter()
            .filter_map(|m| fusec::stdlib::source(m))
            .map(String::from),
    )
    .chain([GAN.to_string(), SMALL.to_string()])
    .collect();
    let pieces = [
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        "=",
        "..",
        ".",
        "...",
        "|>",
        "-",
        "*",
        "/",
        "0",
        "-1",
        "1e9",
        "\"",
        "x",
        "B",
        "for",
        "if",
        "shared",
        "return",
        "none",
        "Mlp(",
        "linear(",
        "\n",
        "import std.fusion.AutoFusion\n",
        "§",
        "é→",
        "\u{feff}",
    ];
    let mut rng = fusec::rng::SeededRng::new(7);
    let n = std::env::var("FUSEC_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    for i in 0..n {
        let base = seeds[i % seeds.len()].as_bytes();
        let mut bytes = base.to_vec();
        for _ in 0..1 + rng.next_u64() % 4 {
            let at = (rng.next_u64() % (bytes.len() as u64 + 1)) as usize;
            match rng.next_u64() % 4 {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 if at < bytes.len() => bytes[at] = (rng.next_u64() % 128) as u8,
                _ => {
                    let p = pieces[(rng.next_u64() % pieces.len() as u64) as usize];
                    bytes.splice(at..at, p.bytes());
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let result = std::panic::catch_unwind(|| {
            let loader = MemoryLoader::new().with("main.fuse", &text);
            match lower_program(&loader, "main.fuse", &[]) {
                Ok(_) => true,
                Err((diags, sources)) => {
                    diags.has_errors() && !render(&diags, &sources, false).is_empty()
                }
            }
        });
        assert!(
            matches!(result, Ok(true)),
            "variant {i} panicked or failed without an error:\n{text}"
        );
    }
}

#[test]
fn runaway_loops_stop_with_a_diagnostic() {
    let out = check("model M {\n  input a: f32[B, 2]\n  k = 0\n  for i in 0..90000 {\n    for j in 0..90000 {\n      k = j\n    }\n  }\n  output o = relu(a)\n}\n");
    assert!(out.contains("fusec::limit::loop"), "{out}");
}

/// Relative imports resolve from the importing file's folder; each file sees only what it imports.
#[test]
fn imports_resolve_relative_to_the_importing_file() {
    let loader = MemoryLoader::new()
        .with(
            "proj/main.fuse",
            "import \"lib/enc.fuse\".{Enc}\nmodel M {\n  input a: f32[B, 4]\n  output z = Enc(a)\n}\n",
        )
        .with(
            "proj/lib/enc.fuse",
            "import std.encoders.Mlp\nimport \"../shared.fuse\".{Twice}\nblock Enc(x: f32[B, D]) -> f32[B, 6] {\n  return Twice(Mlp(x, sizes = [3]))\n}\n",
        )
        .with("proj/shared.fuse", "block Twice(x: f32[B, D]) -> f32[B, 2 * D] {\n  return linear(x, 2 * D)\n}\n");
    let out = run(&loader, "proj/main.fuse", &[]);
    assert!(
        out.contains("linear(%1) out=(2 * dim(%1, 1)) bias=true : ?  @ z.twice_0.linear_0\n"),
        "{out}"
    );
    // `Mlp` is visible in lib/enc.fuse, not in main.fuse.
    let loader = loader.with(
        "proj/main.fuse",
        "import \"lib/enc.fuse\".{Enc}\nmodel M {\n  input a: f32[B, 4]\n  output z = Mlp(a, sizes = [2])\n}\n",
    );
    assert!(run(&loader, "proj/main.fuse", &[]).contains("unknown block or primitive `Mlp`"));
}

#[test]
fn instance_arguments_inside_loops_can_be_set() {
    let src = "import std.encoders.Mlp\nmodel M {\n  input a: f32[B, 4]\n  zs = [Mlp(a, sizes = [3]) for k in 0..2]\n  output z = concat(zs)\n}\n";
    let out = check_with(src, &[("zs.1.sizes", "[5, 7]")]);
    assert!(
        out.contains("out=3 bias=true : ?  @ zs.0.layer.0\n"),
        "{out}"
    );
    assert!(
        out.contains("out=7 bias=true : ?  @ zs.1.layer.1\n"),
        "{out}"
    );
}
