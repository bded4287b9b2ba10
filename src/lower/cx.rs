//! The lowering context of one model: the graph being built, the stack of frames (the model body and the block
//! instances inside it), name scopes, hierarchical naming of nodes, and error reporting with call-site labels.

use std::collections::{HashMap, HashSet};

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{BlockInstance, Graph, ModelInput, NamedValue, Node, Op, Value};
use crate::source::{SourceMap, Span};
use crate::syntax::ast::Ident;

use super::modules::Module;
use super::overrides::Overrides;
use super::value::Val;

/// Deepest nesting of block instances; deeper means a block calls itself.
pub const MAX_DEPTH: usize = 48;
/// Most nodes one model may have; more means a runaway loop.
pub const MAX_NODES: usize = 200_000;
/// Most loop iterations (and comprehension elements) one model may unroll, nested loops included.
pub const MAX_STEPS: usize = 1_000_000;
/// Most nodes one compile-time value may hold (list elements and dim-expression nodes, nested ones included):
/// doubling a list or a symbolic dim in a loop stops here instead of exhausting memory.
pub const MAX_VALUE: usize = 1_000_000;
/// Most compile-time work one program may do: one unit per expression evaluated, the size of every value it
/// produces (what copying it costs), [`NODE_WORK`] per graph node and [`BLOCK_WORK`] per block call. Bounds the time and memory of lowering
/// (well under a second and 1 GB) whatever the blocks and loops multiply to.
pub const MAX_WORK: u64 = 10_000_000;
/// The work of one graph node: a node with its path and call sites weighs about as much as 20 small values.
pub const NODE_WORK: u64 = 20;
/// The work of one block instantiation besides its body: a frame, scopes and a recorded instance.
pub const BLOCK_WORK: u64 = 20;
/// The work of reporting one diagnostic (its message, labels and the walk up the call sites), charged even when
/// it repeats an earlier one, so errors repeated across inlined calls run into the budget too.
pub const DIAG_WORK: u64 = 20;

/// The work budget of one program's lowering, shared by all its models.
#[derive(Debug, Default)]
pub struct Work {
    pub spent: u64,
    /// Set once the limit was reported, so it is reported once.
    pub exhausted: bool,
    /// Fingerprints of the diagnostics reported so far: a block inlined from many call sites reports the same
    /// error at the same place once, not once per call (the fuzz harness found a recursive block called from
    /// 8^5 sites piling up 300,000 copies of three errors, 300 MB, before the budget stopped it).
    pub reported: HashSet<u64>,
    /// Code and primary span of every diagnostic reported so far (see [`Cx::fail_once`]).
    pub reported_at: HashSet<(&'static str, Span)>,
}

/// A bound name.
#[derive(Clone, Debug)]
pub struct Binding {
    pub val: Val,
    pub span: Span,
    pub used: bool,
    /// Whether an unused binding deserves a warning (user files only; `_names` never).
    pub warn: bool,
}

/// The model body or one block instance being lowered.
#[derive(Debug, Default)]
pub struct Frame {
    /// Module whose blocks are in scope.
    pub module: usize,
    /// Instance path ("" for the model body).
    pub path: String,
    /// Prefix of parameter names: the instance path, or the shared instance's path for a shared application.
    pub param_path: String,
    pub block: Option<usize>,
    pub call_sites: Vec<Span>,
    pub scopes: Vec<HashMap<String, Binding>>,
    /// Free symbolic dims usable as values (`B` in a model).
    pub symbols: HashSet<String>,
    /// Loop iteration indices, outermost first, appended to names bound inside loops.
    pub loop_idx: Vec<usize>,
    /// Counters for anonymous nodes, per op name.
    pub anon: HashMap<String, usize>,
    /// Local names already used for nodes and instances in this frame.
    pub locals: HashSet<String>,
    pub returns: Vec<(Option<Ident>, Val, Span)>,
    pub is_std: bool,
    pub is_model: bool,
}

/// Everything being built for one model.
pub struct Cx<'a> {
    pub modules: &'a [Module],
    pub sources: &'a SourceMap,
    pub overrides: &'a mut Overrides,
    pub diags: &'a mut Diagnostics,
    pub graph: Graph,
    pub blocks: Vec<BlockInstance>,
    pub inputs: Vec<ModelInput>,
    pub outputs: Vec<NamedValue>,
    pub losses: Vec<NamedValue>,
    pub named_scalars: Vec<NamedValue>,
    pub frames: Vec<Frame>,
    /// Set once the node limit was reported, so it is reported once.
    pub overflow: bool,
    /// Loop iterations unrolled so far.
    pub steps: usize,
    /// The block whose instance is innermost, while its ports are bound.
    pub current_def: Option<std::rc::Rc<super::modules::BlockDef>>,
    pub work: &'a mut Work,
    /// Spans of the unused-name warnings already given (a block called several times would warn once per call).
    pub warned_unused: HashSet<Span>,
    /// Local names taken from a hint so far: `expr as name` checks that its expression used the name.
    pub hinted_names: usize,
}

