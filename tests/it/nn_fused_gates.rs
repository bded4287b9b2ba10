//! The fused LSTM / GRU gate ops (`nn::lstm_cell`, `nn::gru_cell`): their values and gradients against the same
//! step written with ordinary candle ops, finite differences in f64, bf16 against f32, and a time loop built on
//! them that reproduces `nn::recurrent` and the `lstm` / `gru` fixtures. On the test device (`crate::device`):
//! with `FUSEC_TEST_DEVICE=cuda` they exercise the CUDA kernels, otherwise the CPU reference.

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var};
use fusec::ir::{Cell, Merge};
use fusec::nn::{self, ParamMap, RecurrentConfig, RecurrentParams};

use crate::device::{on_cpu, test_device, tolerance, BF16_TOLERANCE};
use crate::nn_util::{assert_close, check_finite_differences, pseudo_random, Fixture};

const ROWS: usize = 3;
const HIDDEN: usize = 5;

fn random(dims: &[usize], seed: u64) -> Tensor {
    pseudo_random(dims, seed)
        .affine(2.5, 0.0)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_device(&test_device())
        .unwrap()
}

/// The LSTM step as `nn::recurrent` writes it, with candle's element-wise ops.
fn lstm_composite(gates: &Tensor, c_prev: &Tensor) -> (Tensor, Tensor) {
    let h = c_prev.dim(1).unwrap();
    let part = |k: usize| gates.narrow(1, k * h, h).unwrap();
    let (i, f) = (
        nn::activation(&part(0), fusec::ir::Activation::Sigmoid).unwrap(),
        nn::activation(&part(1), fusec::ir::Activation::Sigmoid).unwrap(),
    );
    let g = part(2).tanh().unwrap();
    let o = nn::activation(&part(3), fusec::ir::Activation::Sigmoid).unwrap();
    let c = (f.mul(c_prev).unwrap() + i.mul(&g).unwrap()).unwrap();
    let h_new = o.mul(&c.tanh().unwrap()).unwrap();
    (h_new, c)
}

/// The GRU step as `nn::recurrent` writes it.
fn gru_composite(gx: &Tensor, gh: &Tensor, h_prev: &Tensor) -> Tensor {
    let h = h_prev.dim(1).unwrap();
    let sig = |t: Tensor| nn::activation(&t, fusec::ir::Activation::Sigmoid).unwrap();
    let at = |t: &Tensor, k: usize| t.narrow(1, k * h, h).unwrap();
    let r = sig((at(gx, 0) + at(gh, 0)).unwrap());
    let z = sig((at(gx, 1) + at(gh, 1)).unwrap());
    let n = (at(gx, 2) + r.mul(&at(gh, 2)).unwrap())
        .unwrap()
        .tanh()
        .unwrap();
    (&n + z.mul(&(h_prev - &n).unwrap()).unwrap()).unwrap()
}

fn grads_of(scalar: &Tensor, vars: &[&Var]) -> Vec<Tensor> {
    let g = scalar.backward().unwrap();
    vars.iter()
        .map(|v| g.get(v.as_tensor()).unwrap().clone())
        .collect()
}

fn dot(a: &Tensor, b: &Tensor) -> Tensor {
    a.mul(b).unwrap().sum_all().unwrap()
}

#[test]
fn lstm_cell_matches_the_composite_step() {
    let gates = Var::from_tensor(&random(&[ROWS, 4 * HIDDEN], 1)).unwrap();
    let c_prev = Var::from_tensor(&random(&[ROWS, HIDDEN], 2)).unwrap();
    let (u_h, u_c) = (random(&[ROWS, HIDDEN], 3), random(&[ROWS, HIDDEN], 4));
    let (h, c) = nn::lstm_cell(&gates, &c_prev).unwrap();
    let (h_ref, c_ref) = lstm_composite(&gates, &c_prev);
    let (atol, rtol) = tolerance(1e-6, 1e-5);
    assert_close("lstm h", &h, &h_ref, atol, rtol);
    assert_close("lstm c", &c, &c_ref, atol, rtol);
    let ours = grads_of(
        &(dot(&h, &u_h) + dot(&c, &u_c)).unwrap(),
        &[&gates, &c_prev],
    );
    let want = grads_of(
        &(dot(&h_ref, &u_h) + dot(&c_ref, &u_c)).unwrap(),
        &[&gates, &c_prev],
    );
    assert_close("lstm d gates", &ours[0], &want[0], atol, rtol);
    assert_close("lstm d c_prev", &ours[1], &want[1], atol, rtol);
}

