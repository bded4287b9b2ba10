//! Unit tests of `src/data/npy.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;

fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let f = if fortran { "True" } else { "False" };
    let header = format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}\n");
    let mut out = MAGIC.to_vec();
    out.extend([1u8, 0]);
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[test]
fn reads_f4_c_order() {
    let data: Vec<u8> = [1f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let a = parse_npy(&npy("<f4", false, "(2, 3)", &data)).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn reads_fortran_order_as_c_order() {
    // The 2x3 matrix [[1, 2, 3], [4, 5, 6]] stored column by column.
    let data: Vec<u8> = [1i64, 4, 2, 5, 3, 6]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let a = parse_npy(&npy("<i8", true, "(2, 3)", &data)).unwrap();
    assert_eq!(a.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn reads_small_ints_bools_and_scalars() {
    assert_eq!(
        parse_npy(&npy("|u1", false, "(3,)", &[0, 7, 255]))
            .unwrap()
            .values,
        vec![0.0, 7.0, 255.0]
    );
    assert_eq!(
        parse_npy(&npy("|b1", false, "(2,)", &[1, 0]))
            .unwrap()
            .values,
        vec![1.0, 0.0]
    );
    let i4: Vec<u8> = [-3i32, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(
        parse_npy(&npy("<i4", false, "(2,)", &i4)).unwrap().values,
        vec![-3.0, 9.0]
    );
    let s = parse_npy(&npy("<f8", false, "()", &2.5f64.to_le_bytes())).unwrap();
    assert_eq!((s.shape.len(), s.values.clone()), (0, vec![2.5]));
}

#[test]
fn rejects_big_endian_and_truncated_data() {
    assert!(parse_npy(&npy(">f4", false, "(1,)", &[0, 0, 0, 0]))
        .unwrap_err()
        .contains("unsupported"));
    assert!(parse_npy(&npy("<f8", false, "(2,)", &[0; 8]))
        .unwrap_err()
        .contains("truncated"));
    assert!(parse_npy(b"hello world").is_err());
}

#[test]
fn write_then_read_round_trips() {
    let bytes = write_npy(&[1.0, -2.0, 3.5, 4.0], &[2, 2], false);
    assert_eq!(
        parse_npy(&bytes).unwrap(),
        RawArray {
            values: vec![1.0, -2.0, 3.5, 4.0],
            shape: vec![2, 2],
            names: None,
        }
    );
    let bytes = write_npy(&[3.0, 1.0], &[2], true);
    assert_eq!(parse_npy(&bytes).unwrap().values, vec![3.0, 1.0]);
}

#[test]
fn corrupted_files_are_errors_not_panics() {
    let good = write_npy(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2], false);
    for cut in 0..good.len() {
        let _ = parse_npy(&good[..cut]);
    }
    // Flip every byte of the header and the first data bytes to a few values.
    for i in 0..good.len().min(140) {
        for v in [0u8, b'(', b')', b',', b'\'', b'9', 0xff] {
            let mut bad = good.clone();
            bad[i] = v;
            let _ = parse_npy(&bad);
        }
    }
    // A header that promises far more data than there is.
    let huge = npy("<f8", false, "(4000000000, 4000000000)", &[0; 16]);
    assert!(parse_npy(&huge).is_err());
}

#[test]
fn string_arrays_are_names() {
    let mut data = Vec::new();
    for name in ["wt", "ppar"] {
        let mut chars: Vec<u32> = name.chars().map(|c| c as u32).collect();
        chars.resize(4, 0);
        data.extend(chars.iter().flat_map(|c| c.to_le_bytes()));
    }
    let a = parse_npy(&npy("<U4", false, "(2,)", &data)).unwrap();
    assert_eq!(a.names.unwrap().names, ["wt", "ppar"]);
    assert!(a.values.is_empty());
    let b = parse_npy(&npy("|S3", false, "(2,)", b"ab\0xyz")).unwrap();
    assert_eq!(b.names.unwrap().names, ["ab", "xyz"]);
    assert!(parse_npy(&npy("<U4", false, "(2,)", &data[..20]))
        .unwrap_err()
        .contains("truncated"));
    assert!(parse_npy(&npy("<U4611686018427387904", false, "(2,)", &data)).is_err());
}
