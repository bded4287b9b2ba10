//! Fixtures `lstm`, `bilstm`, `gru`: masked recurrent layers (outputs, final states, every gradient, and exact
//! zeros in `grad.x` past each length), plus stacking and merge-by-sum checks against single-layer runs.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use fusec::ir::{Cell, Merge};
use fusec::nn::{self, ParamMap, RecurrentConfig, RecurrentOutput, RecurrentParams};

use crate::nn_util::{assert_close, flat_f64, pseudo_random, Fixture};

const GATE_PARAMS: [&str; 4] = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"];

/// `nn::recurrent` with its typed parameters read from a map under PyTorch's names.
fn recurrent(
    x: &Tensor,
    lengths: Option<&Tensor>,
    p: &ParamMap,
    cfg: &RecurrentConfig,
) -> candle_core::Result<RecurrentOutput> {
    let typed = RecurrentParams::from_map(p, cfg.layers, cfg.bidirectional)?;
    nn::recurrent(x, lengths, &typed, cfg)
}

fn config(cell: Cell, bidirectional: bool) -> RecurrentConfig {
    RecurrentConfig {
        cell,
        hidden: 3,
        layers: 1,
        bidirectional,
        merge: Merge::Concat,
    }
}

/// Maps fixture names (`weight_ih`, `fwd.weight_ih`, `bwd.weight_ih`) to PyTorch's layer-0 names.
fn params(vars: &HashMap<String, Var>, bidirectional: bool) -> ParamMap {
    let mut p = ParamMap::new();
    for name in GATE_PARAMS {
        if bidirectional {
            p.insert(
                format!("{name}_l0"),
                vars[&format!("fwd.{name}")].as_tensor().clone(),
            );
            p.insert(
                format!("{name}_l0_reverse"),
                vars[&format!("bwd.{name}")].as_tensor().clone(),
            );
        } else {
            p.insert(format!("{name}_l0"), vars[name].as_tensor().clone());
        }
    }
    p
}

/// `grad.x` must be exactly zero at every step `t >= lengths[b]`.
fn assert_padded_grad_zero(fx: &Fixture, grad_x: &Tensor) {
    let lengths = fx.get("lengths").to_vec1::<i64>().unwrap();
    let (_, time, feat) = grad_x.dims3().unwrap();
    let g = flat_f64(grad_x);
    for (b, len) in lengths.iter().enumerate() {
        for t in *len as usize..time {
            let row = &g[(b * time + t) * feat..(b * time + t + 1) * feat];
            assert!(
                row.iter().all(|v| *v == 0.0),
                "{}: grad.x[{b},{t}] = {row:?}",
                fx.name
            );
        }
    }
}

fn sum_dot(a: &Tensor, b: &Tensor) -> Tensor {
    a.mul(b).unwrap().sum_all().unwrap()
}

#[test]
fn lstm_fixture() {
    let fx = Fixture::load("lstm");
    let vars = fx.vars();
    let lengths = fx.get("lengths");
    let out = recurrent(
        &vars["x"],
        Some(&lengths),
        &params(&vars, false),
        &config(Cell::Lstm, false),
    )
    .unwrap();
    let c = out.c.unwrap();
    fx.check("output", &out.seq);
    fx.check("h_n", &out.h);
    fx.check("c_n", &c);
    let scalar = (sum_dot(&out.seq, &fx.get("upstream.output"))
        + sum_dot(&out.h, &fx.get("upstream.h_n")))
    .unwrap()
    .add(&sum_dot(&c, &fx.get("upstream.c_n")))
    .unwrap();
    let grads = scalar.backward().unwrap();
    fx.check_grads("grad.", &grads, &vars);
    assert_padded_grad_zero(&fx, grads.get(vars["x"].as_tensor()).unwrap());
    fx.assert_all_checked();
}

#[test]
fn bilstm_fixture() {
    let fx = Fixture::load("bilstm");
    let vars = fx.vars();
    let lengths = fx.get("lengths");
    let out = recurrent(
        &vars["x"],
        Some(&lengths),
        &params(&vars, true),
        &config(Cell::Lstm, true),
    )
    .unwrap();
    let c = out.c.unwrap();
    fx.check("output", &out.seq);
    fx.check("h_cat", &out.h);
    fx.check("c_cat", &c);
    fx.check("h_fwd", &out.h.narrow(1, 0, 3).unwrap());
    fx.check("h_bwd", &out.h.narrow(1, 3, 3).unwrap());
    fx.check("c_fwd", &c.narrow(1, 0, 3).unwrap());
    fx.check("c_bwd", &c.narrow(1, 3, 3).unwrap());
    let scalar = (sum_dot(&out.seq, &fx.get("upstream.output"))
        + sum_dot(&out.h, &fx.get("upstream.h_cat")))
    .unwrap()
    .add(&sum_dot(&c, &fx.get("upstream.c_cat")))
    .unwrap();
    let grads = scalar.backward().unwrap();
    fx.check_grads("grad.", &grads, &vars);
    assert_padded_grad_zero(&fx, grads.get(vars["x"].as_tensor()).unwrap());
    fx.assert_all_checked();
}

