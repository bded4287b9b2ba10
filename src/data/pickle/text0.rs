//! The quoted arguments of protocol 0, which Python 2 writes by default: `STRING` (a Python 2 `str` literal
//! with backslash escapes, read as bytes) and `UNICODE` (raw-unicode-escape: latin-1 plus `\uXXXX`).

/// The bytes of a `STRING` argument such as `'a\n\x00'` (quotes included, as pickled).
pub(super) fn string_literal(text: &[u8]) -> Result<Vec<u8>, String> {
    let inner = match text {
        [q, inner @ .., last] if (*q == b'\'' || *q == b'"') && q == last => inner,
        _ => return Err("a protocol-0 STRING argument is not quoted".into()),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = inner.get(i) else {
            return Err("a protocol-0 STRING argument ends in a backslash".into());
        };
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'x' => {
                let hex = inner.get(i..i + 2).ok_or("a truncated \\x escape")?;
                out.push(parse_radix(hex, 16)?);
                i += 2;
            }
            b'0'..=b'7' => {
                // Up to three octal digits, the first already read.
                let end = (i + 2).min(inner.len());
                let len = 1 + inner[i..end]
                    .iter()
                    .take_while(|d| (b'0'..=b'7').contains(d))
                    .count();
                out.push(parse_radix(&inner[i - 1..i - 1 + len], 8)?);
                i += len - 1;
            }
            b'\n' => {}
            other => out.push(other), // `\\`, `\'`, `\"`; unknown escapes keep the character.
        }
    }
    Ok(out)
}

/// The text of a `UNICODE` argument: bytes are latin-1 characters except `\uXXXX` and `\UXXXXXXXX`.
pub(super) fn raw_unicode_escape(text: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let width = match (text[i], text.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            (c, _) => {
                out.push(char::from(c));
                i += 1;
                continue;
            }
        };
        let hex = text
            .get(i + 2..i + 2 + width)
            .ok_or("a truncated \\u escape")?;
        let code = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or("a bad \\u escape")?;
        out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
        i += 2 + width;
    }
    Ok(out)
}

fn parse_radix(digits: &[u8], radix: u32) -> Result<u8, String> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| u32::from_str_radix(d, radix).ok())
        .and_then(|v| u8::try_from(v).ok())
        .ok_or_else(|| format!("a bad escape `{}`", String::from_utf8_lossy(digits)))
}

#[cfg(test)]
#[path = "tests/text0.rs"]
mod tests;
