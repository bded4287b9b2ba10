//! The fused CPU kernels against the generic candle paths they replace: the vectorised exp/sigmoid/tanh against
//! the standard library, and the fused recurrent stack (values, final states, every parameter and input
//! gradient) against `nn::recurrent` differentiated by candle's autograd, over cells, depths, directions,
//! merges and lengths (including zero-length and full-length rows), plus the `lstm`/`bilstm`/`gru` fixtures.

use candle_core::{DType, Tensor, Var};
use fusec::ir::{Cell, Merge};
use fusec::nn::fused::{recurrent as fused, vmath};
use fusec::nn::{self, ParamMap, RecurrentConfig, RecurrentParams};

use crate::nn_util::{assert_close, pseudo_random};

#[test]
fn vector_math_matches_std() {
    let mut worst = [0f64; 3];
    let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.0237).collect();
    let (mut e, mut s, mut t) = (xs.clone(), xs.clone(), xs.clone());
    vmath::exp_in_place(&mut e);
    vmath::sigmoid_in_place(&mut s);
    vmath::tanh_in_place(&mut t);
    for (i, &x) in xs.iter().enumerate() {
        let x64 = f64::from(x);
        let refs = [x64.exp(), 1.0 / (1.0 + (-x64).exp()), x64.tanh()];
        for (k, (got, want)) in [e[i], s[i], t[i]].iter().zip(refs).enumerate() {
            // exp saturates at e^88.3 (its callers only need it inside sigmoid and tanh).
            if k == 0 && !(-87.0..=88.0).contains(&x) {
                continue;
            }
            let rel = (f64::from(*got) - want).abs() / want.abs().max(1e-30);
            worst[k] = worst[k].max(if want.abs() < 1e-30 { 0.0 } else { rel });
        }
    }
    assert!(worst[0] < 3e-7, "exp: worst relative error {:e}", worst[0]);
    assert!(
        worst[1] < 3e-7,
        "sigmoid: worst relative error {:e}",
        worst[1]
    );
    assert!(worst[2] < 3e-7, "tanh: worst relative error {:e}", worst[2]);
    // Saturation and NaN propagation.
    let mut edge = vec![f32::NEG_INFINITY, -1e4, 1e4, f32::INFINITY, f32::NAN, 0.0];
    vmath::sigmoid_in_place(&mut edge);
    assert!(edge[0] >= 0.0 && edge[0] < 1e-38 && edge[1] >= 0.0 && edge[1] < 1e-38);
    assert_eq!(&edge[2..4], &[1.0, 1.0]);
    assert!(edge[4].is_nan());
    assert_eq!(edge[5], 0.5);
    let mut edge = vec![-1e4f32, 1e4, f32::NAN, -0.0];
    vmath::tanh_in_place(&mut edge);
    assert_eq!(&edge[..2], &[-1.0, 1.0]);
    assert!(edge[2].is_nan());
    let mut edge = vec![-1e4f32, 1e4, f32::NAN];
    vmath::exp_in_place(&mut edge);
    assert!(edge[0] >= 0.0 && edge[0] < 1e-37);
    assert!(edge[1] > 1e38);
    assert!(edge[2].is_nan());
}

struct Case {
    cell: Cell,
    layers: usize,
    bidirectional: bool,
    merge: Merge,
    lengths: Option<Vec<i64>>,
}

fn f32_random(dims: &[usize], seed: u64) -> Tensor {
    pseudo_random(dims, seed).to_dtype(DType::F32).unwrap()
}

/// Random PyTorch-shaped parameters for a stack (weights scaled like PyTorch's init).
fn random_params(cfg: &RecurrentConfig, input: usize) -> Vec<(String, Var)> {
    let gates = match cfg.cell {
        Cell::Lstm => 4,
        Cell::Gru => 3,
    };
    let h = cfg.hidden;
    let dirs = if cfg.bidirectional { 2 } else { 1 };
    let below = if cfg.bidirectional && cfg.merge == Merge::Concat {
        2 * h
    } else {
        h
    };
    let mut out = Vec::new();
    let mut seed = 100;
    for layer in 0..cfg.layers {
        let in_w = if layer == 0 { input } else { below };
        for d in 0..dirs {
            let sfx = format!("l{layer}{}", if d == 1 { "_reverse" } else { "" });
            for (name, dims) in [
                ("weight_ih", vec![gates * h, in_w]),
                ("weight_hh", vec![gates * h, h]),
                ("bias_ih", vec![gates * h]),
                ("bias_hh", vec![gates * h]),
            ] {
                seed += 1;
                let t = (f32_random(&dims, seed) * 0.6).unwrap();
                out.push((format!("{name}_{sfx}"), Var::from_tensor(&t).unwrap()));
            }
        }
    }
    out
}

