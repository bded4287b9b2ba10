//! The data and training parts of a program after lowering: what `data { }` and `train { }` declare, with every
//! value folded (after `--set` overrides) and every span kept for the diagnostics of later stages (data loading).

use serde::Serialize;

use super::types::{DimExpr, Dtype};
use crate::source::Span;

/// A `data name { ... }` declaration.
#[derive(Clone, Debug, Serialize)]
pub struct DataSpec {
    pub name: String,
    /// Base folder as written (relative to the declaring file's folder), after `--set data.path=`.
    pub path: String,
    /// Folder of the file that declares this data set, as the loader handed it in; relative paths start there.
    pub declared_in: String,
    pub fields: Vec<FieldSpec>,
    pub split: SplitSpec,
    pub standardize: Vec<String>,
    /// What loading does with NaN and infinite feature values (`nonfinite = "error" | "zero"`).
    pub nonfinite: NonFinite,
    pub span: Span,
    /// The `split = ...` setting (the data set's name when the split is implied), for split diagnostics.
    #[serde(skip)]
    pub split_span: Span,
}

/// Handling of non-finite feature values when loading data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum NonFinite {
    /// Report every field with NaN or infinite values as an error (the default).
    #[default]
    Error,
    /// Replace them by 0 (before standardization) and count them in the data report.
    Zero,
}

#[derive(Clone, Debug, Serialize)]
pub struct FieldSpec {
    pub name: String,
    pub dtype: Dtype,
    /// Dims of one example (the example axis excluded).
    pub dims: Vec<DimExpr>,
    pub source: SourceSpec,
    /// Number of classes for a label field, if declared.
    pub classes: Option<i64>,
    /// Class names in index order (`classes = ["wt", "ppar"]`): the field's values are these names, read as
    /// their positions. Labels that are names without this list take the sorted order of the names found.
    pub class_names: Option<Vec<String>>,
    pub span: Span,
}

/// Where a field's values come from. With `SplitSpec::Files`, `files` holds one entry per split.
#[derive(Clone, Debug, Serialize)]
pub struct SourceSpec {
    pub kind: SourceKind,
    /// `(split, file)`; split is `"all"` for one file split later.
    pub files: Vec<(String, String)>,
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub enum SourceKind {
    /// Columns `start..end` (or the single column `start`, with `end = start + 1`), header row skipped if `header`.
    Csv {
        start: usize,
        end: usize,
        header: bool,
        scalar: bool,
    },
    /// `csv(file, column = "label")`: the one column the header row names so, found when the file is read.
    CsvNamed {
        column: String,
        scalar: bool,
    },
    Npy,
    Npz {
        key: String,
    },
    Safetensors {
        key: String,
    },
    /// Sentences tokenized into word ids (`data::text`): one per line of a text file (optionally gzipped), or
    /// one per row of a tab-separated file's `column` (header row naming the columns). The vocabulary is built
    /// on the training split (or read from `vocab`); ids are PAD 0, BOS 1, EOS 2, UNK 3, then words.
    Text(TextOptions),
    /// The token count (BOS/EOS included) of each example of the text field `of`.
    Lengths {
        of: String,
    },
    /// A key of a multimodal feature-release pickle (`mult_pickle` / `lmf_pickle`). The file holds its own
    /// train/valid/test splits; non-finite features become 0 (as MulT and LMF do) and are counted.
    Pickle {
        layout: PickleLayout,
        key: String,
        labels: Option<PickleLabels>,
    },
}

/// The two public layouts of the IEMOCAP / CMU-MOSI / CMU-MOSEI features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum PickleLayout {
    /// MulT's `{split: {text, audio, vision, labels}}`.
    Mult,
    /// LMF's `data[emotion][split][key]`, one-hot labels merged over the four emotions.
    Lmf,
}

/// How a pickle's label array becomes a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PickleLabels {
    /// IEMOCAP: one binary label per emotion, i64 `[4]` (neutral, happy, sad, angry).
    Emotions,
    /// IEMOCAP's 4-way formulation: the index of the first emotion present (argmax, ties to the first), i64 `[]`.
    Argmax,
    /// CMU-MOSI / MOSEI: the sentiment score in [-3, 3], f32 `[]`.
    Sentiment,
}

impl PickleLabels {
    pub fn parse(s: &str) -> Option<PickleLabels> {
        match s {
            "emotions" => Some(PickleLabels::Emotions),
            "argmax" => Some(PickleLabels::Argmax),
            "sentiment" => Some(PickleLabels::Sentiment),
            _ => None,
        }
    }
}