impl<'a> Cx<'a> {
    pub fn frame(&self) -> &Frame {
        // The model frame is pushed before any lowering and popped after it.
        &self.frames[self.frames.len() - 1]
    }

    pub fn frame_mut(&mut self) -> &mut Frame {
        let n = self.frames.len() - 1;
        &mut self.frames[n]
    }

    /// Reports an error. Inside a stdlib block the user's call site is added as a second label.
    pub fn report(&mut self, mut d: Diagnostic) {
        let primary_std = d
            .labels
            .first()
            .and_then(|l| self.sources.get(l.span.file))
            .is_some_and(|f| f.is_std);
        if primary_std {
            let user_site = self
                .frames
                .iter()
                .rev()
                .flat_map(|f| f.call_sites.iter())
                .find(|s| self.sources.get(s.file).is_some_and(|f| !f.is_std));
            if let Some(site) = user_site {
                d = d.label(*site, "in this call");
            }
        }
        self.work.spent = self.work.spent.saturating_add(DIAG_WORK);
        if let Some(l) = d.labels.first() {
            self.work.reported_at.insert((d.code, l.span));
        }
        if self.work.reported.insert(fingerprint(&d)) {
            self.diags.push(d);
        }
    }

    /// Reports the diagnostic `make` builds — unless one with the same code was already reported at `span`, as
    /// in a block inlined from thousands of call sites. For diagnostics that cost more to build than the rest
    /// of the call (the "did you mean" search over every visible name): the fuzz harness found a misspelled
    /// block name in such a block taking 2.3 s of suggestions, each one then dropped as a repeat.
    pub fn fail_once<T>(
        &mut self,
        code: &'static str,
        span: Span,
        make: impl FnOnce(&Self) -> Diagnostic,
    ) -> Result<T, ()> {
        if self.work.reported_at.contains(&(code, span)) {
            self.work.spent = self.work.spent.saturating_add(DIAG_WORK);
            return Err(());
        }
        let d = make(self);
        self.fail(d)
    }

    /// Reports an error and returns `Err(())` for `?`.
    pub fn fail<T>(&mut self, d: Diagnostic) -> Result<T, ()> {
        self.report(d);
        Err(())
    }

    /// Counts one unrolled iteration; past the budget reports once and returns `Err`.
    pub fn step(&mut self, span: Span) -> Result<(), ()> {
        self.steps += 1;
        if self.steps <= MAX_STEPS {
            return Ok(());
        }
        if self.steps == MAX_STEPS + 1 {
            let d = Diagnostic::error(
                "fusec::limit::loop",
                format!("loops unroll more than {MAX_STEPS} times"),
            )
            .label(span, "the limit was reached in this loop")
            .help("loops unroll at compile time; nested loops multiply");
            self.report(d);
        }
        Err(())
    }

    /// Charges `units` of compile-time work; past the program's budget reports once and returns `Err`.
    pub fn charge(&mut self, units: u64, span: Span) -> Result<(), ()> {
        self.work.spent = self.work.spent.saturating_add(units);
        if self.work.spent <= MAX_WORK {
            return Ok(());
        }
        if !self.work.exhausted {
            self.work.exhausted = true;
            let d = Diagnostic::error(
                "fusec::limit::work",
                format!("compile-time evaluation does more than {MAX_WORK} steps of work"),
            )
            .label(span, "the limit was reached here")
            .help("loops, comprehensions and block calls multiply: a block called in a loop runs its body once per call");
            self.report(d);
        }
        Err(())
    }

    /// Charges the work of producing `v` (its size) and refuses values larger than [`MAX_VALUE`].
    pub fn charge_value(&mut self, v: &Val, span: Span) -> Result<(), ()> {
        let weight = v.weight(MAX_VALUE);
        self.charge(weight as u64, span)?;
        if weight <= MAX_VALUE {
            return Ok(());
        }
        let d = Diagnostic::error(
            "fusec::limit::value",
            format!("this value holds more than {MAX_VALUE} elements"),
        )
        .label(span, "too large")
        .help("lists and dim expressions are built at compile time; a list or dim doubled in a loop grows exponentially");
        self.fail(d)
    }

    /// A fresh local name for a node or instance: the hint (with loop indices) or `<op>_<n>`, made unique.
    pub fn local_name(&mut self, hint: Option<&str>, op_name: &str) -> String {
        self.hinted_names += usize::from(hint.is_some());
        let f = self.frame_mut();
        let base = match hint {
            Some(h) => {
                let mut s = h.to_string();
                for i in &f.loop_idx {
                    s.push_str(&format!(".{i}"));
                }
                s
            }
            None => {
                let n = f.anon.entry(op_name.to_string()).or_insert(0);
                let s = format!("{op_name}_{n}");
                *n += 1;
                s
            }
        };
        let mut name = base.clone();
        let mut k = 1;
        while f.locals.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        f.locals.insert(name.clone());
        name
    }

