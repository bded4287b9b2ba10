//! Hashed dropout masks (`nn::hashed_mask`, what `nn::dropout` uses on CUDA): values, rate, reproducibility,
//! and the same mask on the test device as the CPU reference computes.

use candle_core::{DType, Device, Tensor};
use fusec::nn;
use fusec::rng::SeededRng;

use crate::device::test_device;

fn values(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

#[test]
fn hashed_masks_drop_at_rate_p_and_scale_the_rest() {
    let x = Tensor::zeros((200, 500), DType::F32, &test_device()).unwrap();
    let mask = values(&nn::hashed_mask(&x, 42, 0.3).unwrap());
    let keep = 1.0 / 0.7f32;
    assert!(mask.iter().all(|v| *v == 0.0 || (*v - keep).abs() < 1e-6));
    let dropped = mask.iter().filter(|v| **v == 0.0).count() as f64 / mask.len() as f64;
    assert!((dropped - 0.3).abs() < 0.01, "dropped {dropped}");
    assert_eq!(mask, values(&nn::hashed_mask(&x, 42, 0.3).unwrap()));
    assert_ne!(mask, values(&nn::hashed_mask(&x, 43, 0.3).unwrap()));
    assert!(nn::hashed_mask(&x, 1, 1.0).is_err());
}

#[test]
fn hashed_masks_are_the_same_on_every_device_and_dtype() {
    let dims = (3, 7, 11);
    let on_cpu = Tensor::zeros(dims, DType::F32, &Device::Cpu).unwrap();
    let reference = values(&nn::hashed_mask(&on_cpu, 7, 0.25).unwrap());
    for dtype in [DType::F32, DType::F64, DType::BF16, DType::F16] {
        let here = Tensor::zeros(dims, dtype, &test_device()).unwrap();
        let mask = nn::hashed_mask(&here, 7, 0.25).unwrap();
        assert_eq!(mask.dtype(), dtype);
        assert_eq!(mask.dims(), &[3, 7, 11]);
        // 1 / 0.75 rounds differently in each dtype; where the element is kept is what must agree.
        let kept: Vec<bool> = values(&mask).iter().map(|v| *v != 0.0).collect();
        let want: Vec<bool> = reference.iter().map(|v| *v != 0.0).collect();
        assert_eq!(kept, want, "{dtype:?}");
    }
}

#[test]
fn dropout_on_the_test_device_is_seeded() {
    let x = Tensor::ones((64, 64), DType::F32, &test_device()).unwrap();
    let a = nn::dropout(&x, 0.5, &mut SeededRng::new(3)).unwrap();
    let b = nn::dropout(&x, 0.5, &mut SeededRng::new(3)).unwrap();
    assert_eq!(values(&a), values(&b));
    let zeros = values(&a).iter().filter(|v| **v == 0.0).count();
    assert!((1500..2600).contains(&zeros), "{zeros} of 4096 dropped");
}