fn run_case(case: &Case) {
    let (batch, time, input, hidden) = (4, 6, 5, 7);
    let cfg = RecurrentConfig {
        cell: case.cell,
        hidden,
        layers: case.layers,
        bidirectional: case.bidirectional,
        merge: case.merge,
    };
    let what = format!(
        "{:?} layers {} bi {} {:?} lengths {:?}",
        case.cell, case.layers, case.bidirectional, case.merge, case.lengths
    );
    let vars = random_params(&cfg, input);
    let x = Var::from_tensor(&f32_random(&[batch, time, input], 7)).unwrap();
    let lengths = case
        .lengths
        .as_ref()
        .map(|l| Tensor::new(l.as_slice(), &candle_core::Device::Cpu).unwrap());
    let p: ParamMap = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    // Reference: the generic path, differentiated by candle.
    let p = RecurrentParams::from_map(&p, cfg.layers, cfg.bidirectional).unwrap();
    let reference = nn::recurrent(x.as_tensor(), lengths.as_ref(), &p, &cfg).unwrap();
    let up_seq = f32_random(reference.seq.dims(), 11);
    let up_h = f32_random(reference.h.dims(), 12);
    let up_c = f32_random(reference.h.dims(), 13);
    let mut loss = (reference.seq.mul(&up_seq).unwrap().sum_all().unwrap()
        + reference.h.mul(&up_h).unwrap().sum_all().unwrap())
    .unwrap();
    if let Some(c) = &reference.c {
        loss = (loss + c.mul(&up_c).unwrap().sum_all().unwrap()).unwrap();
    }
    let grads = loss.backward().unwrap();
    // Fused: detached inputs, hand-written backward.
    let pd: ParamMap = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
        .collect();
    let pd = RecurrentParams::from_map(&pd, cfg.layers, cfg.bidirectional).unwrap();
    let xd = x.as_tensor().detach();
    assert!(fused::supported(&xd, &pd));
    let (out, tape) = fused::forward(&xd, lengths.as_ref(), &pd, &cfg).unwrap();
    let tol = 2e-6;
    assert_close(&format!("{what}: seq"), &out.seq, &reference.seq, tol, tol);
    assert_close(&format!("{what}: h"), &out.h, &reference.h, tol, tol);
    if let (Some(c), Some(rc)) = (&out.c, &reference.c) {
        assert_close(&format!("{what}: c"), c, rc, tol, tol);
    }
    // The inference path keeps no tape and must give the very same numbers.
    let inferred = fused::infer(&xd, lengths.as_ref(), &pd, &cfg).unwrap();
    let same = |a: &Tensor, b: &Tensor| {
        a.flatten_all().unwrap().to_vec1::<f32>().unwrap()
            == b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };
    assert!(same(&inferred.seq, &out.seq), "{what}: inferred seq");
    assert!(same(&inferred.h, &out.h), "{what}: inferred h");
    if let (Some(a), Some(b)) = (&inferred.c, &out.c) {
        assert!(same(a, b), "{what}: inferred c");
    }
    let up_c_opt = out.c.as_ref().map(|_| &up_c);
    let (dx, pgrads) = fused::backward(
        &tape,
        &pd,
        fused::OutputGrads {
            seq: Some(&up_seq),
            h: Some(&up_h),
            c: up_c_opt,
        },
        true,
    )
    .unwrap();
    let gtol = 1e-5;
    let want_dx = grads.get(x.as_tensor()).unwrap();
    assert_close(&format!("{what}: dx"), &dx.unwrap(), want_dx, gtol, gtol);
    assert_eq!(
        pgrads.len(),
        vars.len(),
        "{what}: one gradient per parameter"
    );
    for (name, g) in &pgrads {
        let var = &vars.iter().find(|(n, _)| n == name).unwrap().1;
        let want = grads
            .get(var.as_tensor())
            .cloned()
            .unwrap_or_else(|| var.as_tensor().zeros_like().unwrap());
        assert_close(&format!("{what}: d{name}"), g, &want, gtol, gtol);
    }
}

