//! Inter-op parallelism for a training step: with two or more threads, [`Network::forward_tape`] and
//! [`Network::backward`] run the nodes of the graph as a dependency graph on the rayon pool, each node as soon as
//! the nodes it reads are done, instead of one after another.
//!
//! Why: at two threads, splitting each product in two keeps the second core busy only inside the larger
//! products (a GAN-Fusion profile at batch 100: the second thread idle 34% of the step, in 1-2 ms gaps between
//! products too small or too unevenly split). The paper's models have independent branches — one encoder per
//! modality, GAN-Fusion's generator and discriminator per modality — and running those side by side fills the
//! gaps. Each node still runs its own kernels (which may split further on the same pool).
//!
//! The results are the same bits as the sequential order's, whatever the thread timing:
//! - every node computes from the same operand values;
//! - batch-norm nodes that share running statistics (a block called twice) update them in the sequential order;
//! - the nodes that draw from the run's generator (`Primitive::is_stochastic`) run one after another in the
//!   sequential order, so each draws the same numbers; any other node gets a private generator, and drawing from
//!   it is an internal error (an op that forgot to declare itself stochastic);
//! - a value's gradient is summed in the sequential order (the loss seeds first, then each consumer in the
//!   backward order, operands in order), and so are parameter gradients.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use candle_core::{Result, Tensor};

use super::{NodeRun, ParamGrads, Tape};
use crate::backend::{Network, Schedule};
use crate::ir::{NodeId, Op, Value};
use crate::passes::grad_graph::GradGraph;
use crate::rng::SeededRng;

/// Whether a pass over `nodes` nodes runs as a dependency graph: on the CPU, with more than one thread in the
/// current pool (the `--threads` setting), and more than one node.
pub(super) fn worth_it(net: &Network, nodes: usize) -> bool {
    match net.schedule {
        Schedule::Auto => net.device.is_cpu() && nodes > 1 && rayon::current_num_threads() > 1,
        Schedule::LatestFirst => true,
    }
}

fn poisoned<T>(_: T) -> candle_core::Error {
    candle_core::Error::Msg("internal: a step's worker thread panicked".into())
}

/// One gradient on its way to a node: `(order key, operand index, output port, gradient)`. Summing a node's
/// inbox sorted by `(order key, operand index)` reproduces the sequential accumulation order.
type Contribution = (usize, usize, u16, Tensor);

impl Network {
    /// [`Network::forward_tape`] over a dependency graph (see the module header). `tape.env` is already bound.
    pub(super) fn forward_tape_parallel(
        &self,
        nodes: &[NodeId],
        inputs: &HashMap<String, Tensor>,
        rng: &mut SeededRng,
        grad_values: &HashSet<Value>,
        tape: &mut Tape,
    ) -> Result<()> {
        let position: HashMap<NodeId, usize> =
            nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let stochastic: Vec<bool> = nodes
            .iter()
            .map(|&n| self.model.graph.node(n).op.prim().is_stochastic())
            .collect();
        let mut deps = Vec::with_capacity(nodes.len());
        let mut last_stochastic = None;
        let mut last_writer: HashMap<&String, usize> = HashMap::new();
        for (i, &id) in nodes.iter().enumerate() {
            let mut d: Vec<usize> = self.operands[&id]
                .iter()
                .filter_map(|v| position.get(&v.node).copied())
                .collect();
            if stochastic[i] {
                d.extend(last_stochastic);
                last_stochastic = Some(i);
            }
            // Batch norm updates its running statistics in training, and a block called twice (GAN-Fusion's
            // discriminator, on real and on generated codes) has two nodes updating the same buffers: they run
            // in the sequential order.
            if matches!(self.model.graph.node(id).op, Op::BatchNorm(_)) {
                for name in self.node_param_names(id) {
                    d.extend(last_writer.insert(name, i));
                }
            }
            d.sort_unstable();
            d.dedup();
            deps.push(d);
        }
        let results: Vec<OnceLock<NodeRun>> = nodes.iter().map(|_| OnceLock::new()).collect();
        let shared_rng = Mutex::new(rng);
        let private_rng = SeededRng::new(0);
        let before = private_rng.state();
        let done: &Tape = tape;
        run_dag(&deps, self.schedule, |i| {
            let id = nodes[i];
            let args = self.operands[&id]
                .iter()
                .map(|v| match position.get(&v.node) {
                    Some(&p) => results[p]
                        .get()
                        .and_then(|r| r.outs.get(usize::from(v.port)))
                        .cloned()
                        .ok_or_else(|| {
                            candle_core::Error::Msg(format!(
                                "internal: node {} ran before its operand %{}",
                                id.index(),
                                v.node.index()
                            ))
                        }),
                    None => done.get(*v).cloned(),
                })
                .collect::<Result<Vec<_>>>()?;
            let run = if stochastic[i] {
                let mut guard = shared_rng.lock().map_err(poisoned)?;
                self.forward_node(id, &args, grad_values, inputs, &done.env, &mut guard)?
            } else {
                let mut own = private_rng.clone();
                let run = self.forward_node(id, &args, grad_values, inputs, &done.env, &mut own)?;
                if own.state() != before {
                    return Err(candle_core::Error::Msg(format!(
                        "internal: op `{}` drew random numbers but does not declare itself stochastic",
                        self.model.graph.node(id).op.prim().name()
                    )));
                }
                run
            };
            if results[i].set(run).is_err() {
                return Err(candle_core::Error::Msg("internal: a node ran twice".into()));
            }
            Ok(())
        })?;
        for (&id, cell) in nodes.iter().zip(results) {
            let run = cell.into_inner().ok_or_else(|| {
                candle_core::Error::Msg(format!("internal: node {} did not run", id.index()))
            })?;
            tape.record(id, run);
        }
        Ok(())
    }

