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

const SIZES: &[&str] = &["1", "2", "8", "16", "32", "48"];
const BAD_SIZES: &[&str] = &[
    "0",
    "-3",
    "128",
    "100000",
    "1073741824",
    "4611686018427387904",
];
const FUSIONS: &[&str] = &[
    "Concat([zf, zz, zm])",
    "ConcatMlp([zf, zz, zm], dim = D)",
    "AutoFusion([zf, zz, zm], dim = D).z",
    "TensorFusion([zf, zz, zm])",
    "LowRankFusion([zf, zz, zm], out = D, rank = {rank})",
    "zf + zz + zm",
    "concat([zf, zz, zm], axis = 1)",
];
const BAD_FUSIONS: &[&str] = &[
    "concat([zf, zz, zm], axis = {axis})",
    "outer(zf, zz)",
    "AutoFusion([zf, zz, zm], dim = D)",
    "zf @ zz",
    "reshape(zf, [-1, -1])",
];

/// Settings of an mfeat-shaped program: the valid choices, and the hostile ones that a hostile program takes
/// now and then.
struct Choice {
    hostile: bool,
}

impl Choice {
    fn pick<'a>(&self, rng: &mut SeededRng, good: &[&'a str], bad: &[&'a str]) -> &'a str {
        if self.hostile && !bad.is_empty() && chance(rng, 20) {
            one(rng, bad)
        } else {
            one(rng, good)
        }
    }
}

/// A program shaped like the mfeat examples, with random sizes, blocks and settings: half of them valid
/// throughout (they reach the memory estimate and `check --grad`), half with hostile values here and there.
pub fn mfeat_program(rng: &mut SeededRng) -> String {
    let c = Choice {
        hostile: chance(rng, 50),
    };
    let d = c.pick(rng, SIZES, BAD_SIZES);
    let rank = c.pick(rng, &["1", "2", "4"], &["0", "-1", "64"]);
    let axis = c.pick(rng, &["1"], &["0", "-1", "2", "5"]);
    let mut s = String::from(
        "import std.encoders.Mlp\nimport std.fusion.{Concat, ConcatMlp, AutoFusion, TensorFusion, LowRankFusion}\n\
         import std.heads.Classifier\n\n",
    );
    s.push_str(
        "model M {\n  input fou: f32[B, 76]\n  input zer: f32[B, 47]\n  input mor: f32[B, 6]\n",
    );
    s.push_str("  input label: i64[B]\n");
    s.push_str(&format!("  param D: int = {d}\n"));
    for (z, x) in [("zf", "fou"), ("zz", "zer"), ("zm", "mor")] {
        let n = 1 + pick(rng, 3);
        let sizes: Vec<&str> = (0..n).map(|_| c.pick(rng, SIZES, BAD_SIZES)).collect();
        s.push_str(&format!(
            "  {z} = Mlp({x}, sizes = [{}, D])\n",
            sizes.join(", ")
        ));
    }
    let fusion = c
        .pick(rng, FUSIONS, BAD_FUSIONS)
        .replace("{rank}", rank)
        .replace("{axis}", axis);
    s.push_str(&format!("  fused = {fusion}\n"));
    if chance(rng, 30) {
        let layer = c.pick(
            rng,
            &[
                "dropout(fused, 0.1)",
                "layer_norm(fused)",
                "relu(fused)",
                "linear(fused, D)",
            ],
            &[
                "dropout(fused, 1.5)",
                "layer_norm(fused, axis = 3)",
                "linear(fused, 0)",
            ],
        );
        s.push_str(&format!("  h = {layer}\n"));
    } else {
        s.push_str("  h = fused\n");
    }
    let classes = c.pick(rng, &["10"], &["3", "1073741824", "0"]);
    let hidden = c.pick(rng, SIZES, BAD_SIZES);
    s.push_str(&format!(
        "  output logits = Classifier(h, classes = {classes}, hidden = [{hidden}])\n"
    ));
    let loss = c.pick(rng, &["cross_entropy"], &["mse", "bce_with_logits", "l1"]);
    s.push_str(&format!("  loss task = {loss}(logits, label)\n}}\n\n"));
    s.push_str("data mfeat {\n  path = \"../../data/mfeat\"\n");
    s.push_str("  field fou: f32[76] = csv(\"mfeat-fou.csv\", columns = 0..76)\n");
    let zer = c.pick(rng, &["47"], &["46", "48", "0", "1000"]);
    s.push_str(&format!(
        "  field zer: f32[47] = csv(\"mfeat-zer.csv\", columns = 0..{zer})\n"
    ));
    s.push_str("  field mor: f32[6] = csv(\"mfeat-mor.csv\", columns = 0..6)\n");
    let label_classes = c.pick(rng, &["10"], &["3", "0"]);
    s.push_str(&format!(
        "  field label: i64[] = csv(\"mfeat-fou.csv\", column = 76, classes = {label_classes})\n"
    ));
    let train = c.pick(rng, &["0.6"], &["0.0", "1.5", "-0.1"]);
    s.push_str(&format!(
        "  split = stratified(label, train = {train}, valid = 0.2, test = 0.2, seed = 0)\n"
    ));
    if chance(rng, 70) {
        s.push_str("  standardize = [fou, zer, mor]\n");
    }
    s.push_str(
        "}\n\ntrain {\n  model = M\n  data = mfeat\n  task = classification(logits, label)\n",
    );
    let optimizer = c.pick(
        rng,
        &[
            "adam(lr = 1e-3)",
            "adamw(lr = 3e-4, weight_decay = 0.01)",
            "sgd(lr = 0.1, momentum = 0.9)",
        ],
        &[
            "adam(lr = 0)",
            "adam(lr = -1)",
            "adam(lr = 1e400)",
            "adam(lr = 1e-3, betas = [0.9, 1.5])",
            "sgd(lr = 0.1, momentum = -2)",
            "adam(lr = 1e-3, eps = 0)",
        ],
    );
    s.push_str(&format!(
        "  optimizer main = {optimizer}\n  step main minimize task\n"
    ));
    let batch = c.pick(rng, &["32", "8", "2"], &["1", "0", "100000000"]);
    let epochs = c.pick(rng, &["1", "2"], &["0"]);
    let seed = c.pick(rng, &["0", "1"], &["18446744073709551615", "-1"]);
    s.push_str(&format!(
        "  batch_size = {batch}\n  epochs = {epochs}\n  seed = {seed}\n"
    ));
    if chance(rng, 40) {
        let clip = c.pick(rng, &["1.0", "50.0"], &["0", "-1", "1e400"]);
        s.push_str(&format!("  clip_norm = {clip}\n"));
    }
    if chance(rng, 30) {
        let schedule = c.pick(
            rng,
            &[
                "cosine(min_lr = 1e-5)",
                "step(every = 2, gamma = 0.5)",
                "plateau(factor = 0.5, patience = 2)",
            ],
            &[
                "step(every = 0, gamma = 0.5)",
                "step(every = 2, gamma = -1)",
                "plateau(factor = 2.0)",
            ],
        );
        s.push_str(&format!("  schedule = {schedule}\n"));
    }
    let select = c.pick(
        rng,
        &["valid.accuracy", "valid.loss"],
        &["valid.nope", "test.accuracy"],
    );
    s.push_str(&format!("  select = {select}\n}}\n"));
    s
}

