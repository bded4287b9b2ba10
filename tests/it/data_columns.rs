//! A CSV or TSV column named by its header (`csv(file, column = "digit")`): the same values as its index, and a
//! name the header lacks as a located error listing the header's names. Data: `tests/data/labels/all.csv`
//! (header `id,f0,f1,f2,f3,f4,f5,digit`).

use crate::data_splits::load;

fn digits(column: &str) -> String {
    load(&format!(
        r#"data d {{
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  field digit: i64[] = csv("all.csv", column = {column})
}}"#
    ))
}

#[test]
fn a_column_named_by_the_header_reads_as_its_index() {
    let by_name = digits("\"digit\"");
    assert_eq!(by_name, digits("7"));
    assert!(by_name.contains("digit: 3 classes"), "{by_name}");
}

#[test]
fn a_name_the_header_lacks_lists_the_header() {
    let out = digits("\"digti\"");
    assert!(out.contains("fusec::data::column"), "{out}");
    assert!(out.contains("did you mean `digit`?"), "{out}");
    let no_header = load(
        r#"data d {
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  field digit: i64[] = csv("all.csv", column = "digit", header = false)
}"#,
    );
    assert!(no_header.contains("fusec::data::columns"), "{no_header}");
    insta::assert_snapshot!("csv_column_by_name_errors", format!("{out}\n{no_header}"));
}
