//! Fixture `losses`: cross-entropy (incl. a row of logits -40..60 and MulT's IEMOCAP [5,8] -> [20,2] view),
//! BCE-with-logits at ±80 and ±200 with a soft target, MSE and L1, with every gradient.

use candle_core::{Device, Tensor};
use fusec::nn;

use crate::nn_util::{flat_f64, Fixture};

#[test]
fn losses_fixture() {
    let fx = Fixture::load("losses");
    let vars = fx.vars();

    let ce = nn::cross_entropy(&vars["ce.logits"], &fx.get("ce.labels")).unwrap();
    fx.check("ce.loss", &ce);
    fx.check_grads("grad_ce.", &ce.backward().unwrap(), &vars);

    let logits = vars["iemocap.logits"].reshape((20, 2)).unwrap();
    let labels = fx.get("iemocap.labels").reshape(20).unwrap();
    let iemocap = nn::cross_entropy(&logits, &labels).unwrap();
    fx.check("iemocap.loss", &iemocap);
    fx.check_grads("grad_iemocap.", &iemocap.backward().unwrap(), &vars);

    let elements =
        nn::bce_with_logits_elements(&vars["bce.logits"], &fx.get("bce.targets")).unwrap();
    fx.check("bce.loss_elements", &elements);
    let bce = nn::bce_with_logits(&vars["bce.logits"], &fx.get("bce.targets")).unwrap();
    fx.check("bce.loss", &bce);
    let grads = bce.backward().unwrap();
    assert!(flat_f64(grads.get(vars["bce.logits"].as_tensor()).unwrap())
        .iter()
        .all(|v| v.is_finite()));
    fx.check_grads("grad_bce.", &grads, &vars);

    let (pred, target) = (&vars["regress.pred"], &vars["regress.target"]);
    let mse = nn::mse(pred, target).unwrap();
    fx.check("mse.loss", &mse);
    fx.check_grads("grad_mse.", &mse.backward().unwrap(), &vars);
    let l1 = nn::l1(pred, target).unwrap();
    fx.check("l1.loss", &l1);
    fx.check_grads("grad_l1.", &l1.backward().unwrap(), &vars);
    fx.assert_all_checked();
}

#[test]
fn cross_entropy_accepts_leading_dims() {
    let dev = Device::Cpu;
    let logits = Tensor::new(&[[[0f32, 1., 2.], [2., 1., 0.]]], &dev).unwrap(); // [1, 2, 3]
    let labels = Tensor::new(&[[2i64, 0]], &dev).unwrap(); // [1, 2]
    let loss = nn::cross_entropy(&logits, &labels)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let expected = (1f32 + (-1f32).exp() + (-2f32).exp()).ln();
    assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
}