const PRIMS: &[&str] = &[
    "linear",
    "relu",
    "tanh",
    "sigmoid",
    "gelu",
    "dropout",
    "layer_norm",
    "batch_norm",
    "concat",
    "reshape",
    "transpose",
    "mean",
    "sum",
    "max",
    "select",
    "slice",
    "softmax",
    "log_softmax",
    "lstm",
    "gru",
    "attention",
    "positions",
    "conv1d",
    "conv2d",
    "outer",
    "matmul",
    "embedding",
    "pad",
    "split",
    "last_valid",
    "stop_gradient",
    "noise",
    "param",
    "len",
    "dim",
    "range",
    "without",
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
        s.push_str(&format!(
            "block Blk{i}(x: f32[B, D], k: int = {}) -> f32[B, _] {{\n",
            one(rng, SIZES)
        ));
        let n = 1 + pick(rng, 6);
        statements(rng, &mut s, n, 1);
        s.push_str("  return x\n}\n");
    }
    for i in 0..1 + pick(rng, 2) {
        s.push_str(&format!("model Mod{i} {{\n"));
        for (n, ty) in [("x", "f32[B, 8]"), ("t", "f32[B, T, 4]"), ("y", "i64[B]")] {
            if chance(rng, 80) {
                s.push_str(&format!("  input {n}: {ty}\n"));
            }
        }
        let n = 1 + pick(rng, 10);
        statements(rng, &mut s, n, 1);
        s.push_str(one(
            rng,
            &[
                "  output o = linear(x, 3)\n  loss l = cross_entropy(o, y)\n",
                "  output o = x\n",
                "",
            ],
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
                let n = 1 + pick(rng, 3);
                statements(rng, s, n, depth + 1);
                s.push_str(&format!("{indent}}}\n"));
            }
            1 if depth < 4 => {
                s.push_str(&format!("{indent}if {} {{\n", expr(rng, 2)));
                let n = 1 + pick(rng, 2);
                statements(rng, s, n, depth + 1);
                s.push_str(&format!("{indent}}} else {{\n"));
                statements(rng, s, 1, depth + 1);
                s.push_str(&format!("{indent}}}\n"));
            }
            2 => s.push_str(&format!(
                "{indent}param p{}: int = {}\n",
                pick(rng, 4),
                expr(rng, 2)
            )),
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
            &[
                "x", "t", "y", "h", "xs", "k", "i", "B", "T", "1", "0", "64", "-1", "0.5", "true",
                "none", "\"s\"", "1e400",
            ],
        )
        .to_string();
    }
    let d = depth - 1;
    match pick(rng, 10) {
        0 => format!(
            "[{}]",
            (0..pick(rng, 4))
                .map(|_| expr(rng, d))
                .collect::<Vec<_>>()
                .join(", ")
        ),
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
                        format!(
                            "{} = {}",
                            one(rng, &["axis", "dim", "sizes", "heads", "p", "k"]),
                            expr(rng, d)
                        )
                    } else {
                        expr(rng, d)
                    }
                })
                .collect();
            let callee = if chance(rng, 80) {
                one(rng, PRIMS).to_string()
            } else {
                one(
                    rng,
                    &[
                        "Mlp",
                        "Blk0",
                        "Blk1",
                        "AutoFusion",
                        "Classifier",
                        "MulT",
                        "Nope",
                    ],
                )
                .to_string()
            };
            format!("{callee}({})", args.join(", "))
        }
    }
}
