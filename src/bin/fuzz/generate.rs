//! Grammar-aware generation: whole programs built from the grammar's productions (grammar/fuse.pest) with the
//! language's real vocabulary. Half are shaped like the mfeat examples (inputs that match `data/mfeat`, stdlib
//! encoders, a fusion block, a head, a data block and a train plan with random and sometimes invalid settings),
//! so that many reach shape checking, the memory estimate and `check --grad`; the other half are random item
//! sequences with random statements and expressions, for the parser, the evaluator and the checker.

use fusec::rng::SeededRng;

use super::mutate::pick;

fn one<'a>(rng: &mut SeededRng, xs: &[&'a str]) -> &'a str {
    xs[pick(rng, xs.len())]
}

fn chance(rng: &mut SeededRng, percent: usize) -> bool {
    pick(rng, 100) < percent
}

const SIZES: &[&str] = &["1", "2", "8", "16", "32", "64", "128", "0", "-3", "100000", "1073741824"];
const ENCODERS: &[&str] = &["Mlp", "Mlp", "Mlp"];
const FUSIONS: &[&str] = &[
    "Concat([zf, zz, zm])",
    "ConcatMlp([zf, zz, zm], dim = D)",
    "AutoFusion([zf, zz, zm], dim = D).z",
    "TensorFusion([zf, zz, zm])",
    "LowRankFusion([zf, zz, zm], dim = D, rank = R)",
    "zf + zz + zm",
    "concat([zf, zz, zm], axis = 1)",
    "concat([zf, zz, zm], axis = A)",
    "outer(zf, zz)",
];