/// Tokenization and vocabulary options of a `text(...)` source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TextOptions {
    /// The column of a `.tsv` file; `None` reads one sentence per line.
    pub column: Option<String>,
    pub lowercase: bool,
    pub punct: Punct,
    /// Words seen fewer times than this in the training split become UNK.
    pub min_freq: usize,
    /// At most this many tokens (specials included): the most frequent words are kept, the rest are UNK. A
    /// model's `vocab` sizes are compile-time numbers, so this is how data and model agree.
    pub max_vocab: Option<usize>,
    /// Training examples with more tokens (BOS/EOS included) are dropped from the training split.
    pub max_len: Option<usize>,
    pub bos: bool,
    pub eos: bool,
    /// A vocabulary file (one token per line, the four specials first) to use instead of building one.
    pub vocab: Option<String>,
    /// The text is already split into SentencePiece pieces (`▁how ▁to`): pieces are merged back (`how to`)
    /// before scoring and in translations.
    pub pieces: bool,
    /// The language whose detokenization rules invert `punct = "split"` for printing and scoring
    /// (`data/detok.rs`); `Lang::Any` applies only the language-independent rules.
    pub lang: Lang,
}

/// Languages with detokenization rules of their own (`text(..., lang = "de")`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Lang {
    /// Only the rules every language shares.
    Any,
    English,
    German,
    Portuguese,
}

impl Lang {
    /// Every code `lang = "..."` accepts, with its language.
    pub const CODES: [(&'static str, Lang); 3] = [
        ("en", Lang::English),
        ("de", Lang::German),
        ("pt", Lang::Portuguese),
    ];

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::CODES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, l)| *l)
    }
}

/// Punctuation handling of the word tokenizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Punct {
    /// Split on whitespace only.
    Keep,
    /// Punctuation characters become tokens of their own.
    Split,
    /// Punctuation characters are removed.
    Strip,
}

#[derive(Clone, Debug, Serialize)]
pub enum SplitSpec {
    /// Seeded, stratified by a label field.
    Stratified {
        by: String,
        train: f64,
        valid: f64,
        test: f64,
        seed: u64,
    },
    /// Seeded, not stratified.
    Random {
        train: f64,
        valid: f64,
        test: f64,
        seed: u64,
    },
    /// Every source names its own file per split (`split = files(valid = 0.2, stratify = label, seed = 0)`, or
    /// implied by per-split files).
    Files {
        /// The fraction of the training files carved out as the validation split when no source names a valid
        /// file (0.2 unless given); `None` when the sources hold their own validation split.
        valid: Option<f64>,
        /// The label field the carving is stratified by; `None`: the data set's one scalar class label field,
        /// if it has exactly one.
        stratify: Option<String>,
        seed: u64,
    },
    /// A `.tsv` file's `column` names each example's split (`train`, `valid`/`val`/`dev`, `test`), row i for
    /// example i (emoji-mt's `split.tsv`).
    Column { file: String, column: String },
    /// `split = kfold(k = 5, stratify = label, seed = 0, valid = 0.2)`: the examples (a pickle's own splits
    /// concatenated) are dealt into `k` folds, per class of `stratify` when given; fold `fold` (1-based) is the
    /// test split and `valid` of the remaining folds (per class, seeded) the validation split. `fusec run` trains
    /// every fold, each with `fold` set (`--set data.fold=N`); one fold alone is fold 1 unless set.
    KFold {
        k: usize,
        stratify: Option<String>,
        seed: u64,
        valid: f64,
        fold: Option<usize>,
    },
}

/// What the metrics compare.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub enum TaskKind {
    /// Logits `[B, C]`, labels `i64[B]`.
    Classification,
    /// Logits `[B, K, 2]` (or `[B, 2K]`), labels `i64[B, K]` in {0, 1}: MulT's IEMOCAP convention.
    BinaryPerLabel,
    /// Predictions `[B]` or `[B, 1]`, targets f32.
    Regression,
    /// Decoder logits `[B, T, V]` (an `attention_decoder` output) and target token ids `i64[B, T]`: metrics
    /// decode (greedy; beam search in the final test report) and score with BLEU and chrF.
    Translation,
}

impl TaskKind {
    /// The metric names the task accepts in `metrics = [...]` and `select` (besides `loss`); `train::metrics`
    /// computes each of them. For `BinaryPerLabel` these are averages over labels; the same names prefixed by a
    /// label (`label0.acc`, or `neutral.acc` when label names are given) are accepted too.
    pub fn metric_names(&self) -> &'static [&'static str] {
        match self {
            TaskKind::Classification => CLASSIFICATION_METRICS,
            TaskKind::BinaryPerLabel => PER_LABEL_METRICS,
            TaskKind::Regression => REGRESSION_METRICS,
            TaskKind::Translation => TRANSLATION_METRICS,
        }
    }
}