    /// [`Network::backward`] over a dependency graph (see the module header): a node's rule runs once every
    /// node that consumes its outputs has sent its gradients. `seeds` are the loss terms' weighted seeds in
    /// term order.
    pub(super) fn backward_parallel(
        &self,
        graph: &GradGraph,
        tape: &Tape,
        seeds: Vec<(Value, Tensor)>,
        step_params: &HashSet<String>,
    ) -> Result<ParamGrads> {
        let order = &graph.backward;
        let position: HashMap<NodeId, usize> =
            order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        // `order` is reverse topological: a node's consumers come before it (`run_dag` refuses an order that
        // breaks this).
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); order.len()];
        for (k, &id) in order.iter().enumerate() {
            for v in &self.operands[&id] {
                if let Some(&p) = position.get(&v.node) {
                    deps[p].push(k);
                }
            }
        }
        for d in &mut deps {
            d.sort_unstable();
            d.dedup();
        }
        let inbox: Vec<Mutex<Vec<Contribution>>> =
            order.iter().map(|_| Mutex::new(Vec::new())).collect();
        // Seeds sort before every consumer's gradient (key 0; consumers use their position + 1).
        for (term, (v, seed)) in seeds.into_iter().enumerate() {
            if let Some(&p) = position.get(&v.node) {
                inbox[p]
                    .lock()
                    .map_err(poisoned)?
                    .push((0, term, v.port, seed));
            }
        }
        let param_grads: Mutex<Vec<(usize, Vec<(String, Tensor)>)>> = Mutex::new(Vec::new());
        run_dag(&deps, self.schedule, |k| {
            let id = order[k];
            let mut arrived = std::mem::take(&mut *inbox[k].lock().map_err(poisoned)?);
            arrived.sort_by_key(|c| (c.0, c.1));
            let n_out = self.model.graph.node(id).op.n_outputs();
            let mut g_out: Vec<Option<Tensor>> = vec![None; n_out];
            for (_, _, port, d) in arrived {
                let Some(slot) = g_out.get_mut(usize::from(port)) else {
                    return Err(candle_core::Error::Msg(format!(
                        "internal: gradient for port {port} of node {}",
                        id.index()
                    )));
                };
                *slot = Some(match slot.take() {
                    Some(acc) => acc.add(&d)?,
                    None => d,
                });
            }
            if g_out.iter().all(Option::is_none) {
                return Ok(());
            }
            let (d_operands, d_params) =
                self.backward_node(id, graph, tape, &g_out, step_params)?;
            for (index, d) in d_operands {
                let v = self.operands[&id][index];
                if let Some(&p) = position.get(&v.node) {
                    inbox[p]
                        .lock()
                        .map_err(poisoned)?
                        .push((k + 1, index, v.port, d));
                }
            }
            if !d_params.is_empty() {
                param_grads.lock().map_err(poisoned)?.push((k, d_params));
            }
            Ok(())
        })?;
        let mut param_grads = param_grads.into_inner().map_err(poisoned)?;
        param_grads.sort_by_key(|(k, _)| *k);
        let mut out = ParamGrads::default();
        for (full, d) in param_grads.into_iter().flat_map(|(_, g)| g) {
            out.add(&full, d)?;
        }
        Ok(out)
    }
}

/// The shared state of one [`run_dag`].
struct Dag<'f, F> {
    dependents: Vec<Vec<usize>>,
    /// Per node, how many of its dependencies have not finished.
    waiting: Vec<AtomicUsize>,
    run: &'f F,
    stop: AtomicBool,
    /// The failure of the lowest-numbered node that failed.
    failed: Mutex<Option<(usize, candle_core::Error)>>,
}

