//! Unit tests of `src/data/pickle/text0.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;

#[test]
fn python_2_string_literals() {
    let s = string_literal(br"'a\n\x00\\\'\101\7'").unwrap();
    assert_eq!(s, b"a\n\x00\\'A\x07");
    assert!(string_literal(b"'abc").is_err());
    assert!(string_literal(br"'\x4'").is_err());
}

#[test]
fn raw_unicode_escapes() {
    assert_eq!(
        raw_unicode_escape(b"h\xe9\\u1234x").unwrap(),
        "h\u{e9}\u{1234}x"
    );
    assert!(raw_unicode_escape(b"\\u12").is_err());
}
