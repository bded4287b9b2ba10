//! Unit tests of `src/data/pickle/value.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;

#[test]
fn fortran_order_is_transposed_to_c() {
    // [[0, 1, 2], [3, 4, 5]] stored column-major is 0 3 1 4 2 5.
    assert_eq!(
        fortran_to_c(&[0, 3, 1, 4, 2, 5], &[2, 3]),
        vec![0, 1, 2, 3, 4, 5]
    );
}

#[test]
fn big_endian_f8_decodes() {
    let a = NdArray {
        dtype: Dtype {
            byte_order: '>',
            kind: 'f',
            item_size: 8,
        },
        shape: vec![1],
        fortran_order: false,
        data: Arc::new(1.5f64.to_be_bytes().to_vec()),
    };
    assert_eq!(a.to_f32().unwrap(), vec![1.5]);
}
