//! Unit tests of `src/lsp/position.rs`.

use super::*;

#[test]
fn utf16_columns_count_surrogate_pairs_twice() {
    let text = "a = 1\n// é😀x\r\nlast";
    let idx = LineIndex::new(text);
    let x = text.find('x').unwrap();
    // `// ` is 3 units, `é` 1, the emoji 2.
    assert_eq!(idx.position(x), Position::new(1, 6));
    assert_eq!(idx.offset(Position::new(1, 6)), Some(x));
    // Inside the emoji's surrogate pair: the emoji itself.
    assert_eq!(
        idx.offset(Position::new(1, 5)),
        Some(text.find('😀').unwrap())
    );
    // Past the end of a line (before `\r\n`): the line's end.
    assert_eq!(idx.offset(Position::new(1, 99)), Some(x + 1));
    assert_eq!(
        idx.offset(Position::new(2, 0)),
        Some(text.find("last").unwrap())
    );
    assert_eq!(idx.offset(Position::new(3, 0)), None);
    assert_eq!(idx.position(text.len() + 10), Position::new(2, 4));
    // An offset inside a multi-byte character moves back to its start.
    assert_eq!(
        idx.position(text.find('é').unwrap() + 1),
        Position::new(1, 3)
    );
}