#[test]
fn gru_fixture() {
    let fx = Fixture::load("gru");
    let vars = fx.vars();
    let lengths = fx.get("lengths");
    let out = recurrent(
        &vars["x"],
        Some(&lengths),
        &params(&vars, false),
        &config(Cell::Gru, false),
    )
    .unwrap();
    assert!(out.c.is_none());
    fx.check("output", &out.seq);
    fx.check("h_n", &out.h);
    let scalar = (sum_dot(&out.seq, &fx.get("upstream.output"))
        + sum_dot(&out.h, &fx.get("upstream.h_n")))
    .unwrap();
    let grads = scalar.backward().unwrap();
    fx.check_grads("grad.", &grads, &vars);
    assert_padded_grad_zero(&fx, grads.get(vars["x"].as_tensor()).unwrap());
    fx.assert_all_checked();
}

/// Random PyTorch-named parameters for a stack.
fn random_params(cfg: &RecurrentConfig, input: usize, seed: u64) -> ParamMap {
    let gates = if cfg.cell == Cell::Lstm { 4 } else { 3 };
    let dirs = if cfg.bidirectional { 2 } else { 1 };
    let h = cfg.hidden;
    let mut p = ParamMap::new();
    let mut seed = seed;
    for layer in 0..cfg.layers {
        let inp = if layer == 0 {
            input
        } else if cfg.merge == Merge::Sum {
            h
        } else {
            h * dirs
        };
        for dir in 0..dirs {
            let sfx = if dir == 1 { "_reverse" } else { "" };
            for (name, dims) in [
                ("weight_ih", vec![gates * h, inp]),
                ("weight_hh", vec![gates * h, h]),
                ("bias_ih", vec![gates * h]),
                ("bias_hh", vec![gates * h]),
            ] {
                seed += 1;
                p.insert(
                    format!("{name}_l{layer}{sfx}"),
                    pseudo_random(&dims, seed).to_dtype(DType::F32).unwrap(),
                );
            }
        }
    }
    p
}

/// Layer-`k` parameters of `p`, renamed to a single layer 0.
fn layer_params(p: &ParamMap, layer: usize) -> ParamMap {
    p.iter()
        .filter_map(|(k, v)| {
            let tag = format!("_l{layer}");
            k.contains(&tag)
                .then(|| (k.replace(&tag, "_l0"), v.clone()))
        })
        .collect()
}

#[test]
fn stacked_layers_feed_the_merged_sequence_and_sum_merges() {
    let dev = Device::Cpu;
    let x = pseudo_random(&[2, 4, 5], 7).to_dtype(DType::F32).unwrap();
    let lengths = Tensor::new(&[4i64, 2], &dev).unwrap();
    for (cell, merge) in [
        (Cell::Lstm, Merge::Concat),
        (Cell::Gru, Merge::Sum),
        (Cell::Lstm, Merge::Sum),
    ] {
        let cfg = RecurrentConfig {
            cell,
            hidden: 3,
            layers: 2,
            bidirectional: true,
            merge,
        };
        let p = random_params(&cfg, 5, 11);
        let stacked = recurrent(&x, Some(&lengths), &p, &cfg).unwrap();
        let one = RecurrentConfig { layers: 1, ..cfg };
        let first = recurrent(&x, Some(&lengths), &layer_params(&p, 0), &one).unwrap();
        let second = recurrent(&first.seq, Some(&lengths), &layer_params(&p, 1), &one).unwrap();
        let what = format!("{cell:?} {merge:?}");
        assert_close(&what, &stacked.seq, &second.seq, 0.0, 0.0);
        assert_close(&what, &stacked.h, &second.h, 0.0, 0.0);
        let width = if merge == Merge::Sum { 3 } else { 6 };
        assert_eq!(stacked.seq.dims(), &[2, 4, width]);
        assert_eq!(stacked.h.dims(), &[2, width]);
        // Merge::Sum is the sum of the two directions of the concatenated form.
        if merge == Merge::Sum {
            let concat = RecurrentConfig {
                merge: Merge::Concat,
                ..one
            };
            let cat = recurrent(&x, Some(&lengths), &layer_params(&p, 0), &concat).unwrap();
            let summed =
                (cat.seq.narrow(2, 0, 3).unwrap() + cat.seq.narrow(2, 3, 3).unwrap()).unwrap();
            assert_close(&what, &first.seq, &summed, 1e-6, 0.0);
        }
    }
}

#[test]
fn no_lengths_means_full_length() {
    let dev = Device::Cpu;
    let x = pseudo_random(&[2, 4, 5], 3).to_dtype(DType::F32).unwrap();
    let cfg = RecurrentConfig {
        cell: Cell::Gru,
        hidden: 3,
        layers: 1,
        bidirectional: true,
        merge: Merge::Concat,
    };
    let p = random_params(&cfg, 5, 1);
    let full = Tensor::new(&[4i64, 4], &dev).unwrap();
    let a = recurrent(&x, None, &p, &cfg).unwrap();
    let b = recurrent(&x, Some(&full), &p, &cfg).unwrap();
    assert_close("seq", &a.seq, &b.seq, 0.0, 0.0);
    assert_close("h", &a.h, &b.h, 0.0, 0.0);
    let bad = Tensor::new(&[4i64, 4, 4], &dev).unwrap();
    assert!(recurrent(&x, Some(&bad), &p, &cfg).is_err());
}
