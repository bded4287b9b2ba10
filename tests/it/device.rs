//! Which device the numeric parity tests run on, and how far each device may stray from the fixtures.
//!
//! `FUSEC_TEST_DEVICE=cuda` (or `cuda:N`) runs every fixture test on that GPU, which needs a test binary built
//! with `--features cuda` (`scripts/gpu-check.sh` carries one to a GPU machine); unset or `cpu`, they run on the
//! CPU. The fixtures hold exact results rounded once to f32 (tests/fixtures/README.md), with tolerances per
//! role; this module is the one place that says how each device widens them.

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::Device;

/// The variable that names the test device.
pub const DEVICE_VAR: &str = "FUSEC_TEST_DEVICE";

/// How much a device's results may differ beyond the fixture's own tolerance, as factors on `(atol, rtol)`.
///
/// - CPU: the fixtures' tolerances as they are (they were set with PyTorch's f32 CPU results inside them).
/// - CUDA: f32 as well (candle keeps cuBLAS at full f32 unless told otherwise, no TF32), but reductions, GEMM
///   tiling and the transcendental functions round in another order; four times the fixture's tolerance
///   covers that with room, and still catches any real error, which shows as a wrong digit far above 1e-4.
///   Not yet calibrated on a GPU: `scripts/gpu-check.sh` reports the worst element of any failure.
pub fn device_slack(device: &Device) -> (f64, f64) {
    match device {
        Device::Cpu => (1.0, 1.0),
        _ => (4.0, 4.0),
    }
}

/// `(atol, rtol)` for comparing a bf16 computation with an f32 fixture: bf16 keeps 8 significant bits
/// (relative spacing 2^-8 ≈ 3.9e-3), and a few layers of rounding add up to a few of those.
pub const BF16_TOLERANCE: (f64, f64) = (2e-2, 2e-2);

/// The device named by `FUSEC_TEST_DEVICE` (the CPU when unset), created once for the whole test binary.
pub fn test_device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE.get_or_init(open_device).clone()
}

/// Whether the tests run on the CPU (some checks, such as finite differences in f64, only make sense there).
pub fn on_cpu() -> bool {
    matches!(test_device(), Device::Cpu)
}

/// A fixture tolerance widened for the test device.
pub fn tolerance(atol: f64, rtol: f64) -> (f64, f64) {
    let (sa, sr) = device_slack(&test_device());
    (atol * sa, rtol * sr)
}

fn open_device() -> Device {
    let name = std::env::var(DEVICE_VAR).unwrap_or_default();
    let name = name.trim();
    if name.is_empty() || name == "cpu" {
        return Device::Cpu;
    }
    let ordinal = match name.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("{DEVICE_VAR}={name}: use cpu, cuda or cuda:N")),
        None => panic!("{DEVICE_VAR}={name}: use cpu, cuda or cuda:N"),
    };
    Device::new_cuda(ordinal).unwrap_or_else(|e| {
        panic!("{DEVICE_VAR}={name}: {e} (the test binary needs `--features cuda` and a GPU)")
    })
}

/// A repository file: under the crate root the test binary was built in, or under the working directory when the
/// binary runs on another machine (`scripts/gpu-check.sh` carries it to a GPU and runs it from the repository).
pub fn repo_path(relative: &str) -> PathBuf {
    let built_in = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    if built_in.exists() {
        built_in
    } else {
        PathBuf::from(relative)
    }
}
