//! The data a restricted unpickle produces: a tree of plain Python values and NumPy arrays, with the
//! conversions readers need (any numeric dtype, either byte order, either memory order, to f32 or i64 in C order).

use std::sync::Arc;

/// A Python value as read from a pickle. Nothing here can run code: it is only data.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Python 3 `bytes`, and Python 2 `str` (as `pickle.load(..., encoding='bytes')` reads it).
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Insertion-ordered, as Python dicts are. Keys are usually `Str` or `Bytes`.
    Dict(Vec<(Value, Value)>),
    NdArray(NdArray),
    /// A NumPy array of dtype `O`: its items are Python objects, kept as they are and never decoded.
    ObjectArray {
        shape: Vec<usize>,
        items: Vec<Value>,
    },
}

/// A NumPy array with a raw (undecoded) buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// The buffer holds the elements in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Shared, because one array can be referenced from several places of a pickle.
    pub data: Arc<Vec<u8>>,
}

/// A NumPy dtype in the array-interface spelling: byte order, kind and item size (`<f4`, `>f8`, `|b1`, `<U6`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dtype {
    /// `<` little, `>` big, `|` not applicable, `=` native (taken as little-endian).
    pub byte_order: char,
    /// `f` float, `i` signed, `u` unsigned, `b` bool, `U` unicode, `S` bytes, `O` object, `V` other.
    pub kind: char,
    /// Bytes per element.
    pub item_size: usize,
}

impl Dtype {
    /// The array-interface string, e.g. `<f4` (`<U6` counts characters of 4 bytes, as NumPy writes it).
    pub fn descr(&self) -> String {
        let size = if self.kind == 'U' {
            self.item_size / 4
        } else {
            self.item_size
        };
        format!("{}{}{}", self.byte_order, self.kind, size)
    }

    /// Whether elements decode to numbers (floats, integers, bools).
    pub fn is_numeric(&self) -> bool {
        match self.kind {
            'f' => matches!(self.item_size, 2 | 4 | 8),
            'i' | 'u' => matches!(self.item_size, 1 | 2 | 4 | 8),
            'b' => self.item_size == 1,
            _ => false,
        }
    }

    fn big_endian(&self) -> bool {
        self.byte_order == '>'
    }
}

impl NdArray {
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements as f64 in C (row-major) order. Errors name the dtype when it is not numeric.
    pub fn to_f64(&self) -> Result<Vec<f64>, String> {
        self.decoded(|v| v)
    }

    /// The elements as f32 in C order (f8 data is narrowed: models compute in f32). No f64 copy is made,
    /// which matters for the multi-gigabyte MOSEI arrays.
    pub fn to_f32(&self) -> Result<Vec<f32>, String> {
        self.decoded(|v| v as f32)
    }

    /// Counts of NaN, +inf and -inf elements (all zero for non-float dtypes).
    pub fn non_finite_counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        if self.dtype.kind != 'f' {
            return counts;
        }
        if let Ok(bytes) = self.element_bytes() {
            for v in bytes
                .chunks_exact(self.dtype.item_size)
                .map(|b| self.decode(b))
            {
                if v.is_nan() {
                    counts.0 += 1;
                } else if v == f64::INFINITY {
                    counts.1 += 1;
                } else if v == f64::NEG_INFINITY {
                    counts.2 += 1;
                }
            }
        }
        counts
    }

    fn decoded<T: Copy>(&self, convert: impl Fn(f64) -> T) -> Result<Vec<T>, String> {
        let bytes = self.element_bytes()?;
        let size = self.dtype.item_size;
        let values: Vec<T> = bytes
            .chunks_exact(size)
            .map(|b| convert(self.decode(b)))
            .collect();
        Ok(if self.fortran_order {
            fortran_to_c(&values, &self.shape)
        } else {
            values
        })
    }

    /// The buffer bytes of all elements, for numeric dtypes.
    fn element_bytes(&self) -> Result<&[u8], String> {
        if !self.dtype.is_numeric() {
            return Err(format!(
                "an array of dtype `{}` does not hold numbers",
                self.dtype.descr()
            ));
        }
        let need = self.n_elements().saturating_mul(self.dtype.item_size);
        self.data.get(..need).ok_or_else(|| {
            format!(
                "the array's buffer has {} bytes, fewer than its shape needs",
                self.data.len()
            )
        })
    }

    /// Decodes one element of a numeric dtype (checked by the caller).
    fn decode(&self, b: &[u8]) -> f64 {
        let mut buf = [0u8; 8];
        buf[..b.len()].copy_from_slice(b);
        if self.dtype.big_endian() {
            buf[..b.len()].reverse();
        }
        let [b0, b1, b2, b3, ..] = buf;
        match (self.dtype.kind, b.len()) {
            ('f', 2) => half::f16::from_le_bytes([b0, b1]).to_f64(),
            ('f', 4) => f32::from_le_bytes([b0, b1, b2, b3]) as f64,
            ('f', _) => f64::from_le_bytes(buf),
            ('i', 1) => b0 as i8 as f64,
            ('i', 2) => i16::from_le_bytes([b0, b1]) as f64,
            ('i', 4) => i32::from_le_bytes([b0, b1, b2, b3]) as f64,
            ('i', _) => i64::from_le_bytes(buf) as f64,
            ('b', _) => f64::from(u8::from(b0 != 0)),
            // Unsigned: the little-endian buffer zero-extended is the value.
            _ => u64::from_le_bytes(buf) as f64,
        }
    }
}

/// Reorders column-major values of `shape` into row-major order.
pub fn fortran_to_c<T: Copy>(values: &[T], shape: &[usize]) -> Vec<T> {
    let n = values.len();
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..n {
        // The Fortran offset of a C-order multi-index: the first axis varies fastest.
        let mut offset = 0;
        let mut stride = 1;
        for (i, &dim) in index.iter().zip(shape) {
            offset += i * stride;
            stride *= dim;
        }
        out.push(values[offset]);
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

impl Value {
    /// The value under `key` of a dict, matching `Str` and `Bytes` keys alike (LMF's keys are bytes).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| k.key_text() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A `Str` or UTF-8 `Bytes` key as text.
    pub fn key_text(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// A key as Python prints it: `'train'` for str, `b'train'` for bytes.
    pub fn key_repr(&self) -> String {
        match self {
            Value::Str(s) => format!("'{s}'"),
            Value::Bytes(b) => format!("b'{}'", String::from_utf8_lossy(b)),
            other => other.kind_name().to_string(),
        }
    }

    /// The Python type name, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::NdArray(_) => "ndarray",
            Value::ObjectArray { .. } => "object ndarray",
        }
    }

    /// The keys of a dict as Python prints them (empty for other values).
    pub fn key_reprs(&self) -> Vec<String> {
        match self {
            Value::Dict(items) => items.iter().map(|(k, _)| k.key_repr()).collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "tests/value.rs"]
mod tests;
