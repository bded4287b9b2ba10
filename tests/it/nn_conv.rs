//! Convolutions: forwards against candle's own conv kernels (whose forward passes are right) and gradients
//! against central finite differences in f64, with batch > 1 (where candle's conv1d backward is wrong).

use fusec::nn;

use crate::nn_util::{assert_close, check_finite_differences, pseudo_random};

#[test]
fn conv1d_matches_candle_forward() {
    for (stride, padding, kernel) in [(1, 0, 3), (2, 1, 3), (1, 2, 1), (3, 0, 2)] {
        let x = pseudo_random(&[2, 7, 3], 1); // [B, T, C]
        let w = pseudo_random(&[4, 3, kernel], 2); // [O, C, K]
        let b = pseudo_random(&[4], 3);
        let ours = nn::conv1d(&x, &w, Some(&b), stride, padding).unwrap();
        let reference = x
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .conv1d(&w, padding, stride, 1, 1)
            .unwrap()
            .broadcast_add(&b.reshape((1, 4, 1)).unwrap())
            .unwrap()
            .transpose(1, 2)
            .unwrap();
        assert_close(
            &format!("conv1d s{stride} p{padding} k{kernel}"),
            &ours,
            &reference,
            1e-12,
            1e-12,
        );
    }
}

#[test]
fn conv1d_gradients() {
    let inputs = [
        pseudo_random(&[2, 5, 3], 4),
        pseudo_random(&[2, 3, 3], 5),
        pseudo_random(&[2], 6),
    ];
    check_finite_differences("conv1d", &inputs, |t| {
        nn::conv1d(&t[0], &t[1], Some(&t[2]), 2, 1)
    });
    check_finite_differences("conv1d no bias", &inputs[..2], |t| {
        nn::conv1d(&t[0], &t[1], None, 1, 0)
    });
}

#[test]
fn conv2d_matches_candle_forward() {
    for (stride, padding, kernel) in [(1, 0, 3), (2, 1, 3), (1, 1, 2)] {
        let x = pseudo_random(&[2, 3, 6, 5], 7);
        let w = pseudo_random(&[4, 3, kernel, kernel], 8);
        let b = pseudo_random(&[4], 9);
        let ours = nn::conv2d(&x, &w, Some(&b), stride, padding).unwrap();
        let reference = x
            .conv2d(&w, padding, stride, 1, 1)
            .unwrap()
            .broadcast_add(&b.reshape((1, 4, 1, 1)).unwrap())
            .unwrap();
        assert_close(
            &format!("conv2d s{stride} p{padding} k{kernel}"),
            &ours,
            &reference,
            1e-12,
            1e-12,
        );
    }
}

#[test]
fn conv2d_gradients() {
    let inputs = [
        pseudo_random(&[2, 2, 4, 5], 10),
        pseudo_random(&[3, 2, 2, 2], 11),
        pseudo_random(&[3], 12),
    ];
    check_finite_differences("conv2d", &inputs, |t| {
        nn::conv2d(&t[0], &t[1], Some(&t[2]), 2, 1)
    });
}

#[test]
fn conv_shape_errors() {
    let x = pseudo_random(&[1, 2, 3], 1);
    assert!(
        nn::conv1d(&x, &pseudo_random(&[2, 3, 5], 2), None, 1, 0).is_err(),
        "kernel longer than input"
    );
    assert!(
        nn::conv1d(&x, &pseudo_random(&[2, 4, 1], 2), None, 1, 0).is_err(),
        "channel mismatch"
    );
    assert!(
        nn::conv1d(&x, &pseudo_random(&[2, 3, 1], 2), None, 0, 0).is_err(),
        "zero stride"
    );
}
