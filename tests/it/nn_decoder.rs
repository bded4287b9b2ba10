//! The attention decoder's kernels: teacher forcing and step-by-step decoding compute the same distributions,
//! padding in the memory is invisible, and the loss's gradients match central finite differences (f64).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use fusec::ir::DecoderInit;
use fusec::nn::{
    decoder_step, log_softmax, next_token_cross_entropy, source_mask_bias, teacher_forced,
    DecoderState, DecoderWeights, ParamMap,
};
use fusec::rng::SeededRng;

const H: usize = 4;
const E: usize = 3;
const V: usize = 7;

fn params(rng: &mut SeededRng) -> ParamMap {
    let dev = Device::Cpu;
    let mut p = HashMap::new();
    for (name, shape) in [
        ("embed.weight", vec![V, E]),
        ("cell.weight_ih", vec![4 * H, E]),
        ("cell.weight_hh", vec![4 * H, H]),
        ("cell.bias_ih", vec![4 * H]),
        ("cell.bias_hh", vec![4 * H]),
        ("cat.weight", vec![H, 2 * H]),
        ("cat.bias", vec![H]),
        ("out.weight", vec![V, H + E]),
        ("out.bias", vec![V]),
    ] {
        let t = rng
            .normal_tensor(&shape, 0.5, &dev)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        p.insert(name.to_string(), t);
    }
    p
}

fn inputs(rng: &mut SeededRng) -> (Tensor, Tensor, Tensor, Tensor) {
    let dev = Device::Cpu;
    let memory = rng
        .normal_tensor(&[2, 5, H], 1.0, &dev)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap();
    let lengths = Tensor::new(&[5i64, 3], &dev).unwrap();
    let init = rng
        .normal_tensor(&[2, H], 1.0, &dev)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap();
    let targets = Tensor::new(&[[1i64, 4, 5, 6, 2], [1, 3, 2, 0, 0]], &dev).unwrap();
    (memory, lengths, init, targets)
}

#[test]
fn teacher_forcing_equals_step_by_step_decoding() {
    let mut rng = SeededRng::new(3);
    let w = DecoderWeights::from_map(&params(&mut rng)).unwrap();
    let (memory, lengths, init, targets) = inputs(&mut rng);
    let mask = source_mask_bias(&lengths, 5, DType::F64).unwrap();
    let s0 = DecoderState::initial(&init, DecoderInit::Cell).unwrap();
    let logits = teacher_forced(&w, &memory, &mask, s0.clone(), &targets, 0.0, None).unwrap();
    let full = log_softmax(&logits, 2).unwrap();
    let mut s = s0;
    for t in 0..5 {
        let prev = targets
            .narrow(1, t, 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
            .to_dtype(DType::U32)
            .unwrap();
        let (logp, next) = decoder_step(&w, &memory, &mask, &s, &prev).unwrap();
        s = next;
        let want = full.narrow(1, t, 1).unwrap().squeeze(1).unwrap();
        let diff = logp
            .sub(&want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(diff < 1e-12, "step {t}: {diff}");
    }
}

#[test]
fn padded_memory_positions_do_not_matter() {
    let mut rng = SeededRng::new(4);
    let w = DecoderWeights::from_map(&params(&mut rng)).unwrap();
    let (memory, lengths, init, targets) = inputs(&mut rng);
    let mask = source_mask_bias(&lengths, 5, DType::F64).unwrap();
    let s0 = DecoderState::initial(&init, DecoderInit::Cell).unwrap();
    let a = teacher_forced(&w, &memory, &mask, s0.clone(), &targets, 0.0, None).unwrap();
    // Change the second example's memory past its length (3).
    let noise = Tensor::ones((1, 2, H), DType::F64, &Device::Cpu)
        .unwrap()
        .affine(100.0, 0.0)
        .unwrap();
    let tail = memory
        .narrow(0, 1, 1)
        .unwrap()
        .narrow(1, 3, 2)
        .unwrap()
        .add(&noise)
        .unwrap();
    let second = Tensor::cat(
        &[
            &memory.narrow(0, 1, 1).unwrap().narrow(1, 0, 3).unwrap(),
            &tail,
        ],
        1,
    )
    .unwrap();
    let changed = Tensor::cat(&[&memory.narrow(0, 0, 1).unwrap(), &second], 0).unwrap();
    let b = teacher_forced(&w, &changed, &mask, s0, &targets, 0.0, None).unwrap();
    let diff = a
        .sub(&b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!(diff < 1e-12, "{diff}");
}

fn loss(
    w: &DecoderWeights,
    memory: &Tensor,
    init: &Tensor,
    lengths: &Tensor,
    targets: &Tensor,
) -> Tensor {
    let mask = source_mask_bias(lengths, 5, DType::F64).unwrap();
    let s0 = DecoderState::initial(init, DecoderInit::Cell).unwrap();
    let logits = teacher_forced(w, memory, &mask, s0, targets, 0.0, None).unwrap();
    next_token_cross_entropy(&logits, targets).unwrap()
}

#[test]
fn loss_gradients_match_finite_differences() {
    let mut rng = SeededRng::new(5);
    let mut p = params(&mut rng);
    let (memory, lengths, init, targets) = inputs(&mut rng);
    let out_w = Var::from_tensor(&p["out.weight"]).unwrap();
    let w_hh = Var::from_tensor(&p["cell.weight_hh"]).unwrap();
    let mem = Var::from_tensor(&memory).unwrap();
    let st = Var::from_tensor(&init).unwrap();
    p.insert("out.weight".into(), out_w.as_tensor().clone());
    p.insert("cell.weight_hh".into(), w_hh.as_tensor().clone());
    let w = DecoderWeights::from_map(&p).unwrap();
    let grads = loss(&w, mem.as_tensor(), st.as_tensor(), &lengths, &targets)
        .backward()
        .unwrap();
    let eps = 1e-6;
    for (name, var) in [
        ("out.weight", &out_w),
        ("cell.weight_hh", &w_hh),
        ("memory", &mem),
        ("init", &st),
    ] {
        let g = grads
            .get(var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for i in (0..base.len()).step_by(3) {
            let at = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                let t = Tensor::from_vec(v, var.as_tensor().dims(), &Device::Cpu).unwrap();
                let mut q = p.clone();
                let (m, s) = match name {
                    "memory" => (t.clone(), init.clone()),
                    "init" => (memory.clone(), t.clone()),
                    _ => {
                        q.insert(name.to_string(), t);
                        (memory.clone(), init.clone())
                    }
                };
                let w = DecoderWeights::from_map(&q).unwrap();
                loss(&w, &m, &s, &lengths, &targets)
                    .to_scalar::<f64>()
                    .unwrap()
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            assert!(
                (fd - g[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{name}[{i}]: {} vs {fd}",
                g[i]
            );
        }
    }
}