/// A program shaped like the mfeat examples, with random sizes, blocks and settings.
pub fn mfeat_program(rng: &mut SeededRng) -> String {
    let d = one(rng, SIZES);
    let r = one(rng, &["1", "2", "4", "0", "64"]);
    let a = one(rng, &["0", "1", "-1", "2", "5"]);
    let mut s = String::from(
        "import std.encoders.Mlp\nimport std.fusion.{Concat, ConcatMlp, AutoFusion, TensorFusion, LowRankFusion}\n\
         import std.heads.Classifier\n\n",
    );
    s.push_str("model M {\n  input fou: f32[B, 76]\n  input zer: f32[B, 47]\n  input mor: f32[B, 6]\n");
    s.push_str("  input label: i64[B]\n");
    s.push_str(&format!("  param D: int = {d}\n"));
    for (z, x) in [("zf", "fou"), ("zz", "zer"), ("zm", "mor")] {
        let enc = one(rng, ENCODERS);
        let sizes: Vec<&str> = (0..1 + pick(rng, 3)).map(|_| one(rng, SIZES)).collect();
        s.push_str(&format!("  {z} = {enc}({x}, sizes = [{}, D])\n", sizes.join(", ")));
    }
    let fusion = one(rng, FUSIONS).replace('D', "D").replace('R', r).replace('A', a);
    s.push_str(&format!("  fused = {fusion}\n"));
    if chance(rng, 30) {
        s.push_str(&format!(
            "  fused2 = {}(fused, {})\n  h = fused2\n",
            one(rng, &["dropout", "layer_norm", "relu", "linear"]),
            one(rng, &["0.1", "D", "1", "axis = 1"])
        ));
    } else {
        s.push_str("  h = fused\n");
    }
    let classes = one(rng, &["10", "10", "10", "3", "1073741824", "0"]);
    s.push_str(&format!(
        "  output logits = Classifier(h, classes = {classes}, hidden = [{}])\n",
        one(rng, SIZES)
    ));
    s.push_str(&format!(
        "  loss task = {}(logits, label)\n}}\n\n",
        one(rng, &["cross_entropy", "cross_entropy", "mse", "bce_with_logits"])
    ));
    s.push_str("data mfeat {\n  path = \"../../data/mfeat\"\n");
    s.push_str("  field fou: f32[76] = csv(\"mfeat-fou.csv\", columns = 0..76)\n");
    s.push_str(&format!(
        "  field zer: f32[47] = csv(\"mfeat-zer.csv\", columns = 0..{})\n",
        one(rng, &["47", "47", "46", "48", "0"])
    ));
    s.push_str("  field mor: f32[6] = csv(\"mfeat-mor.csv\", columns = 0..6)\n");
    s.push_str(&format!(
        "  field label: i64[] = csv(\"mfeat-fou.csv\", column = 76, classes = {})\n",
        one(rng, &["10", "10", "3", "0"])
    ));
    s.push_str(&format!(
        "  split = stratified(label, train = {}, valid = 0.2, test = 0.2, seed = 0)\n",
        one(rng, &["0.6", "0.6", "0.0", "1.5", "-0.1"])
    ));
    if chance(rng, 70) {
        s.push_str("  standardize = [fou, zer, mor]\n");
    }
    s.push_str("}\n\ntrain {\n  model = M\n  data = mfeat\n  task = classification(logits, label)\n");
    s.push_str(&format!(
        "  optimizer main = {}\n",
        one(
            rng,
            &[
                "adam(lr = 1e-3)",
                "adamw(lr = 3e-4, weight_decay = 0.01)",
                "sgd(lr = 0.1, momentum = 0.9)",
                "adam(lr = 0)",
                "adam(lr = -1)",
                "adam(lr = 1e400)",
                "adam(lr = 1e-3, betas = [0.9, 1.5])",
                "sgd(lr = 0.1, momentum = -2)",
                "adam(lr = 1e-3, eps = 0)",
            ]
        )
    ));
    s.push_str("  step main minimize task\n");
    s.push_str(&format!(
        "  batch_size = {}\n  epochs = {}\n  seed = {}\n",
        one(rng, &["32", "8", "1", "0", "100000000"]),
        one(rng, &["1", "2", "0"]),
        one(rng, &["0", "1", "18446744073709551615"])
    ));
    if chance(rng, 40) {
        s.push_str(&format!(
            "  clip_norm = {}\n",
            one(rng, &["1.0", "50.0", "0", "-1", "1e400"])
        ));
    }
    if chance(rng, 30) {
        s.push_str(&format!(
            "  schedule = {}\n",
            one(
                rng,
                &[
                    "cosine(min_lr = 1e-5)",
                    "step(every = 2, gamma = 0.5)",
                    "step(every = 0, gamma = 0.5)",
                    "step(every = 2, gamma = -1)",
                    "plateau(factor = 0.5, patience = 2)",
                    "plateau(factor = 2.0)",
                ]
            )
        ));
    }
    s.push_str(&format!(
        "  select = {}\n}}\n",
        one(rng, &["valid.accuracy", "valid.loss", "valid.nope", "test.accuracy"])
    ));
    s
}

const PRIMS: &[&str] = &[
    "linear", "relu", "tanh", "sigmoid", "gelu", "dropout", "layer_norm", "batch_norm", "concat", "reshape",
    "transpose", "mean", "sum", "max", "select", "slice", "softmax", "log_softmax", "lstm", "gru",
    "attention", "positions", "conv1d", "conv2d", "outer", "matmul", "embedding", "pad", "split",
    "last_valid", "stop_gradient", "noise", "param", "len", "dim", "range", "without",
];

