//! Every diagnostic code fusec reports, with the stage that reports it and what it means. docs/CHECKS.md's table
//! of codes is this list, and tests keep the three in step: every `"fusec::..."` code in the sources is listed
//! here, every listed code is in the sources, the table matches, and every code a user can meet is exercised by a
//! test.

/// One diagnostic code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    /// The stage that reports it: syntax, lowering, checking, data, training, command line.
    pub stage: &'static str,
    pub meaning: &'static str,
    /// Guards an invariant no user input can break (a bug in fusec when it appears), so no test triggers it.
    pub internal: bool,
}

const fn code(code: &'static str, stage: &'static str, meaning: &'static str) -> Code {
    Code {
        code,
        stage,
        meaning,
        internal: false,
    }
}

const fn internal(code: &'static str, stage: &'static str, meaning: &'static str) -> Code {
    Code {
        code,
        stage,
        meaning,
        internal: true,
    }
}

/// Every code, sorted.
pub const CODES: &[Code] = &[
    code("fusec::arity", "lowering, checking", "a call with the wrong number of arguments, or an op with the wrong number of tensor operands"),
    code("fusec::assert", "lowering", "an `assert` in a block or model failed"),
    code("fusec::block::output", "lowering", "a block's returned value does not match its declared outputs"),
    code("fusec::block::recursion", "lowering", "a block calls itself, directly or through others"),
    code("fusec::block::statement", "lowering", "a statement that only a model may hold (`input`, `output`, `loss`) inside a block"),
    code("fusec::cli::device", "command line", "`--device` names no device (or CUDA is not available in this build)"),
    code("fusec::cli::mode", "command line", "`--mode` is not `train`, `train:STEP`, `eval` or `predict`, names no step of the plan, or asks for training without a `train` section"),
    code("fusec::cli::split", "command line", "`--split` is not `train`, `valid` or `test`"),
    code("fusec::cli::sweep", "command line", "a malformed `fusec sweep` flag (`--grid`, `--space`, `--seeds`, `--executor`, `--workers`, `--metric`) or a key given twice"),
    code("fusec::data::class_unknown", "data", "a label in the data is not among the field's `classes = [...]` names"),
    code("fusec::data::classes", "lowering", "a `classes = [...]` list names a class twice or fewer than two classes"),
    code("fusec::data::column", "data", "a `column` named by its header (a text field's, or `csv(column = \"label\")`) is missing from the file"),
    code("fusec::data::columns", "lowering", "a `csv(...)` source gives both or neither of `columns = a..b` and `column = k`, or names a column without a header"),
    code("fusec::data::dtype", "data", "a field's values do not fit its declared dtype (fractions in an `i64` field)"),
    code("fusec::data::duplicate", "lowering", "a `data` section sets one key twice"),
    code("fusec::data::duplicate_field", "data", "a data set declares one field twice"),
    code("fusec::data::empty", "data", "a data file has no rows (an empty CSV, or only its header)"),
    code("fusec::data::field", "lowering", "a data setting names a field the data set does not declare"),
    code("fusec::data::files", "lowering, data", "a source's files do not fit the split: one file and per-split files at once, no `train` or `test` file, per-split files under a split of one file, fields that disagree on a `valid` file"),
    code("fusec::data::format", "data", "a data file is not in the format its extension says (bad NumPy header, bad gzip)"),
    code("fusec::data::input_mismatch", "data", "a model input and the data field of its name disagree in dtype or dims"),
    code("fusec::data::inspect::format", "command line", "`fusec data inspect` got a file type it does not read"),
    code("fusec::data::inspect::read", "command line", "`fusec data inspect` cannot read the file"),
    code("fusec::data::io", "data", "a data file exists but cannot be read (a folder, no permission)"),
    code("fusec::data::kfold", "lowering, data", "`split = kfold(...)` cannot make its folds: fewer than 2 folds, more folds than examples (of the smallest class, when stratified), a bad `valid`, or `--set data.fold` outside `1..=k` or without folds"),
    code("fusec::data::label_range", "data", "class labels outside `0..classes`"),
    code("fusec::data::labels", "lowering", "a `labels = \"...\"` reading of a pickle source that fusec does not know"),
    code("fusec::data::missing_file", "data", "a data file does not exist (with where to get the data set)"),
    code("fusec::data::missing_key", "data", "an `.npz` or safetensors file has no array of the requested name"),
    code("fusec::data::no_field", "data", "a model input has no data field of its name (checked before loading)"),
    code("fusec::data::nonfinite", "lowering", "an unknown `nonfinite = \"...\"` setting"),
    code("fusec::data::parse", "data", "a CSV cell that is not a number"),
    code("fusec::data::pickle::bad_opcode", "data", "a pickle uses an opcode fusec does not read"),
    code("fusec::data::pickle::dtype", "data", "a release pickle's labels are not numeric"),
    code("fusec::data::pickle::labels", "data", "a release pickle's labels have the wrong shape or non-finite values"),
    code("fusec::data::pickle::layout", "data", "a pickle is neither the MulT nor the LMF release layout"),
    code("fusec::data::pickle::lmf_features_differ", "data", "the emotions of an LMF release disagree on a feature array"),
    code("fusec::data::pickle::malformed", "data", "a pickle's opcodes do not build a value (stack underflow, bad memo)"),
    code("fusec::data::pickle::missing_key", "data", "a release pickle lacks a split or a field key"),
    code("fusec::data::pickle::refused", "data", "a pickle names a global outside the allow-list (it is never executed)"),
    code("fusec::data::pickle::rows", "data", "the arrays of one split of a release pickle have different numbers of rows"),
    code("fusec::data::pickle::shape", "data", "a release pickle's array has an unexpected rank"),
    code("fusec::data::pickle::truncated", "data", "a pickle ends in the middle of a value"),
    code("fusec::data::rows", "data", "the fields of a data set hold different numbers of examples"),
    code("fusec::data::shape", "data", "a field's values do not have its declared per-example dims"),
    code("fusec::data::split", "lowering", "split fractions that are negative or do not add up to 1"),
    code("fusec::data::split_empty_class", "data (warning)", "a split leaves a class of a label field without examples"),
    code("fusec::data::split_ids", "data", "`split = column(...)`'s `id` column names an id twice, misses an example, or names no example"),
    code("fusec::data::split_rounding", "data (warning)", "split sizes far from the asked fractions (a stratified split of small classes)"),
    code("fusec::data::standardize", "lowering, data", "`standardize` names a field that is not a float field"),
    code("fusec::data::text", "data", "a text field is not declared `i64[T]`, or its lines do not match the other fields"),
    code("fusec::data::unknown_field", "data", "a train setting names a field the data set does not declare"),
    code("fusec::data::unknown_key", "lowering", "a `data { }` block has a setting fusec does not know"),
    code("fusec::data::vocab", "data", "a vocabulary file cannot be read back (missing special tokens, duplicates)"),
    code("fusec::dtype::mismatch", "checking", "ids/labels where floats are needed or the reverse, mixed dtypes in arithmetic"),
    code("fusec::fmt::unformatted", "command line", "`fusec fmt --check`: the file is not in the canonical layout (labelled at the first line that would change)"),
    code("fusec::fusion::tfn_width", "checking (warning)", "a tensor-fusion outer product so wide that the next layer has more weights than fit comfortably"),
    code("fusec::grad::flow", "training (warning)", "a trainable parameter gets no gradient, an all-zero one or a non-finite one"),
    code("fusec::graph::cycle", "checking", "a value computed from itself (cannot be written in source; kept for IR built by other front ends)"),
    code("fusec::import::clash", "lowering", "an imported name is already defined in the importing file"),
    code("fusec::import::cycle", "lowering", "files import each other in a cycle"),
    code("fusec::import::missing", "lowering", "an imported file cannot be read"),
    code("fusec::import::not_file", "lowering", "a source is a FIFO, a device, a socket, a folder or a file under `/proc`, `/sys` or `/dev`: refused without reading"),
    code("fusec::import::not_fuse", "lowering", "an import names a file that does not end in `.fuse`: refused unread"),
    code("fusec::import::not_text", "lowering", "a source is not UTF-8 text or holds NUL bytes; its contents are not shown"),
    code("fusec::import::outside", "lowering", "an import resolves (links followed) outside the root file's folder tree and every `--allow-import` folder"),
    internal("fusec::import::std_relative", "lowering", "a standard-library module imports a file (the embedded stdlib never does)"),
    code("fusec::import::unknown", "lowering", "an imported module has no block of that name"),
    code("fusec::import::unknown_module", "lowering", "there is no standard module of that name"),
    internal("fusec::internal", "any", "a bug in fusec: something that checked IR cannot do happened"),
    internal("fusec::internal::plot", "command line", "drawing a figure failed (the data is checked before drawing, so a bug)"),
    internal("fusec::internal::syntax", "syntax", "the parser met a grammar rule the syntax tree does not know (a bug)"),
    code("fusec::limit::list", "lowering", "a range or list longer than fusec unrolls"),
    code("fusec::limit::loop", "lowering", "loops unroll more than the step budget"),
    code("fusec::limit::memory", "checking", "the memory estimate (parameters, gradients, optimizer state, activations at the batch size) exceeds `--max-memory`"),
    code("fusec::limit::nesting", "syntax", "expressions or blocks nested deeper than the parser allows"),
    code("fusec::limit::nodes", "lowering", "a model with more nodes than fusec builds"),
    code("fusec::limit::source", "syntax", "a source file larger than 2 MiB"),
    code("fusec::limit::value", "lowering", "a compile-time value (a list, a dim expression) of more than a million elements"),
    code("fusec::limit::work", "lowering", "compile-time evaluation does more work than the program budget (block calls in block calls)"),
    code("fusec::model::empty", "lowering (warning)", "a model with no outputs and no losses"),
    code("fusec::name::as_nothing", "lowering", "`expr as name` where the expression makes no node or block instance to name"),
    code("fusec::name::duplicate", "lowering", "a name defined twice in one scope"),
    code("fusec::name::field", "lowering", "`x.f` names no output of `x`"),
    code("fusec::name::model", "command line", "`--model` names no model of the file (or the file has none)"),
    code("fusec::name::not_value", "lowering", "a block or primitive used where a value is needed"),
    code("fusec::name::unknown", "lowering", "an unknown name, block or primitive (with a \"did you mean\")"),
    code("fusec::param::duplicate", "lowering", "one argument given twice"),
    code("fusec::param::missing", "lowering", "a required argument is missing"),
    code("fusec::param::type", "lowering", "an argument of the wrong kind (a tensor where an int is needed, ...)"),
    code("fusec::param::unknown", "lowering", "an argument name the block or primitive does not have"),
    code("fusec::param::value", "lowering", "an argument out of range (a probability outside [0, 1), a non-positive size, an unknown choice)"),
    code("fusec::plot::output", "command line", "`fusec plot --output` names a file of another format than .svg or .png, one file for several figures, or a place that cannot be written"),
    code("fusec::plot::rundir", "command line", "`fusec plot` was given a directory that is missing, holds nothing to plot, or holds a damaged metrics, report, robustness or comparison file"),
    internal("fusec::predict::no_model", "command line", "a recorded run whose program has no model (a run records only programs that trained)"),
    code("fusec::run::classes", "command line", "`eval` or `resume` finds other class names in the data than the run was trained with"),
    code("fusec::run::config", "training", "the plan or the data does not fit the model at run time, or a flag names something the run does not have"),
    code("fusec::run::io", "training", "the run directory cannot be read or written (no checkpoint, a damaged file)"),
    code("fusec::run::non_finite", "training", "a loss became NaN or infinite (with every term's value)"),
    code("fusec::run::resume", "training", "`--resume` of a directory that holds no recorded run, or with a file or flags that would change the run"),
    code("fusec::run::source", "training", "`eval`, `predict` or `translate` with a file that is not the one the run was trained from"),
    code("fusec::section::conflict", "lowering", "a file would run two train plans (its own beside an imported one, or two imported ones)"),
    code("fusec::section::unknown", "lowering", "a `data` or `train` section meant to extend an imported one names none (with a \"did you mean\")"),
    code("fusec::set::unknown", "lowering", "`--set` names no train key, data key, model param or block argument"),
    code("fusec::set::value", "lowering", "a `--set` value of the wrong type or range"),
    code("fusec::shape::axis", "checking", "an axis outside `-rank..rank`"),
    code("fusec::shape::field", "checking", "a model input has no field in the data set the plan reads"),
    code("fusec::shape::index", "checking", "a `select` index or `slice` range outside a fixed axis"),
    code("fusec::shape::loss", "checking", "a loss or named block scalar that is not `f32[]`"),
    code("fusec::shape::mismatch", "checking", "dims that must agree do not (broadcasting, matmul inner dims, concat rows, split sizes, port types, loss shapes, batch dims of lengths / attention memory)"),
    code("fusec::shape::not_fixed", "checking", "a size that must be a number is symbolic (a `linear` over `[B, T]`, padding a symbolic axis, a strided conv over `T`)"),
    code("fusec::shape::rank", "checking", "an op got a tensor of the wrong rank (`lstm` needs `[B, T, I]`, `outer` `[B, n]`, ...)"),
    code("fusec::shape::reshape", "checking", "a reshape changes the element count or invents a symbol"),
    code("fusec::shape::shared", "checking", "a shared instance applied to inputs that need different weight shapes"),
    code("fusec::shape::size", "checking", "a size is zero, negative, too large, or does not fit (heads not dividing the width, a kernel longer than the input)"),
    code("fusec::shape::task", "checking", "the train plan's task output / target do not fit its kind (classification: `[B, C]` vs `i64[B]`; binary_per_label: `[B, K, 2]` or `[B, 2K]` vs `i64[B, K]`; regression: `[B]`/`[B, 1]` vs float of the same shape)"),
    code("fusec::sweep::changed", "command line", "`fusec sweep` into a directory that holds another sweep (a file edited, other settings)"),
    code("fusec::sweep::failed", "training", "trials of a sweep ended without a report (each with its log)"),
    code("fusec::sweep::slurm", "command line", "Slurm cannot be used: `sbatch`, `squeue` missing or refusing the job"),
    code("fusec::syntax::number", "syntax", "a number that does not fit in 64 bits"),
    code("fusec::syntax::unexpected", "syntax", "the parser expected something else here"),
    code("fusec::train::classes", "training", "class labels in the data outside the classes the model scores"),
    code("fusec::train::data", "lowering", "the plan reads a data set the file does not declare"),
    code("fusec::train::duplicate", "lowering", "an optimizer declared twice"),
    code("fusec::train::loss", "lowering", "a step minimizes a loss the model does not have"),
    code("fusec::train::metric", "lowering", "a metric the task does not compute"),
    code("fusec::train::missing", "command line", "a training command on a file without a `train { }` plan"),
    code("fusec::train::model", "lowering", "the plan trains a model the file does not declare"),
    code("fusec::train::objective", "lowering", "a step's objective is not a weighted sum of loss names"),
    code("fusec::train::optimizer", "lowering", "a step names an optimizer the plan does not declare"),
    code("fusec::train::precision", "lowering", "`precision` names no known precision (`\"f32\"` or `\"bf16\"`)"),
    code("fusec::train::robustness", "lowering", "a malformed `robustness = [...]` case"),
    code("fusec::train::select", "lowering", "`select` does not name a split and a metric"),
    code("fusec::train::task", "lowering", "the task names an output or target the model does not have"),
    code("fusec::train::unknown_key", "lowering", "a `train { }` setting fusec does not know"),
    code("fusec::train::unused_optimizer", "lowering", "an optimizer no step uses"),
    code("fusec::train::value", "lowering", "a train setting out of range (a non-positive learning rate, batch size, ...)"),
    code("fusec::train::vocab", "training", "a target text field's vocabulary is larger than the decoder scores"),
    code("fusec::type::dim", "lowering", "a dim in a type that is neither an int nor a symbol"),
    code("fusec::type::dtype", "lowering", "an unknown dtype"),
    code("fusec::type::unknown", "lowering", "an unknown parameter type of a block"),
    code("fusec::unused::input", "checking (warning)", "a model input nothing reads"),
    code("fusec::unused::name", "lowering (warning)", "a name defined in a user file and never used"),
    code("fusec::unused::output", "checking (warning)", "a named output of a top-level block call that nothing reads while another output of the call is used"),
    code("fusec::value::arith", "lowering", "compile-time arithmetic that overflows or divides by zero"),
    code("fusec::value::index", "lowering", "a list index out of range"),
    code("fusec::value::kind", "lowering", "a setting that is not one of its allowed forms (`split = stratified(...)`, ...)"),
    code("fusec::value::not_callable", "lowering", "a call of a value that is no block, primitive or shared instance"),
    code("fusec::value::not_constant", "lowering", "a `--set` value that is not a constant"),
    code("fusec::value::range", "lowering", "a compile-time int below its minimum"),
    code("fusec::value::shared", "lowering", "`shared` without a call of a block or primitive"),
    code("fusec::value::type", "lowering", "a compile-time value of the wrong type (a float where an int is needed, ...)"),
];

/// The table of docs/CHECKS.md (between its `codes` markers), one row per code.
pub fn markdown_table() -> String {
    let mut s = String::from("| code | reported by | meaning |\n|---|---|---|\n");
    for c in CODES {
        let note = if c.internal {
            " (internal: a bug in fusec)"
        } else {
            ""
        };
        s.push_str(&format!(
            "| `{}` | {} | {}{note} |\n",
            c.code, c.stage, c.meaning
        ));
    }
    s
}
