//! Helpers for the fusion-library parity tests: compile a tiny model from .fuse text, build its back-end
//! network, load a PyTorch fixture's weights into the network's variables through a name mapping, run it, and
//! look values up by output name or node path.

use std::collections::HashMap;

use candle_core::{Tensor, Var};
pub use fusec::backend::Network;
use fusec::backend::{Mode, Outputs};
use fusec::front::compile_source;
use fusec::ir::Value;
use fusec::rng::SeededRng;

use crate::device::test_device;
use crate::nn_util::Fixture;

/// Compiles `src` (one model) and builds its network with seed 0 on the test device.
pub fn build(src: &str) -> Network {
    let c = compile_source("main.fuse", src, &[], false)
        .unwrap_or_else(|f| panic!("{}", fusec::diag::render(&f.diagnostics, &f.sources, false)));
    Network::build(
        &c.program.models[0],
        &c.shapes[0],
        &test_device(),
        &mut SeededRng::new(0),
    )
    .unwrap()
}

/// Loads every fixture tensor with role `param` or `state_in` into the network variable that `map` names, and
/// checks that every network parameter was loaded. Returns fixture name -> network variable, for
/// `Fixture::check_grads`. A mapping error panics with both name lists side by side.
pub fn load(net: &Network, fx: &Fixture, map: impl Fn(&str) -> String) -> HashMap<String, Var> {
    let mut fixture_names: Vec<String> = fx
        .names_with_prefix("")
        .into_iter()
        .filter(|n| matches!(fx.role(n).as_str(), "param" | "state_in"))
        .collect();
    fixture_names.sort();
    let ours: Vec<&String> = net.params.keys().collect();
    let mut vars = HashMap::new();
    for name in &fixture_names {
        let target = map(name);
        let Some(var) = net.params.get(&target) else {
            panic!(
                "fixture {}: `{name}` maps to `{target}`, which the network lacks.\nfixture: {fixture_names:#?}\nnetwork: {ours:#?}",
                fx.name
            );
        };
        var.set(&fx.get(name)).unwrap();
        vars.insert(name.clone(), var.clone());
    }
    let loaded: Vec<String> = fixture_names.iter().map(|n| map(n)).collect();
    let missing: Vec<&&String> = ours.iter().filter(|n| !loaded.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "fixture {}: network parameters never loaded: {missing:?}\nfixture: {fixture_names:#?}",
        fx.name
    );
    vars
}

/// Model inputs from fixture tensors (`(input name, fixture name, tensor)`), each a fresh variable so that
/// gradients reach it, added to `vars` under the fixture name; an empty fixture name passes the tensor as is.
pub fn inputs(
    items: &[(&str, &str, Tensor)],
    vars: &mut HashMap<String, Var>,
) -> HashMap<String, Tensor> {
    let mut out = HashMap::new();
    for (input, grad_name, t) in items {
        if grad_name.is_empty() {
            // Integer inputs (lengths) take no gradient.
            out.insert(input.to_string(), t.clone());
            continue;
        }
        let var = Var::from_tensor(t).unwrap();
        out.insert(input.to_string(), var.as_tensor().clone());
        vars.insert(grad_name.to_string(), var);
    }
    out
}

/// Runs the network forward in training mode (batch statistics; noise drawn from a fixed seed).
pub fn forward(net: &Network, inputs: &HashMap<String, Tensor>) -> Outputs {
    let mut rng = SeededRng::new(1);
    net.forward(inputs, &mut Mode::Train(&mut rng)).unwrap()
}

/// A model output, loss or named block scalar by name.
pub fn named(net: &Network, outs: &Outputs, name: &str) -> Tensor {
    let m = &net.model;
    let v = m
        .outputs
        .iter()
        .chain(&m.losses)
        .chain(&m.named_scalars)
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("the model has no output, loss or scalar `{name}`"))
        .value;
    outs.get(v).unwrap().clone()
}

/// The first output of the node whose path is `path` (`fusion.af.0.fused`).
pub fn at(net: &Network, outs: &Outputs, path: &str) -> Tensor {
    let g = &net.model.graph;
    let id = g
        .node_ids()
        .find(|id| g.node(*id).path == path)
        .unwrap_or_else(|| {
            let paths: Vec<String> = g.node_ids().map(|id| g.node(id).path.clone()).collect();
            panic!("no node `{path}`; nodes: {paths:#?}")
        });
    outs.get(Value::new(id, 0)).unwrap().clone()
}

/// `sum(x * upstream)`: the scalar whose gradients are a vector-Jacobian product with `upstream`.
pub fn vjp_term(x: &Tensor, upstream: &Tensor) -> Tensor {
    x.mul(upstream).unwrap().sum_all().unwrap()
}

/// Checks every `grad.*` tensor of the fixture against the gradient of `scalar`.
pub fn check_all_grads(fx: &Fixture, prefix: &str, scalar: &Tensor, vars: &HashMap<String, Var>) {
    fx.check_grads(prefix, &scalar.backward().unwrap(), vars);
}