#[test]
fn gru_cell_matches_the_composite_step() {
    let gx = Var::from_tensor(&random(&[ROWS, 3 * HIDDEN], 5)).unwrap();
    let gh = Var::from_tensor(&random(&[ROWS, 3 * HIDDEN], 6)).unwrap();
    let h_prev = Var::from_tensor(&random(&[ROWS, HIDDEN], 7)).unwrap();
    let up = random(&[ROWS, HIDDEN], 8);
    let h = nn::gru_cell(&gx, &gh, &h_prev).unwrap();
    let h_ref = gru_composite(&gx, &gh, &h_prev);
    let (atol, rtol) = tolerance(1e-6, 1e-5);
    assert_close("gru h", &h, &h_ref, atol, rtol);
    let vars = [&gx, &gh, &h_prev];
    let ours = grads_of(&dot(&h, &up), &vars);
    let want = grads_of(&dot(&h_ref, &up), &vars);
    for (name, (a, b)) in ["gx", "gh", "h_prev"].iter().zip(ours.iter().zip(&want)) {
        assert_close(&format!("gru d {name}"), a, b, atol, rtol);
    }
}

#[test]
fn fused_cells_pass_finite_differences_in_f64() {
    if !on_cpu() {
        return; // f64 finite differences check the formulas; the CUDA kernels are compared above.
    }
    let gates = pseudo_random(&[2, 8], 11).affine(2.0, 0.0).unwrap();
    let c_prev = pseudo_random(&[2, 2], 12);
    check_finite_differences("lstm_cell", &[gates, c_prev], |t| {
        let (h, c) = nn::lstm_cell(&t[0], &t[1])?;
        Tensor::cat(&[h, c], 1)
    });
    let gx = pseudo_random(&[2, 6], 13).affine(2.0, 0.0).unwrap();
    let gh = pseudo_random(&[2, 6], 14).affine(2.0, 0.0).unwrap();
    let h_prev = pseudo_random(&[2, 2], 15);
    check_finite_differences("gru_cell", &[gx, gh, h_prev], |t| {
        nn::gru_cell(&t[0], &t[1], &t[2])
    });
}

#[test]
fn bf16_cells_stay_within_bf16_rounding_of_f32() {
    let gates = random(&[ROWS, 4 * HIDDEN], 21);
    let c_prev = random(&[ROWS, HIDDEN], 22);
    let (h, c) = nn::lstm_cell(&gates, &c_prev).unwrap();
    let bf = |t: &Tensor| t.to_dtype(DType::BF16).unwrap();
    let (h16, c16) = nn::lstm_cell(&bf(&gates), &bf(&c_prev)).unwrap();
    assert_eq!(h16.dtype(), DType::BF16);
    let (atol, rtol) = BF16_TOLERANCE;
    assert_close("bf16 lstm h", &h16, &h, atol, rtol);
    assert_close("bf16 lstm c", &c16, &c, atol, rtol);
    let (gx, gh, hp) = (
        random(&[ROWS, 3 * HIDDEN], 23),
        random(&[ROWS, 3 * HIDDEN], 24),
        random(&[ROWS, HIDDEN], 25),
    );
    let h = nn::gru_cell(&gx, &gh, &hp).unwrap();
    let h16 = nn::gru_cell(&bf(&gx), &bf(&gh), &bf(&hp)).unwrap();
    assert_close("bf16 gru h", &h16, &h, atol, rtol);
}

#[test]
fn fused_cells_reject_mismatched_shapes() {
    let c_prev = random(&[ROWS, HIDDEN], 31);
    assert!(nn::lstm_cell(&random(&[ROWS, 3 * HIDDEN], 32), &c_prev).is_err());
    let g3 = random(&[ROWS, 3 * HIDDEN], 33);
    assert!(nn::gru_cell(&g3, &random(&[ROWS, 2 * HIDDEN], 34), &c_prev).is_err());
}

