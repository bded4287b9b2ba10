//! Data resident on the training device (`data::ResidentData`) and checkpoints that move between devices, on the
//! test device (`crate::device`): every gathered batch equals `Dataset::gather`'s (values, dtype, shape, text
//! trimmed to the batch's longest sentence), and a run trained there restores, evaluates and resumes on the CPU.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use fusec::data::{self, Dataset, ResidentData};
use fusec::ir::Dtype;
use fusec::rng::SeededRng;
use fusec::run::{evaluate, Checkpoint, Objectives};

use crate::device::{test_device, tolerance};
use crate::nn_util::assert_close;
use crate::support::{compile_file, temp_dir, train_on};

fn load(file: &str) -> Dataset {
    let c = compile_file(file, &[], false);
    let plan = c.program.train.as_ref().unwrap();
    data::load(c.program.data_spec(&plan.data).unwrap(), Path::new(".")).unwrap()
}

/// Every field of `ds`, gathered both ways for a few shuffled batches of `size`.
fn gathers_agree(ds: &Dataset, size: usize) {
    let names: Vec<&str> = ds.fields.keys().map(String::as_str).collect();
    let resident = ResidentData::upload(ds, names.iter().copied(), &test_device()).unwrap();
    let mut order: Vec<usize> = (0..ds.n_examples()).collect();
    SeededRng::new(5).shuffle(&mut order);
    let order: Vec<usize> = order.into_iter().take(3 * size).collect();
    let uploaded = resident.upload_order(order.clone()).unwrap();
    for (k, idx) in order.chunks(size).enumerate() {
        let batch = uploaded.batch(k * size, idx.len()).unwrap();
        for name in &names {
            let want = ds.gather(name, idx, &Device::Cpu).unwrap();
            let got = resident.gather(name, &batch).unwrap();
            assert_eq!(got.dtype(), want.dtype(), "{name}");
            assert_eq!(got.dims(), want.dims(), "{name}");
            assert!(
                got.device().same_device(&test_device()),
                "{name} left the device"
            );
            let as_f64 = |t: &Tensor| t.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
            let (got, want) = (
                as_f64(&got).to_vec1::<f64>().unwrap(),
                as_f64(&want).to_vec1::<f64>().unwrap(),
            );
            assert!(got == want, "{name}: batch {k} differs");
        }
    }
}

#[test]
fn resident_batches_equal_host_batches() {
    // Floats and class labels; pickled features with per-emotion labels; text padded per batch.
    let mfeat = load("examples/mfeat/concat.fuse");
    gathers_agree(&mfeat, 7);
    gathers_agree(&load("examples/iemocap/concat.fuse"), 5);
    gathers_agree(&load("examples/mmt/emoji_de_text.fuse"), 9);
    // Bool fields come as u8, f64 fields as f64.
    let mut recast = mfeat.clone();
    let label = recast.fields.get_mut("label").unwrap();
    label.dtype = Dtype::Bool;
    if let data::FieldValues::I64(v) = &mut label.values {
        v.iter_mut().for_each(|x| *x = (*x > 4) as i64);
    }
    let first = recast
        .fields
        .keys()
        .find(|k| *k != "label")
        .unwrap()
        .clone();
    recast.fields.get_mut(&first).unwrap().dtype = Dtype::F64;
    gathers_agree(&recast, 4);
}

#[test]
fn a_batch_past_the_uploaded_order_is_an_error() {
    let ds = load("examples/mfeat/concat.fuse");
    let resident = ResidentData::upload(&ds, ["label"], &test_device()).unwrap();
    let order = resident.upload_order(vec![0, 1, 2]).unwrap();
    assert!(order.batch(2, 2).is_err());
    assert!(resident.gather("fou", &order.batch(0, 1).unwrap()).is_err());
}

/// Trains on the test device, then restores the checkpoint on the CPU and on the test device: both evaluate to
/// the training device's test metrics, and the CPU resumes the device's run.
#[test]
fn a_checkpoint_moves_between_devices() {
    let c = compile_file("examples/mfeat/concat.fuse", &[("epochs", "2")], false);
    let dir = temp_dir("resident", "checkpoint");
    let device = test_device();
    let trained = train_on(&c, &dir, false, Some(1), &device).unwrap();
    assert!(trained.report.is_none(), "stopped after one epoch");
    let plan = c.program.train.clone().unwrap();
    let (model, shapes) = (&c.program.models[0], &c.shapes[0]);
    let data = data::load(c.program.data_spec(&plan.data).unwrap(), Path::new(".")).unwrap();
    let objectives = Objectives::resolve(&plan, model).unwrap();
    let outputs = |on: &Device| {
        let net = Checkpoint::restore_network(&dir, true, model, shapes, on).unwrap();
        evaluate(&net, &data, &data.test, &plan, &objectives).unwrap()
    };
    let (here, cpu) = (outputs(&device), outputs(&Device::Cpu));
    let shape = here.output_shape.clone();
    let t = |v: &[f32]| Tensor::from_slice(v, shape.as_slice(), &Device::Cpu).unwrap();
    let (atol, rtol) = tolerance(1e-5, 1e-4);
    assert_close(
        "test outputs",
        &t(&cpu.outputs),
        &t(&here.outputs),
        atol,
        rtol,
    );
    // The second epoch continues on the CPU from the device's optimizer state.
    let resumed = train_on(&c, &dir, true, None, &Device::Cpu).unwrap();
    assert_eq!(resumed.report.unwrap().epochs_run, 2);
}
