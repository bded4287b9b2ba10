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