/// A random program: imports, blocks and models with random statements, sometimes data and train items.
pub fn random_program(rng: &mut SeededRng) -> String {
    let mut s = String::new();
    for _ in 0..pick(rng, 3) {
        s.push_str(one(
            rng,
            &[
                "import std.encoders.{Mlp, SeqEncoder}\n",
                "import std.fusion.{AutoFusion, GanFusion, TensorFusion}\n",
                "import std.mult.MulT\n",
                "import std.heads.Classifier\n",
                "import \"lib.fuse\".{X}\n",
                "import \"../../../etc/passwd\".{X}\n",
                "import \"/dev/zero.fuse\".{X}\n",
            ],
        ));
    }
    for i in 0..pick(rng, 3) {
        s.push_str(&format!("block Blk{i}(x: f32[B, D], k: int = {}) -> f32[B, _] {{\n", one(rng, SIZES)));
        statements(rng, &mut s, 1 + pick(rng, 6), 1);
        s.push_str("  return x\n}\n");
    }
    for i in 0..1 + pick(rng, 2) {
        s.push_str(&format!("model Mod{i} {{\n"));
        for (n, ty) in [("x", "f32[B, 8]"), ("t", "f32[B, T, 4]"), ("y", "i64[B]")] {
            if chance(rng, 80) {
                s.push_str(&format!("  input {n}: {ty}\n"));
            }
        }
        statements(rng, &mut s, 1 + pick(rng, 10), 1);
        s.push_str(one(
            rng,
            &["  output o = linear(x, 3)\n  loss l = cross_entropy(o, y)\n", "  output o = x\n", ""],
        ));
        s.push_str("}\n");
    }
    s
}

fn statements(rng: &mut SeededRng, s: &mut String, n: usize, depth: usize) {
    let indent = "  ".repeat(depth);
    for _ in 0..n {
        match pick(rng, 8) {
            0 if depth < 4 => {
                s.push_str(&format!("{indent}for i in {} {{\n", expr(rng, 2)));
                statements(rng, s, 1 + pick(rng, 3), depth + 1);
                s.push_str(&format!("{indent}}}\n"));
            }
            1 if depth < 4 => {
                s.push_str(&format!("{indent}if {} {{\n", expr(rng, 2)));
                statements(rng, s, 1 + pick(rng, 2), depth + 1);
                s.push_str(&format!("{indent}}} else {{\n"));
                statements(rng, s, 1, depth + 1);
                s.push_str(&format!("{indent}}}\n"));
            }
            2 => s.push_str(&format!("{indent}param p{}: int = {}\n", pick(rng, 4), expr(rng, 2))),
            3 => s.push_str(&format!("{indent}assert {}, \"message\"\n", expr(rng, 2))),
            _ => s.push_str(&format!(
                "{indent}{} = {}\n",
                one(rng, &["x", "h", "a", "b", "xs", "_u"]),
                expr(rng, 3)
            )),
        }
    }
}

/// A random expression of at most `depth` levels.
pub fn expr(rng: &mut SeededRng, depth: usize) -> String {
    if depth == 0 {
        return one(
            rng,
            &["x", "t", "y", "h", "xs", "k", "i", "B", "T", "1", "0", "64", "-1", "0.5", "true", "none", "\"s\"", "1e400"],
        )
        .to_string();
    }
    let d = depth - 1;
    match pick(rng, 10) {
        0 => format!("[{}]", (0..pick(rng, 4)).map(|_| expr(rng, d)).collect::<Vec<_>>().join(", ")),
        1 => format!("[{} for i in {}]", expr(rng, d), expr(rng, d)),
        2 => format!("{}..{}", expr(rng, 0), expr(rng, 0)),
        3 => format!(
            "{} {} {}",
            expr(rng, d),
            one(rng, &["+", "-", "*", "/", "@", "%", "==", "<", "and", "or"]),
            expr(rng, d)
        ),
        4 => format!("{}[{}]", expr(rng, d), expr(rng, 0)),
        5 => format!("{}.{}", expr(rng, d), one(rng, &["z", "h", "out", "recon"])),
        6 => format!("{} |> {}", expr(rng, d), one(rng, PRIMS)),
        _ => {
            let args: Vec<String> = (0..pick(rng, 4))
                .map(|_| {
                    if chance(rng, 30) {
                        format!("{} = {}", one(rng, &["axis", "dim", "sizes", "heads", "p", "k"]), expr(rng, d))
                    } else {
                        expr(rng, d)
                    }
                })
                .collect();
            let callee = if chance(rng, 80) {
                one(rng, PRIMS).to_string()
            } else {
                one(rng, &["Mlp", "Blk0", "Blk1", "AutoFusion", "Classifier", "MulT", "Nope"]).to_string()
            };
            format!("{callee}({})", args.join(", "))
        }
    }
}
