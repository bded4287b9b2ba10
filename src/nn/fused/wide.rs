//! `wide_fn!`: a hand-written loop nest compiled for the widest vector unit the CPU has, chosen at run time.
//!
//! The crate is built for the baseline x86-64 target (SSE2), so that one binary runs on every x86-64 CPU: the
//! fused kernels' element-wise loops otherwise compile to 4-lane SSE with scalar tails. A function defined with
//! `wide_fn!` is compiled three times, for AVX-512, for AVX2 + FMA and for the baseline, and calls the first the
//! CPU supports. The three compute the same bits: Rust never contracts a multiply and an add into an FMA nor
//! reorders a floating-point sum, so only the vector width changes, not the operations or their order.
//! (The `multiversion` crate does this too, with a proc-macro and more machinery than these few kernels need.)

/// Defines `fn NAME(ARGS) -> RET { BODY }` (arguments are plain identifiers) that dispatches as above.
macro_rules! wide_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::nn::fused::vmath::has_avx512() {
                    // SAFETY: the CPU supports the target features the function was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::nn::fused::vmath::has_avx2_fma() {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub(crate) use wide_fn;

#[cfg(test)]
mod tests {
    wide_fn! {
        /// A sequential sum and an element-wise product: the dispatched copy must give the baseline's bits.
        fn sum_and_scale(xs: &[f32], k: f32, out: &mut [f32]) -> f32 {
            for (o, x) in out.iter_mut().zip(xs) {
                *o = x * k + 0.1;
            }
            xs.iter().sum()
        }
    }

    #[test]
    fn the_dispatched_copy_gives_the_baseline_bits() {
        let xs: Vec<f32> = (0..1003)
            .map(|i| ((i * 7919) % 1000) as f32 * 1.37e-3 - 0.5)
            .collect();
        let mut wide = vec![0f32; xs.len()];
        let s_wide = sum_and_scale(&xs, 0.3, &mut wide);
        let mut base = vec![0f32; xs.len()];
        let mut s_base = -0.0f32;
        for (o, x) in base.iter_mut().zip(&xs) {
            *o = x * 0.3 + 0.1;
            s_base += x;
        }
        assert_eq!(s_wide.to_bits(), s_base.to_bits());
        assert!(wide
            .iter()
            .zip(&base)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
