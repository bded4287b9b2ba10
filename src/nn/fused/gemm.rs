//! Bounds-checked strided matrix views over `f32` slices and one matrix-product entry point on top of the `gemm`
//! crate (the same GEMM candle's CPU back end uses). The fused kernels need what candle's `matmul` does not
//! offer: products that accumulate into an existing buffer (`dst += a·b`), operands and destinations that are
//! strided views (one time step's rows of a `[B·T, 4H]` buffer), and no fresh output allocation per call.

use candle_core::{bail, Result};

/// A read-only matrix view: element `(r, c)` is `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A contiguous row-major `[rows, cols]` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Mat<'a> {
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The same elements seen transposed (no copy).
    pub fn t(self) -> Mat<'a> {
        Mat {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Columns `start .. start + n` (no copy).
    pub fn cols(self, start: usize, n: usize) -> Mat<'a> {
        Mat {
            data: &self.data[(start * self.cs).min(self.data.len())..],
            cols: n,
            ..self
        }
    }

    fn fits(&self) -> bool {
        span(self.rows, self.cols, self.rs, self.cs) <= self.data.len()
    }
}

/// A writable matrix view, like [`Mat`].
pub struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatMut<'a> {
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> MatMut<'a> {
        MatMut {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    fn fits(&self) -> bool {
        span(self.rows, self.cols, self.rs, self.cs) <= self.data.len()
    }
}

/// A row-major `[rows, cols]` matrix copied into row-major `[cols, rows]` (its transpose), in cache-sized tiles.
///
/// Why a copy: the `gemm` crate packs (copies) a weight operand on *every* call unless the product runs along
/// its contiguous dimension. A recurrence multiplies by the same `W_hhᵀ` once per time step, so a `[4H, H]`
/// weight used as `W_hhᵀ` was re-packed T times per call — as much time as the products themselves at batch 32.
/// Transposed once per call, the product reads it in place.
pub fn transposed(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    // 8 x 8 blocks: eight contiguous reads and eight contiguous writes of eight values each. A plain
    // element loop wrote with a stride of `rows` floats (4 KiB for 1024 rows), which maps every write of a
    // tile to the same few cache sets; it took 3 ms per `[1024, 256]` weight.
    const BLK: usize = 8;
    let mut out = super::scratch::zeroed(rows * cols);
    if data.len() < rows * cols {
        return out;
    }
    let (rows_b, cols_b) = (rows - rows % BLK, cols - cols % BLK);
    for r0 in (0..rows_b).step_by(BLK) {
        for c0 in (0..cols_b).step_by(BLK) {
            let mut blk = [[0f32; BLK]; BLK];
            for (i, row) in blk.iter_mut().enumerate() {
                row.copy_from_slice(&data[(r0 + i) * cols + c0..][..BLK]);
            }
            for j in 0..BLK {
                let dst = &mut out[(c0 + j) * rows + r0..][..BLK];
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = blk[i][j];
                }
            }
        }
    }
    // The ragged edges, element by element.
    for r in 0..rows {
        let c_from = if r < rows_b { cols_b } else { 0 };
        for c in c_from..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Number of elements a strided view reaches (0 for an empty view).
fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// How many threads a product may use: the `--threads` setting (candle reads the same variable).
pub fn threads() -> usize {
    candle_core::utils::get_num_threads().max(1)
}

/// `dst = beta·a·b` (or `dst += beta·a·b` with `accumulate`), with `a [m, k]`, `b [k, n]`, `dst [m, n]`.
/// `parallel` lets the product use the configured threads (worth it only for large products).
pub fn gemm(
    dst: &mut MatMut,
    accumulate: bool,
    a: Mat,
    b: Mat,
    beta: f32,
    parallel: bool,
) -> Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k || dst.rows != m || dst.cols != n {
        bail!(
            "gemm: [{m}, {k}] x [{}, {n}] into [{}, {}]",
            b.rows,
            dst.rows,
            dst.cols
        );
    }
    if !(a.fits() && b.fits() && dst.fits()) {
        bail!("gemm: a matrix view reaches past its buffer");
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                for c in 0..n {
                    dst.data[r * dst.rs + c * dst.cs] = 0.0;
                }
            }
        }
        return Ok(());
    }
    let threads = threads();
    let parallelism = if parallel && threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every view was checked above to stay inside its slice, `dst` is borrowed mutably (so it aliases
    // neither operand), and the strides fit in isize because the slices do.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_matches_the_definition_with_ragged_edges() {
        for (rows, cols) in [(1, 1), (8, 8), (13, 21), (64, 9), (3, 40)] {
            let data: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = transposed(&data, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        t[c * rows + r],
                        data[r * cols + c],
                        "{rows}x{cols} at ({r}, {c})"
                    );
                }
            }
        }
    }
}