impl<'f, F: Fn(usize) -> Result<()> + Sync> Dag<'f, F> {
    /// Runs node `i`, then every dependent it makes ready: one on this thread, the others spawned.
    fn run_from<'s>(&'s self, scope: &rayon::Scope<'s>, mut i: usize) {
        loop {
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            if let Err(e) = (self.run)(i) {
                self.stop.store(true, Ordering::Release);
                if let Ok(mut failed) = self.failed.lock() {
                    if failed.as_ref().is_none_or(|(j, _)| i < *j) {
                        *failed = Some((i, e));
                    }
                }
                return;
            }
            let mut next = None;
            for &j in &self.dependents[i] {
                if self.waiting[j].fetch_sub(1, Ordering::AcqRel) == 1 {
                    match next {
                        None => next = Some(j),
                        Some(_) => scope.spawn(move |s| self.run_from(s, j)),
                    }
                }
            }
            match next {
                Some(j) => i = j,
                None => return,
            }
        }
    }
}

/// Runs `run(i)` for every node `i` of a dependency graph (`deps[i]`: the nodes `i` waits for, all numbered
/// below `i`) on the current rayon pool, each node once all its dependencies have finished. The first failure
/// stops the nodes not yet started; the error returned is that of the lowest-numbered failed node. Under
/// [`Schedule::LatestFirst`] the nodes run on the calling thread, the highest-numbered ready node first.
pub(super) fn run_dag<F>(deps: &[Vec<usize>], schedule: Schedule, run: F) -> Result<()>
where
    F: Fn(usize) -> Result<()> + Sync,
{
    let mut dependents = vec![Vec::new(); deps.len()];
    for (i, d) in deps.iter().enumerate() {
        for &p in d {
            if p >= i {
                return Err(candle_core::Error::Msg(format!(
                    "internal: node {i} waits for node {p}, which does not come before it"
                )));
            }
            dependents[p].push(i);
        }
    }
    if schedule == Schedule::LatestFirst {
        let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
        let mut ready: std::collections::BinaryHeap<usize> =
            (0..deps.len()).filter(|&i| waiting[i] == 0).collect();
        while let Some(i) = ready.pop() {
            run(i)?;
            for &j in &dependents[i] {
                waiting[j] -= 1;
                if waiting[j] == 0 {
                    ready.push(j);
                }
            }
        }
        return Ok(());
    }
    let dag = Dag {
        dependents,
        waiting: deps.iter().map(|d| AtomicUsize::new(d.len())).collect(),
        run: &run,
        stop: AtomicBool::new(false),
        failed: Mutex::new(None),
    };
    rayon::scope(|s| {
        let dag = &dag;
        for (i, d) in deps.iter().enumerate() {
            if d.is_empty() {
                s.spawn(move |s| dag.run_from(s, i));
            }
        }
    });
    match dag.failed.into_inner().map_err(poisoned)? {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{run_dag, Schedule};
    use std::sync::Mutex;

    /// Every node runs once, after all its dependencies, on a pool of several threads.
    #[test]
    fn dag_respects_dependencies() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        // A diamond chain: node i waits for i-1 and i-2, plus independent leaves.
        let deps: Vec<Vec<usize>> = (0..60)
            .map(|i: usize| match i % 3 {
                0 => vec![],
                _ => (i.saturating_sub(2)..i).collect(),
            })
            .collect();
        let log = Mutex::new(Vec::new());
        pool.install(|| {
            run_dag(&deps, Schedule::Auto, |i| {
                log.lock().unwrap().push(i);
                Ok(())
            })
        })
        .unwrap();
        let log = log.into_inner().unwrap();
        assert_dependencies_first(&deps, &log);
        let latest = Mutex::new(Vec::new());
        run_dag(&deps, Schedule::LatestFirst, |i| {
            latest.lock().unwrap().push(i);
            Ok(())
        })
        .unwrap();
        let latest = latest.into_inner().unwrap();
        assert_dependencies_first(&deps, &latest);
        // Latest first: the independent leaf 57 runs before node 1, unlike the sequential order.
        let at = |n: usize| latest.iter().position(|&x| x == n).unwrap();
        assert!(at(57) < at(1));
    }

    fn assert_dependencies_first(deps: &[Vec<usize>], log: &[usize]) {
        assert_eq!(log.len(), deps.len());
        let at: Vec<usize> = (0..deps.len())
            .map(|i| log.iter().position(|&x| x == i).unwrap())
            .collect();
        for (i, d) in deps.iter().enumerate() {
            for &p in d {
                assert!(at[p] < at[i], "node {i} ran before its dependency {p}");
            }
        }
    }

    /// A failure stops what has not started and reports the lowest-numbered failed node.
    #[test]
    fn dag_reports_failure() {
        let deps: Vec<Vec<usize>> = vec![vec![], vec![0], vec![1], vec![]];
        let ran = Mutex::new(Vec::new());
        let err = run_dag(&deps, Schedule::Auto, |i| {
            ran.lock().unwrap().push(i);
            if i == 1 {
                candle_core::bail!("node one failed")
            }
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("node one failed"));
        assert!(!ran.into_inner().unwrap().contains(&2));
    }

    /// A dependency on a later node is refused, not run.
    #[test]
    fn dag_refuses_forward_edges() {
        let deps = vec![vec![1], vec![]];
        assert!(run_dag(&deps, Schedule::Auto, |_| Ok(())).is_err());
    }
}
