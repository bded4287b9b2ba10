//! Unit tests of `src/data/read.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;

fn columns(start: usize, end: usize, header: bool, scalar: bool, names_ok: bool) -> Columns {
    Columns {
        start,
        end,
        header,
        scalar,
        names_ok,
    }
}

fn csv(text: &str, start: usize, end: usize) -> Result<RawArray, ReadError> {
    read_csv(
        text.as_bytes(),
        "t.csv",
        &columns(start, end, true, false, false),
    )
}

#[test]
fn csv_reads_column_ranges_and_reports_bad_cells() {
    let a = csv("h\n1,2,3\n4, 5 ,\"6\"\n\n", 1, 3).unwrap();
    assert_eq!((a.shape, a.values), (vec![2, 2], vec![2.0, 3.0, 5.0, 6.0]));
    let e = csv("h\n1,x,3\n4,5\n7,,9\n", 0, 3).unwrap_err();
    assert_eq!(e.code, "fusec::data::parse");
    assert_eq!(
        e.message,
        "cannot parse `t.csv`: 1 row with too few columns and 2 cells that are not numbers"
    );
    assert_eq!(e.notes[0], "line 2, column 1: `x` is not a number");
    assert!(
        csv("h\n1\n", 2, 1).is_err(),
        "an empty range is an error, not a panic"
    );
    let scalar = read_csv(b"7\n8\n", "t.csv", &columns(0, 1, false, true, false)).unwrap();
    assert_eq!(scalar.shape, vec![2]);
}

#[test]
fn a_label_column_of_names_is_read_as_names() {
    let labels = columns(1, 2, true, true, true);
    let a = read_csv(b"x\ty\n1\twt\n\n2\t\"ppar\"\n", "t.tsv", &labels).unwrap();
    let names = a.names.unwrap();
    assert_eq!(
        (names.names, names.lines),
        (vec!["wt".into(), "ppar".into()], vec![2, 4])
    );
    assert_eq!(a.shape, vec![2]);
    // Numbers stay numbers; without `names_ok` a name is a parse error with a hint.
    assert_eq!(
        read_csv(b"x,y\n1,0\n", "t.csv", &labels).unwrap().values,
        [0.0]
    );
    let e = read_csv(b"x,y\n1,wt\n", "t.csv", &columns(1, 2, true, true, false)).unwrap_err();
    assert!(e.help.unwrap().contains("class names"));
}

#[test]
fn corrupted_archives_are_errors_not_panics() {
    let st = safetensors::serialize(
        [(
            "x",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &[0u8; 8])
                .unwrap(),
        )],
        None,
    )
    .unwrap();
    assert_eq!(
        read_safetensors(&st, "t", "x").unwrap().values,
        vec![0.0, 0.0]
    );
    for i in 0..st.len() {
        let mut bad = st.clone();
        bad[i] ^= 0x5a;
        let _ = read_safetensors(&bad, "t", "x");
        let _ = read_safetensors(&st[..i], "t", "x");
    }
    let npz = npz_bytes("x", &super::super::npy::write_npy(&[1.0, 2.0], &[2], false));
    assert_eq!(read_npz(&npz, "t", "x").unwrap().values, vec![1.0, 2.0]);
    assert_eq!(
        read_npz(&npz, "t", "y").unwrap_err().code,
        "fusec::data::missing_key"
    );
    for i in 0..npz.len() {
        let mut bad = npz.clone();
        bad[i] ^= 0x5a;
        let _ = read_npz(&bad, "t", "x");
        let _ = read_npz(&npz[..i], "t", "x");
    }
}

fn npz_bytes(key: &str, npy: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(format!("{key}.npy"), options).unwrap();
    zip.write_all(npy).unwrap();
    zip.finish().unwrap().into_inner()
}

/// Rewrites the uncompressed size an archive's entries declare, in the local header and the central directory.
fn declare_size(zip: &mut [u8], size: u32) {
    for i in 0..zip.len().saturating_sub(4) {
        let at = match &zip[i..i + 4] {
            b"PK\x03\x04" => i + 22,
            b"PK\x01\x02" => i + 24,
            _ => continue,
        };
        zip[at..at + 4].copy_from_slice(&size.to_le_bytes());
    }
}

#[test]
fn archive_entries_are_refused_on_their_declared_size_before_inflating() {
    let npy = super::super::npy::write_npy(&vec![0.0; 10_000], &[10_000], false);
    let npz = npz_bytes("x", &npy);
    assert_eq!(read_npz(&npz, "t", "x").unwrap().values.len(), 10_000);
    assert!(
        npz.len() < 2_000,
        "zeros compress well: {} bytes",
        npz.len()
    );
    // A few hundred compressed bytes cannot hold 2 GiB: refused before a byte is inflated.
    let mut bomb = npz.clone();
    declare_size(&mut bomb, 0x7fff_ffff);
    let e = read_npz(&bomb, "t", "x").unwrap_err();
    assert!(
        e.message.contains("more than compression can hold"),
        "{}",
        e.message
    );
    // An entry that holds more than it declares stops at the declared size.
    let mut liar = npz.clone();
    declare_size(&mut liar, 100);
    let e = read_npz(&liar, "t", "x").unwrap_err();
    assert!(e.message.contains("declare"), "{}", e.message);
}

#[test]
fn csv_files_without_rows_and_with_old_mac_line_ends() {
    let e = csv("a,b\n", 0, 2).unwrap_err();
    assert_eq!(e.code, "fusec::data::empty");
    assert!(csv("", 0, 2).is_err());
    let a = csv("a,b\r1,2\r3,4\r", 0, 2).unwrap();
    assert_eq!(a.shape, vec![2, 2]);
}