/// One masked direction of a one-layer LSTM or GRU, built on the fused cells the way `nn::recurrent` builds
/// its loop (input projection for all steps first; state frozen and outputs zero past each length).
fn fused_direction(x: &Tensor, lengths: &Tensor, p: &ParamMap, cell: Cell) -> (Tensor, Tensor) {
    let (batch, time, _) = x.dims3().unwrap();
    let w = |n: &str| &p[&format!("{n}_l0")];
    let hidden = w("weight_hh").dim(1).unwrap();
    let proj = match cell {
        Cell::Lstm => nn::linear(
            x,
            w("weight_ih"),
            Some(&(w("bias_ih") + w("bias_hh")).unwrap()),
        ),
        Cell::Gru => nn::linear(x, w("weight_ih"), Some(w("bias_ih"))),
    }
    .unwrap();
    let zeros = Tensor::zeros((batch, hidden), DType::F32, x.device()).unwrap();
    let (mut h, mut c) = (zeros.clone(), zeros.clone());
    let lengths = lengths.to_dtype(DType::I64).unwrap();
    let mut outs = Vec::with_capacity(time);
    for t in 0..time {
        let step = proj.narrow(1, t, 1).unwrap().squeeze(1).unwrap();
        let (h_new, c_new) = match cell {
            Cell::Lstm => {
                let gates = (step + nn::linear(&h, w("weight_hh"), None).unwrap()).unwrap();
                let (h_new, c_new) = nn::lstm_cell(&gates, &c).unwrap();
                (h_new, Some(c_new))
            }
            Cell::Gru => {
                let gh = nn::linear(&h, w("weight_hh"), Some(w("bias_hh"))).unwrap();
                (nn::gru_cell(&step, &gh, &h).unwrap(), None)
            }
        };
        let valid = lengths
            .gt(t as f64)
            .unwrap()
            .unsqueeze(1)
            .unwrap()
            .broadcast_as((batch, hidden))
            .unwrap();
        h = valid.where_cond(&h_new, &h).unwrap();
        if let Some(c_new) = c_new {
            c = valid.where_cond(&c_new, &c).unwrap();
        }
        outs.push(valid.where_cond(&h_new, &zeros).unwrap());
    }
    (Tensor::stack(&outs, 1).unwrap(), h)
}

fn loop_matches_recurrent(fixture: &str, cell: Cell) {
    let fx = Fixture::load(fixture);
    let vars = fx.vars();
    let lengths = fx.get("lengths");
    let mut p = ParamMap::new();
    for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
        p.insert(format!("{name}_l0"), vars[name].as_tensor().clone());
    }
    let x = vars["x"].as_tensor();
    let (seq, h) = fused_direction(x, &lengths, &p, cell);
    fx.check("output", &seq);
    fx.check("h_n", &h);
    let cfg = RecurrentConfig {
        cell,
        hidden: h.dim(1).unwrap(),
        layers: 1,
        bidirectional: false,
        merge: Merge::Concat,
    };
    let typed = RecurrentParams::from_map(&p, 1, false).unwrap();
    let reference = nn::recurrent(x, Some(&lengths), &typed, &cfg).unwrap();
    let (atol, rtol) = tolerance(1e-6, 1e-5);
    assert_close("seq vs nn::recurrent", &seq, &reference.seq, atol, rtol);
    let up = fx.get("upstream.output");
    let ours = dot(&seq, &up).backward().unwrap();
    let want = dot(&reference.seq, &up).backward().unwrap();
    let mut compared = HashMap::new();
    for (name, var) in &vars {
        if let (Some(a), Some(b)) = (ours.get(var.as_tensor()), want.get(var.as_tensor())) {
            assert_close(&format!("d {name}"), a, b, atol, rtol);
            compared.insert(name.clone(), ());
        }
    }
    assert_eq!(compared.len(), 5, "gradients compared: {compared:?}");
}

#[test]
fn an_lstm_loop_on_fused_cells_reproduces_recurrent_and_the_fixture() {
    loop_matches_recurrent("lstm", Cell::Lstm);
}

#[test]
fn a_gru_loop_on_fused_cells_reproduces_recurrent_and_the_fixture() {
    loop_matches_recurrent("gru", Cell::Gru);
}