#[test]
fn fused_recurrent_matches_autograd() {
    let lengths = Some(vec![6, 3, 0, 1]);
    for cell in [Cell::Lstm, Cell::Gru] {
        for (layers, bidirectional, merge) in [
            (1, false, Merge::Concat),
            (1, true, Merge::Concat),
            (2, true, Merge::Concat),
            (2, true, Merge::Sum),
            (2, false, Merge::Concat),
        ] {
            for lengths in [None, lengths.clone()] {
                run_case(&Case {
                    cell,
                    layers,
                    bidirectional,
                    merge,
                    lengths,
                });
            }
        }
    }
}

/// The fused transformer layer against `nn::transformer_layer` under candle's autograd: outputs and every
/// gradient, self- and cross-attention (with Tk ≠ Tq), causal or not, with and without dropout (the two draw
/// the same masks from the same generator position). Five examples, so that with two or more threads the
/// fused layer's per-example parallel path runs; Tq = 5 and Tk = 7 or 4 leave padded vector lanes.
#[test]
fn fused_transformer_layer_matches_autograd() {
    use fusec::nn::fused::transformer as fused_tf;
    use fusec::nn::TransformerParams;
    use fusec::rng::SeededRng;
    let (batch, tq, d, ff, heads) = (5, 5, 12, 20, 3);
    let specs = TransformerParams::specs(d as i64, ff as i64);
    for (tk, cross, causal, p_drop) in [
        (5, false, false, 0.0),
        (5, false, true, 0.2),
        (7, true, false, 0.0),
        (4, true, true, 0.3),
    ] {
        let what = format!("tk {tk} cross {cross} causal {causal} dropout {p_drop}");
        let vars: Vec<(String, Var)> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let dims: Vec<usize> = s.shape.iter().map(|n| *n as usize).collect();
                let t = (f32_random(&dims, 40 + i as u64) * 0.5).unwrap();
                (s.suffix.clone(), Var::from_tensor(&t).unwrap())
            })
            .collect();
        let map: ParamMap = vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let p = TransformerParams::from_map(&map).unwrap();
        let x = Var::from_tensor(&f32_random(&[batch, tq, d], 3)).unwrap();
        let kv = Var::from_tensor(&f32_random(&[batch, tk, d], 4)).unwrap();
        let kv_ref = cross.then(|| kv.as_tensor());
        let mut rng = SeededRng::new(9);
        let reference = nn::transformer_layer(
            x.as_tensor(),
            kv_ref,
            &p,
            heads,
            causal,
            p_drop,
            p_drop,
            p_drop,
            Some(&mut rng),
        )
        .unwrap();
        let up = f32_random(reference.dims(), 21);
        let grads = reference
            .mul(&up)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let pd: ParamMap = vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
            .collect();
        let pd = TransformerParams::from_map(&pd).unwrap();
        let xd = x.as_tensor().detach();
        let kvd = kv.as_tensor().detach();
        let kv_fused = cross.then_some(&kvd);
        assert!(fused_tf::supported(&xd, kv_fused, &pd));
        let cfg = fused_tf::LayerConfig {
            heads,
            causal,
            attn_dropout: p_drop,
            relu_dropout: p_drop,
            res_dropout: p_drop,
        };
        let mut rng = SeededRng::new(9);
        let (out, tape) = fused_tf::forward(&xd, kv_fused, &pd, cfg, Some(&mut rng)).unwrap();
        assert_close(&format!("{what}: out"), &out, &reference, 2e-5, 2e-5);
        let g = fused_tf::backward(&tape, &up).unwrap();
        assert_close(
            &format!("{what}: dx"),
            &g.dx,
            grads.get(x.as_tensor()).unwrap(),
            5e-5,
            5e-4,
        );
        match (g.dkv, cross) {
            (Some(dkv), true) => assert_close(
                &format!("{what}: dkv"),
                &dkv,
                grads.get(kv.as_tensor()).unwrap(),
                5e-5,
                5e-4,
            ),
            (None, false) => {}
            (other, _) => panic!("{what}: dkv {:?}", other.map(|t| t.dims().to_vec())),
        }
        assert_eq!(g.params.len(), vars.len());
        for (name, gv) in &g.params {
            let var = &vars.iter().find(|(n, _)| n == name).unwrap().1;
            let want = grads.get(var.as_tensor()).unwrap();
            assert_close(&format!("{what}: d{name}"), gv, want, 5e-5, 5e-4);
        }
    }
}
