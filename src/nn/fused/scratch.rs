//! A process-wide pool of large `f32` work buffers for the fused kernels.
//!
//! The recurrent kernels need buffers of tens of megabytes per call (gate activations of every step at batch
//! 256). The allocator hands such sizes back to the OS when they are freed, so every call paid the kernel for
//! zeroing fresh pages: a third of a BiLSTM prediction profile was `clear_page`. Kept here instead, a buffer is
//! reused by the next call that needs as much (best fit). The pool is global, not per thread, because a buffer
//! taken on one rayon worker (a direction's forward) is often given back on another (the tape dropped after
//! backward); a few calls per batch make the lock's cost nil.

use std::sync::Mutex;

/// Buffers smaller than this go through the allocator as usual (it recycles them well).
const MIN_POOLED_BYTES: usize = 256 << 10;
/// Most bytes the pool keeps while nobody uses them; past it, the largest idle buffers are freed.
const MAX_IDLE_BYTES: usize = 1 << 30;

static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A zero-filled buffer of `len` values, reused from the pool when one is large enough.
pub fn zeroed(len: usize) -> Vec<f32> {
    if len * 4 >= MIN_POOLED_BYTES {
        if let Ok(mut pool) = POOL.lock() {
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                let mut v = pool.swap_remove(i);
                drop(pool);
                v.clear();
                v.resize(len, 0.0);
                return v;
            }
        }
    }
    vec![0f32; len]
}

/// Returns a buffer to the pool (small ones are simply freed).
pub fn give(v: Vec<f32>) {
    if v.capacity() * 4 < MIN_POOLED_BYTES {
        return;
    }
    if let Ok(mut pool) = POOL.lock() {
        pool.push(v);
        let mut idle: usize = pool.iter().map(|b| b.capacity() * 4).sum();
        while idle > MAX_IDLE_BYTES {
            let Some((i, _)) = pool.iter().enumerate().max_by_key(|(_, b)| b.capacity()) else {
                break;
            };
            idle -= pool.swap_remove(i).capacity() * 4;
        }
    }
}

/// Gives back every buffer of a finished kernel.
pub fn give_all(bufs: impl IntoIterator<Item = Vec<f32>>) {
    for b in bufs {
        give(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_reused_zeroed() {
        let n = MIN_POOLED_BYTES; // 4× the threshold in bytes
        let mut a = zeroed(n);
        a.iter_mut().for_each(|x| *x = 7.0);
        let p = a.as_ptr();
        give(a);
        let b = zeroed(n / 2);
        assert_eq!(b.len(), n / 2);
        assert!(b.iter().all(|&x| x == 0.0));
        // Another test may have taken it in between; when it is ours, it is the same memory.
        if b.as_ptr() == p {
            assert!(b.capacity() >= n);
        }
        give(b);
    }
}
