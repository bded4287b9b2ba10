//! Vectorised `exp`, `sigmoid` and `tanh` over `f32` slices, for the fused kernels' gate math.
//!
//! Written by hand because nothing on crates.io gives stable-Rust, slice-at-a-time transcendental functions:
//! `f32::exp` / `f32::tanh` call libm once per element (about 20 ns each), which made the gate non-linearities
//! of a BiLSTM step cost about as much as its matrix products. These are Cephes' single-precision
//! approximations (range reduction + minimax polynomial, relative error below 2e-7 over the whole range), written
//! as branch-free loops that LLVM vectorises, compiled three times: for AVX-512, for AVX2 + FMA (chosen at run
//! time) and for the baseline target. NaN inputs give NaN outputs, so a diverging run is still caught by the loss check.

// Clamps keep 2^n a normal float: n = floor(x·log2(e) + 1/2) stays within [-126, 127].
const EXP_HI: f32 = 88.3;
const EXP_LO: f32 = -87.3;
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `e^x` for one lane, without branches (clamped to the finite range; NaN is restored by the callers).
#[inline(always)]
fn exp_lane(x: f32) -> f32 {
    // max/min return the other operand for NaN, so `xc` is always finite and the integer cast below is exact.
    let xc = x.max(EXP_LO).min(EXP_HI);
    let t = xc * LOG2E + 0.5;
    // floor(t) without a libm call: truncate, then step down where truncation rounded a negative value up.
    // `t` is finite and within [-126, 128] because `xc` is clamped, so the unchecked conversion is exact. The
    // checked `as i32` (saturating, NaN to 0) compiled to one scalar convert-and-fix-up per lane: `perf
    // annotate` showed the sigmoid loop spending most of its time there instead of in 16-lane arithmetic.
    // SAFETY: `t` is not NaN and lies far inside i32's range (see above).
    let ti: i32 = unsafe { t.to_int_unchecked() };
    let n = ti - i32::from((ti as f32) > t);
    let nf = n as f32;
    let r = xc - nf * LN2_HI - nf * LN2_LO;
    let z = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let y = p * z + r + 1.0;
    // 2^n by building the exponent bits; n + 127 lies in [1, 254] for the clamped range.
    let scale = f32::from_bits(((n + 127) as u32) << 23);
    y * scale
}

#[inline(always)]
fn sigmoid_lane(x: f32) -> f32 {
    let y = 1.0 / (1.0 + exp_lane(-x));
    if x.is_nan() {
        x
    } else {
        y
    }
}

#[inline(always)]
fn tanh_lane(x: f32) -> f32 {
    let a = x.abs();
    // Small |x|: Cephes' odd polynomial (keeps full relative precision near 0).
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328_2e-1)
            * z
            * x
            + x;
    // Large |x|: 1 - 2 / (e^{2|x|} + 1), with the sign of x.
    let big = 1.0 - 2.0 / (exp_lane(2.0 * a) + 1.0);
    let big = if x < 0.0 { -big } else { big };
    let y = if a < 0.625 { small } else { big };
    if x.is_nan() {
        x
    } else {
        y
    }
}

macro_rules! slice_kernels {
    ($($name:ident, $lane:ident;)*) => {
        mod avx2 {
            $(
                /// # Safety
                /// The CPU must support AVX2 and FMA (checked by the dispatching caller).
                #[target_feature(enable = "avx2,fma")]
                pub unsafe fn $name(xs: &mut [f32]) {
                    for x in xs.iter_mut() {
                        *x = super::$lane(*x);
                    }
                }
            )*
        }
        mod avx512 {
            $(
                /// # Safety
                /// The CPU must support AVX-512F, AVX2 and FMA (checked by the dispatching caller).
                #[target_feature(enable = "avx512f,avx2,fma")]
                pub unsafe fn $name(xs: &mut [f32]) {
                    for x in xs.iter_mut() {
                        *x = super::$lane(*x);
                    }
                }
            )*
        }
        mod portable {
            $(
                pub fn $name(xs: &mut [f32]) {
                    for x in xs.iter_mut() {
                        *x = super::$lane(*x);
                    }
                }
            )*
        }
        $(
            /// Applies the function in place to every element.
            pub fn $name(xs: &mut [f32]) {
                #[cfg(target_arch = "x86_64")]
                if has_avx512() {
                    // SAFETY: the CPU supports the target features the function was compiled for.
                    unsafe { avx512::$name(xs) };
                    return;
                }
                #[cfg(target_arch = "x86_64")]
                if has_avx2_fma() {
                    // SAFETY: the CPU supports the target features the function was compiled for.
                    unsafe { avx2::$name(xs) };
                    return;
                }
                portable::$name(xs)
            }
        )*
    };
}

slice_kernels! {
    exp_in_place, exp_nan_lane;
    sigmoid_in_place, sigmoid_lane;
    tanh_in_place, tanh_lane;
}

#[inline(always)]
fn exp_nan_lane(x: f32) -> f32 {
    let y = exp_lane(x);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// True when the running CPU has AVX2 and FMA (cached by the standard library's feature detection).
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when the running CPU has AVX-512F besides AVX2 and FMA: the same lane code, 16 lanes at a time
/// (the element results are the same bits: no operation is contracted or reordered).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && has_avx2_fma()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One-element forms, for scalar tails and tests.
pub fn sigmoid(x: f32) -> f32 {
    sigmoid_lane(x)
}

pub fn tanh(x: f32) -> f32 {
    tanh_lane(x)
}

pub fn exp(x: f32) -> f32 {
    exp_nan_lane(x)
}