const CLASSIFICATION_METRICS: &[&str] = &[
    "accuracy",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
];
/// Averages over labels; each also exists per label as `{label}.{suffix}`.
const PER_LABEL_METRICS: &[&str] = &["acc", "f1_weighted", "majority", "f1_pos"];
const REGRESSION_METRICS: &[&str] = &[
    "mae",
    "corr",
    "acc2",
    "f1",
    "acc2_nonzero",
    "f1_nonzero",
    "f1_nonzero_mult",
    "acc7",
];
/// Greedy decoding during training; beam search (beam 5) in the final test report.
const TRANSLATION_METRICS: &[&str] = &["bleu", "chrf", "bleu_beam5", "chrf_beam5"];

#[derive(Clone, Debug, Serialize)]
pub struct TaskSpec {
    pub kind: TaskKind,
    /// A model output name.
    pub output: String,
    /// A model input (data field) name.
    pub target: String,
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub enum OptimizerKind {
    /// PyTorch Adam; `weight_decay` is the coupled L2 penalty (added to the gradient).
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    },
    /// PyTorch AdamW: decoupled weight decay.
    AdamW {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    },
    /// PyTorch SGD with momentum (no dampening, no Nesterov) and coupled weight decay.
    Sgd {
        lr: f64,
        momentum: f64,
        weight_decay: f64,
    },
}

impl OptimizerKind {
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerKind::Adam { lr, .. }
            | OptimizerKind::AdamW { lr, .. }
            | OptimizerKind::Sgd { lr, .. } => *lr,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct OptimizerSpec {
    pub name: String,
    pub kind: OptimizerKind,
    /// Globs over parameter paths (`*` any run of characters, `?` one); empty = every parameter no other
    /// optimizer claims.
    pub params: Vec<String>,
    pub span: Span,
}

/// One term `weight · name` of a step's objective.
#[derive(Clone, Debug, Serialize)]
pub struct LossTerm {
    pub weight: f64,
    /// A model loss or named block scalar.
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepSpec {
    pub name: String,
    pub terms: Vec<LossTerm>,
    /// Optimizer name; defaults to the step's own name.
    pub optimizer: String,
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub enum Schedule {
    Constant,
    /// Multiply the rate by `gamma` every `every` epochs.
    Step {
        every: usize,
        gamma: f64,
    },
    /// Cosine from the base rate to `min_lr` over all epochs.
    Cosine {
        min_lr: f64,
    },
    /// Multiply by `factor` after `patience` epochs without improvement of the selection metric.
    Plateau {
        factor: f64,
        patience: usize,
    },
}

/// Model selection: a metric on a split, minimised for losses and maximised otherwise.
#[derive(Clone, Debug, Serialize)]
pub struct Selection {
    pub split: String,
    pub metric: String,
    pub maximize: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainPlan {
    pub model: String,
    pub data: String,
    pub task: TaskSpec,
    pub optimizers: Vec<OptimizerSpec>,
    pub steps: Vec<StepSpec>,
    pub batch_size: usize,
    pub epochs: usize,
    pub seed: u64,
    pub clip_norm: Option<f64>,
    pub schedule: Schedule,
    pub patience: Option<usize>,
    pub select: Selection,
    pub metrics: Vec<String>,
    /// The robustness evaluation (`robustness = [...]`), empty when the plan declares none.
    pub robustness: Vec<RobustnessCase>,
    /// The dtype of the forward and backward passes (`precision = "bf16"`); parameters and optimizer state are
    /// f32 either way.
    pub precision: Precision,
    pub span: Span,
}

/// The arithmetic of training and evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// Mixed precision: matrix products, activations and recurrences in bf16; losses, softmax and
    /// normalization in f32; f32 master weights (each step casts them) and f32 optimizer state.
    Bf16,
}

impl Precision {
    /// The names `precision = "..."` accepts, in the order of the variants.
    pub const NAMES: [&'static str; 2] = ["f32", "bf16"];

    pub fn parse(name: &str) -> Option<Precision> {
        match name {
            "f32" => Some(Precision::F32),
            "bf16" => Some(Precision::Bf16),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

/// How the robustness evaluation perturbs one input at evaluation time.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub enum Perturbation {
    /// The modality removed: every value replaced by 0.
    Zero,
    /// The modality removed: every value replaced by its per-feature mean over the training split.
    Mean,
    /// Gaussian noise of `std` times the per-feature training standard deviation added to every value (on
    /// standardized inputs, a noise of standard deviation `std`).
    Noise { std: f64 },
}

/// One row of the robustness table: an input field perturbed one way.
#[derive(Clone, Debug, Serialize)]
pub struct RobustnessCase {
    /// A model input (data field) name.
    pub field: String,
    pub perturbation: Perturbation,
    pub span: Span,
}
