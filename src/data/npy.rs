//! A reader for NumPy's `.npy` format (versions 1-3): the header dict (`descr`, `fortran_order`, `shape`) and
//! little-endian data of the dtypes data sets use, returned as f64 values in C order; string arrays (unicode
//! `<U..` and bytes `|S..`, class labels) are returned as strings.

/// An array read from a file: values in C (row-major) order and the shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawArray {
    pub values: Vec<f64>,
    pub shape: Vec<usize>,
    /// A string array (class names), in C order; `values` is then empty.
    pub names: Option<Names>,
}

/// The strings of a string array or a CSV column of names, with where each came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Names {
    pub names: Vec<String>,
    /// The file line of each name (CSV, counting from 1); empty for arrays, whose rows count from 0.
    pub lines: Vec<usize>,
}

impl Names {
    /// Where example `i` is, as a diagnostic says it.
    pub fn place(&self, i: usize) -> String {
        match self.lines.get(i) {
            Some(line) => format!("line {line}"),
            None => format!("row {i}"),
        }
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parses a whole `.npy` file. Errors are sentences for a diagnostic.
pub fn parse_npy(bytes: &[u8]) -> Result<RawArray, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a NumPy .npy file (the magic string \\x93NUMPY is missing)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("the .npy header is truncated")?;
    let header = String::from_utf8_lossy(header);
    let descr = dict_value(&header, "descr").ok_or("the .npy header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran =
        dict_value(&header, "fortran_order").ok_or("the .npy header has no 'fortran_order'")?;
    let shape =
        parse_shape(&dict_value(&header, "shape").ok_or("the .npy header has no 'shape'")?)?;
    let n = shape
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .ok_or("the .npy shape is too large")?;
    let data = &bytes[start + header_len..];
    if let Some(names) = decode_strings(descr, data, n)? {
        if fortran.trim() == "True" && shape.len() > 1 {
            return Err(
                "a Fortran-ordered string array is not supported; save it in C order".into(),
            );
        }
        let names = Some(Names {
            names,
            lines: Vec::new(),
        });
        return Ok(RawArray {
            values: Vec::new(),
            shape,
            names,
        });
    }
    let mut values = decode(descr, data, n)?;
    if fortran.trim() == "True" && shape.len() > 1 {
        values = fortran_to_c(&values, &shape);
    }
    Ok(RawArray {
        values,
        shape,
        names: None,
    })
}

/// `n` strings of a unicode (`<U5`: UTF-32, 4 bytes per character) or bytes (`|S5`) array, trailing NULs
/// removed; `None` when `descr` is not a string dtype.
fn decode_strings(descr: &str, data: &[u8], n: usize) -> Result<Option<Vec<String>>, String> {
    // `get`, not slicing: a damaged header's descr may split a multi-byte character.
    let (unicode, width) = match (descr.get(..2), descr.get(2..)) {
        (Some("<U" | "|U" | "=U"), Some(w)) => (true, w),
        (Some("|S" | "<S" | "=S" | "|a"), Some(w)) => (false, w),
        _ => return Ok(None),
    };
    let chars: usize = width
        .parse()
        .map_err(|_| format!("bad string dtype `{descr}`"))?;
    let item = if unicode {
        chars
            .checked_mul(4)
            .ok_or("the .npy string width is too large")?
    } else {
        chars
    };
    let need = n
        .checked_mul(item)
        .filter(|b| (*b as u64) <= crate::guarded_read::max_memory())
        .ok_or("the .npy shape is too large")?;
    if data.len() < need {
        return Err(format!(
            "the .npy data is truncated: {} bytes for {n} strings of `{descr}`",
            data.len()
        ));
    }
    if item == 0 {
        return Ok(Some(vec![String::new(); n]));
    }
    let strings = data[..need].chunks_exact(item).map(|b| {
        let s = if unicode {
            let decoded: Result<String, String> = b
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .take_while(|c| *c != 0)
                .map(|c| {
                    char::from_u32(c).ok_or_else(|| format!("`{descr}` holds an invalid character"))
                })
                .collect();
            decoded?
        } else {
            let end = b.iter().rposition(|c| *c != 0).map_or(0, |p| p + 1);
            String::from_utf8_lossy(&b[..end]).into_owned()
        };
        Ok(s)
    });
    strings.collect::<Result<Vec<String>, String>>().map(Some)
}

/// The text of `'key': value` in a Python dict literal, up to the next top-level comma.
fn dict_value(header: &str, key: &str) -> Option<String> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(rest[..=i].to_string());
                }
            }
            ',' | '}' if depth == 0 => return Some(rest[..i].trim().to_string()),
            _ => {}
        }
    }
    None
}

fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    let inner = text.trim().trim_start_matches('(').trim_end_matches(')');
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("bad .npy shape `{text}`"))
        })
        .collect()
}

/// Decodes `n` little-endian elements of dtype `descr`.
pub(super) fn decode(descr: &str, data: &[u8], n: usize) -> Result<Vec<f64>, String> {
    let width = match descr {
        "<f4" | "<i4" | "<u4" => 4,
        "<f8" | "<i8" | "<u8" => 8,
        "<f2" | "<i2" | "<u2" => 2,
        "|u1" | "|i1" | "|b1" | "<u1" | "<i1" | "<b1" => 1,
        _ => {
            return Err(format!(
                "unsupported .npy dtype `{descr}` (supported: little-endian f2/f4/f8, i1-i8, u1-u8 and bool)"
            ))
        }
    };
    let need = n.checked_mul(width).ok_or("the .npy shape is too large")?;
    // Values are held as f64: a file of bytes grows eightfold.
    let budget = crate::guarded_read::max_memory();
    if (n as u64).saturating_mul(8) > budget {
        return Err(format!(
            "{n} elements take {} as f64, more than the memory budget of {} (`--max-memory`)",
            crate::guarded_read::human_bytes((n as u64).saturating_mul(8)),
            crate::guarded_read::human_bytes(budget)
        ));
    }
    if data.len() < need {
        return Err(format!(
            "the .npy data is truncated: {} bytes for {n} elements of `{descr}`",
            data.len()
        ));
    }
    let kind = descr.as_bytes()[1];
    let out = data[..need]
        .chunks_exact(width)
        .map(|b| match (kind, width) {
            (b'f', 2) => half::f16::from_le_bytes([b[0], b[1]]).to_f64(),
            (b'f', 4) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            (b'f', _) => f64::from_le_bytes(arr8(b)),
            (b'i', 1) => b[0] as i8 as f64,
            (b'i', 2) => i16::from_le_bytes([b[0], b[1]]) as f64,
            (b'i', 4) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            (b'i', _) => i64::from_le_bytes(arr8(b)) as f64,
            (_, 1) => b[0] as f64,
            (_, 2) => u16::from_le_bytes([b[0], b[1]]) as f64,
            (_, 4) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            _ => u64::from_le_bytes(arr8(b)) as f64,
        })
        .collect();
    Ok(out)
}

fn arr8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    a
}

/// Reorders column-major values into row-major order.
fn fortran_to_c(values: &[f64], shape: &[usize]) -> Vec<f64> {
    let mut f_strides = vec![1usize; shape.len()];
    for j in 1..shape.len() {
        f_strides[j] = f_strides[j - 1] * shape[j - 1];
    }
    let mut out = Vec::with_capacity(values.len());
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..values.len() {
        let off: usize = idx.iter().zip(&f_strides).map(|(i, s)| i * s).sum();
        out.push(values[off]);
        // Advance the C-order multi-index: last axis fastest.
        for a in (0..shape.len()).rev() {
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// Writes a version-1 `.npy` file of little-endian f64 (`<f8`) or i64 (`<i8`) values: used by tests and by
/// anything that exports arrays for NumPy.
pub fn write_npy(values: &[f64], shape: &[usize], as_i64: bool) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let descr = if as_i64 { "<i8" } else { "<f8" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so the data starts on a 64-byte boundary, ending the header with a newline.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend([1u8, 0]);
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in values {
        if as_i64 {
            out.extend((*v as i64).to_le_bytes());
        } else {
            out.extend(v.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
#[path = "tests/npy.rs"]
mod tests;
