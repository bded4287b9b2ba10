//! Unit tests of `src/data/text_load.rs` (kept in a file of their own so the module reads as its public surface).

use std::io::Write;

use super::*;

#[test]
fn gzipped_text_and_tsv_columns() {
    let dir = std::env::temp_dir().join(format!("fusec-text-gz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("train.en.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all("two dogs .\r\na cat\n".as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let lines = read_lines(&path, "train.en.gz").unwrap();
    assert_eq!(lines, ["two dogs .", "a cat"]);
    let rows: Vec<String> = ["id\ten\tde", "0\tsocks\tsocken"]
        .map(String::from)
        .to_vec();
    assert_eq!(tsv_column(&rows, "de", "p.tsv").unwrap(), ["socken"]);
    let e = tsv_column(&rows, "dee", "p.tsv").unwrap_err();
    assert!(e.contains("did you mean `de`"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