    /// `prefix.local`, or `local` at the top.
    pub fn qualify(prefix: &str, local: &str) -> String {
        if prefix.is_empty() {
            local.to_string()
        } else {
            format!("{prefix}.{local}")
        }
    }

    /// Adds a node with its operands. `shared` names the parameter owner of a shared primitive application.
    pub fn emit(
        &mut self,
        op: Op,
        operands: &[Value],
        span: Span,
        hint: Option<&str>,
        shared: Option<&str>,
    ) -> Result<Value, ()> {
        self.charge(NODE_WORK, span)?;
        if self.graph.n_nodes() >= MAX_NODES {
            if !self.overflow {
                self.overflow = true;
                let d = Diagnostic::error(
                    "fusec::limit::nodes",
                    format!("this model has more than {MAX_NODES} nodes"),
                )
                .label(span, "the limit was reached here")
                .help("a loop or a list is probably much longer than intended");
                self.report(d);
            }
            return Err(());
        }
        let local = self.local_name(hint, op.name());
        let f = self.frame();
        let path = Self::qualify(&f.path, &local);
        let params = if op.owns_params() {
            Some(
                shared
                    .map(str::to_string)
                    .unwrap_or_else(|| Self::qualify(&f.param_path, &local)),
            )
        } else {
            None
        };
        let node = Node {
            op,
            path,
            params,
            span,
            call_sites: f.call_sites.clone(),
            block: f.block,
        };
        let id = self.graph.add_node(node);
        for (i, v) in operands.iter().enumerate() {
            self.graph.connect(*v, id, i as u16);
        }
        Ok(Value::new(id, 0))
    }

    /// Looks a name up in the current frame's scopes, marking it used.
    pub fn lookup(&mut self, name: &str) -> Option<Val> {
        let f = self.frame_mut();
        for scope in f.scopes.iter_mut().rev() {
            if let Some(b) = scope.get_mut(name) {
                b.used = true;
                return Some(b.val.clone());
            }
        }
        None
    }

    /// Binds a name: rebinding updates the scope that holds it (so loops accumulate), else the innermost scope.
    pub fn bind(&mut self, name: &Ident, val: Val) {
        let warn = !self.frame().is_std && !name.name.starts_with('_');
        let f = self.frame_mut();
        for scope in f.scopes.iter_mut().rev() {
            if let Some(b) = scope.get_mut(&name.name) {
                b.val = val;
                b.span = name.span;
                return;
            }
        }
        let b = Binding {
            val,
            span: name.span,
            used: false,
            warn,
        };
        if let Some(scope) = f.scopes.last_mut() {
            scope.insert(name.name.clone(), b);
        }
    }

    /// Binds a name in the innermost scope (loop variables, ports), shadowing outer ones.
    pub fn bind_local(&mut self, name: &str, span: Span, val: Val, warn: bool) {
        let f = self.frame_mut();
        if let Some(scope) = f.scopes.last_mut() {
            scope.insert(
                name.to_string(),
                Binding {
                    val,
                    span,
                    used: false,
                    warn,
                },
            );
        }
    }

    /// Pops a scope, warning about names bound in it and never read.
    pub fn pop_scope(&mut self) {
        let Some(scope) = self.frame_mut().scopes.pop() else {
            return;
        };
        let mut unused: Vec<(String, Span)> = scope
            .into_iter()
            .filter(|(_, b)| b.warn && !b.used && !matches!(b.val, Val::Poison))
            .map(|(n, b)| (n, b.span))
            .collect();
        unused.sort_by_key(|(_, s)| (s.file, s.start));
        for (name, span) in unused {
            if !self.warned_unused.insert(span) {
                continue;
            }
            let d = Diagnostic::warning("fusec::unused::name", format!("`{name}` is never used"))
                .label(span, "bound here")
                .help(format!(
                    "remove it, or name it `_{name}` to keep it quietly"
                ));
            self.diags.push(d);
        }
    }

    /// Every name visible in the current frame, for "did you mean".
    pub fn visible_names(&self) -> Vec<String> {
        let f = self.frame();
        let mut v: Vec<String> = f.scopes.iter().flat_map(|s| s.keys().cloned()).collect();
        v.extend(f.symbols.iter().cloned());
        v.extend(self.modules[f.module].scope.keys().cloned());
        v.extend(crate::ops::primitive_names().map(str::to_string));
        v.extend(super::builtins::NAMES.iter().map(|s| s.to_string()));
        v.sort();
        v.dedup();
        v
    }
}

/// A hash of everything a diagnostic shows: two diagnostics with the same fingerprint render the same.
fn fingerprint(d: &Diagnostic) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    d.code.hash(&mut h);
    d.severity.hash(&mut h);
    d.message.hash(&mut h);
    for l in &d.labels {
        l.span.hash(&mut h);
        l.message.hash(&mut h);
    }
    d.help.hash(&mut h);
    d.notes.hash(&mut h);
    h.finish()
}
