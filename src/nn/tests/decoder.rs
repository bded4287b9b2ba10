//! Unit tests of `src/nn/decoder.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;
use candle_core::Device;

#[test]
fn next_token_loss_ignores_pad_and_shifts() {
    let dev = Device::Cpu;
    // B=1, T=3, V=3: position 0 predicts token 1 (id 2), position 1 predicts a PAD (ignored).
    let logits = Tensor::new(&[[[0f32, 0., 5.], [9., 0., 0.], [0., 0., 0.]]], &dev).unwrap();
    let targets = Tensor::new(&[[1i64, 2, 0]], &dev).unwrap();
    let l = next_token_cross_entropy(&logits, &targets)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let expect = -(5f32 - (2f32 + 5f32.exp()).ln());
    assert!((l - expect).abs() < 1e-5, "{l} vs {expect}");
}

#[test]
fn mask_bias_marks_padding() {
    let dev = Device::Cpu;
    let m = source_mask_bias(&Tensor::new(&[1i64, 3], &dev).unwrap(), 3, DType::F32).unwrap();
    let v = m.to_vec2::<f32>().unwrap();
    assert_eq!(v[0][0], 0.0);
    assert!(v[0][1] < -1e9 && v[0][2] < -1e9);
    assert_eq!(v[1], vec![0.0, 0.0, 0.0]);
}

/// Random decoder parameters (`Var`s) of the given dtype, named as `DecoderWeights::specs` names them.
fn random_params(
    vocab: i64,
    emb: i64,
    hidden: i64,
    dtype: DType,
) -> Vec<(String, candle_core::Var)> {
    let mut rng = SeededRng::new(7);
    DecoderWeights::specs(vocab, emb, hidden)
        .into_iter()
        .map(|s| {
            let shape: Vec<usize> = s.shape.iter().map(|&d| d as usize).collect();
            let t = rng
                .normal_tensor(&shape, 0.3, &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            (s.suffix, candle_core::Var::from_tensor(&t).unwrap())
        })
        .collect()
}

/// Teacher-forced loss and gradients of every parameter, the memory and the initial state, in `dtype`: f32
/// takes the fused ops (`lstm_sequence`, `next_token_nll`), f64 the generic per-step candle path.
fn loss_and_grads(dtype: DType) -> (f64, Vec<(String, Vec<f64>)>) {
    let (b, tx, ty, v, e, h) = (3usize, 4usize, 5usize, 11i64, 6i64, 8i64);
    let dev = Device::Cpu;
    let params = random_params(v, e, h, dtype);
    let map: ParamMap = params
        .iter()
        .map(|(k, var)| (k.clone(), var.as_tensor().clone()))
        .collect();
    let w = DecoderWeights::from_map(&map).unwrap();
    let mut rng = SeededRng::new(3);
    let f = |t: Tensor| candle_core::Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap();
    let memory = f(rng.normal_tensor(&[b, tx, h as usize], 1.0, &dev).unwrap());
    let init = f(rng.normal_tensor(&[b, h as usize], 1.0, &dev).unwrap());
    let lengths = Tensor::new(&[4i64, 2, 3], &dev).unwrap();
    let mask = source_mask_bias(&lengths, tx, dtype).unwrap();
    // Row 1 ends early (PAD targets are ignored by the loss).
    let targets = Tensor::new(
        &[[1i64, 5, 7, 2, 9], [1, 3, 10, 0, 0], [1, 4, 4, 8, 6]],
        &dev,
    )
    .unwrap();
    let state = DecoderState::initial(init.as_tensor(), DecoderInit::Both).unwrap();
    let logits = teacher_forced(&w, memory.as_tensor(), &mask, state, &targets, 0.0, None).unwrap();
    assert_eq!(logits.dims(), [b, ty, v as usize]);
    let loss = next_token_cross_entropy(&logits, &targets).unwrap();
    let grads = loss.backward().unwrap();
    let mut out = Vec::new();
    let named = params
        .iter()
        .map(|(k, var)| (k.clone(), var.as_tensor().clone()))
        .chain([
            ("memory".to_string(), memory.as_tensor().clone()),
            ("init".to_string(), init.as_tensor().clone()),
        ]);
    for (name, t) in named {
        let g = grads
            .get(&t)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let g = g.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
        out.push((name, g.to_vec1::<f64>().unwrap()));
    }
    let loss = loss
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    (loss, out)
}

#[test]
fn fused_recurrence_and_loss_match_the_generic_path() {
    let (loss32, grads32) = loss_and_grads(DType::F32);
    let (loss64, grads64) = loss_and_grads(DType::F64);
    assert!((loss32 - loss64).abs() < 1e-5, "loss {loss32} vs {loss64}");
    for ((name, a), (_, b)) in grads32.iter().zip(&grads64) {
        let scale = b.iter().fold(1e-3f64, |m, x| m.max(x.abs()));
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f64, f64::max);
        assert!(
            worst < 1e-5 * scale.max(1.0),
            "{name}: max |f32 - f64| {worst} (largest gradient {scale})"
        );
    }
}
