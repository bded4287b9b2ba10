//! The allow-list of globals and what REDUCE and BUILD do with them: exactly the calls NumPy's pickles make to
//! rebuild arrays, dtypes and scalars (plus `_codecs.encode`, Python 3's protocol-2 spelling of bytes). Each
//! is interpreted here as data; no Python function is ever called, and every other global is refused.

use std::sync::Arc;

use super::unpickle::{malformed, refused, Built, Fail, Id, Machine, Obj};
use super::value::{Dtype, NdArray};

/// The globals a NumPy-array pickle names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Global {
    /// `numpy.core.multiarray._reconstruct` (NumPy 1.x) or `numpy._core.multiarray._reconstruct` (2.x).
    Reconstruct,
    NdarrayType,
    DtypeType,
    /// `_codecs.encode(str, 'latin1')`: bytes as Python 3 writes them at protocol 2.
    CodecsEncode,
    /// `multiarray.scalar(dtype, bytes)`: a NumPy scalar such as `np.float32(2.5)`.
    Scalar,
    /// `numeric._frombuffer(buffer, dtype, shape, order)`: arrays at protocol 5.
    FromBuffer,
}

impl Global {
    pub(super) fn resolve(module: &str, name: &str) -> Result<Global, Fail> {
        let multiarray = matches!(module, "numpy.core.multiarray" | "numpy._core.multiarray");
        let numeric = matches!(module, "numpy.core.numeric" | "numpy._core.numeric");
        Ok(match (module, name) {
            (_, "_reconstruct") if multiarray => Global::Reconstruct,
            (_, "scalar") if multiarray => Global::Scalar,
            (_, "_frombuffer") if numeric => Global::FromBuffer,
            ("numpy", "ndarray") => Global::NdarrayType,
            ("numpy", "dtype") => Global::DtypeType,
            ("_codecs", "encode") => Global::CodecsEncode,
            _ => {
                return Err(refused(format!(
                    "the pickle refers to `{module}.{name}`, which fusec refuses to load: only NumPy arrays and \
                     plain values (dict, list, tuple, str, bytes, numbers) are read, and nothing in a pickle is run"
                )))
            }
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Global::Reconstruct => "numpy.core.multiarray._reconstruct",
            Global::NdarrayType => "numpy.ndarray",
            Global::DtypeType => "numpy.dtype",
            Global::CodecsEncode => "_codecs.encode",
            Global::Scalar => "numpy.core.multiarray.scalar",
            Global::FromBuffer => "numpy.core.numeric._frombuffer",
        }
    }
}

impl Machine<'_> {
    /// REDUCE: `callable(*args)` for an allowed callable, interpreted.
    pub(super) fn reduce(&mut self, callable: Id, args: Id) -> Result<Obj, Fail> {
        let Obj::Global(global) = self.obj(callable) else {
            return Err(malformed("REDUCE on something that is not a callable"));
        };
        let global = *global;
        let Obj::Tuple(args) = self.obj(args) else {
            return Err(malformed(format!(
                "the arguments of `{}` are not a tuple",
                global.name()
            )));
        };
        let args = args.clone();
        let arg = |i: usize| -> Result<&Obj, Fail> {
            args.get(i).map(|&id| self.obj(id)).ok_or_else(|| {
                malformed(format!(
                    "`{}` is called with too few arguments",
                    global.name()
                ))
            })
        };
        match global {
            Global::Reconstruct => match arg(0)? {
                Obj::Global(Global::NdarrayType) => Ok(Obj::Array(None)),
                _ => Err(refused(
                    "`_reconstruct` is asked for a class other than numpy.ndarray",
                )),
            },
            Global::DtypeType => match arg(0)? {
                Obj::Str(name) => dtype_from_name(name).map(Obj::Dtype),
                Obj::Bytes(name) => dtype_from_name(&String::from_utf8_lossy(name)).map(Obj::Dtype),
                _ => Err(malformed("`numpy.dtype` is called without a type name")),
            },
            Global::CodecsEncode => match (arg(0)?, arg(1)?) {
                (Obj::Str(text), Obj::Str(encoding)) => {
                    encode(text, encoding).map(|b| Obj::Bytes(Arc::new(b)))
                }
                _ => Err(malformed(
                    "`_codecs.encode` is called without (str, encoding)",
                )),
            },
            Global::Scalar => match (arg(0)?, arg(1)?) {
                (Obj::Dtype(dtype), Obj::Bytes(data)) => scalar(dtype.clone(), data.clone()),
                _ => Err(malformed(
                    "`scalar` is called without (dtype, bytes) (object scalars are not read)",
                )),
            },
            Global::FromBuffer => match (arg(0)?, arg(1)?, arg(2)?, arg(3)?) {
                (Obj::Bytes(data), Obj::Dtype(dtype), Obj::Tuple(shape), Obj::Str(order)) => {
                    let shape = self.shape(shape)?;
                    let array = numeric_array(dtype.clone(), shape, order == "F", data.clone())?;
                    Ok(Obj::Array(Some(Built::Numeric(array))))
                }
                _ => Err(malformed(
                    "`_frombuffer` is called without (buffer, dtype, shape, order)",
                )),
            },
            Global::NdarrayType => Err(refused("the pickle calls `numpy.ndarray` directly")),
        }
    }

    /// BUILD: sets the state of a dtype (byte order, item size) or of an array made by `_reconstruct`.
    pub(super) fn build(&mut self, target: Id, state: Id) -> Result<(), Fail> {
        let Obj::Tuple(items) = self.obj(state) else {
            return Err(malformed("BUILD with a state that is not a tuple"));
        };
        let items = items.clone();
        let built = match self.obj(target) {
            Obj::Dtype(dtype) => Obj::Dtype(self.dtype_state(dtype.clone(), &items)?),
            Obj::Array(None) => Obj::Array(Some(self.array_state(&items)?)),
            Obj::Array(Some(_)) => {
                return Err(malformed("BUILD on an array that is already built"))
            }
            _ => {
                return Err(refused(
                    "BUILD on an object other than a NumPy array or dtype",
                ))
            }
        };
        self.arena[target] = built;
        Ok(())
    }

    /// `(version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])`.
    fn dtype_state(&self, mut dtype: Dtype, items: &[Id]) -> Result<Dtype, Fail> {
        // Python 2 writes the byte order as a `str`, which reads as bytes.
        match items.get(1).map(|&i| self.obj(i)) {
            Some(Obj::Str(order)) => dtype.byte_order = order.chars().next().unwrap_or('|'),
            Some(Obj::Bytes(order)) => {
                dtype.byte_order = order.first().map_or('|', |&b| char::from(b))
            }
            _ => {}
        }
        if let Some(Obj::Int(elsize)) = items.get(5).map(|&i| self.obj(i)) {
            if *elsize > 0 && matches!(dtype.kind, 'U' | 'S' | 'V') {
                dtype.item_size = *elsize as usize;
            }
        }
        // Sub-arrays and structured dtypes have no single element type: kept as opaque `V`.
        let opaque = |i: usize| {
            items
                .get(i)
                .is_some_and(|&id| !matches!(self.obj(id), Obj::None))
        };
        if opaque(2) || opaque(3) {
            dtype.kind = 'V';
        }
        Ok(dtype)
    }

    /// `(version, shape, dtype, is_fortran, data)`, or the same without the version (old pickles).
    fn array_state(&self, items: &[Id]) -> Result<Built, Fail> {
        let items = match items.len() {
            5 => &items[1..],
            4 => items,
            n => {
                return Err(malformed(format!(
                    "an ndarray state has {n} items, not 4 or 5"
                )))
            }
        };
        let Obj::Tuple(shape) = self.obj(items[0]) else {
            return Err(malformed("an ndarray state without a shape tuple"));
        };
        let shape = self.shape(shape)?;
        let Obj::Dtype(dtype) = self.obj(items[1]) else {
            return Err(malformed("an ndarray state without a dtype"));
        };
        let fortran = match self.obj(items[2]) {
            Obj::Bool(b) => *b,
            Obj::Int(i) => *i != 0,
            _ => {
                return Err(malformed(
                    "an ndarray state whose Fortran flag is not a bool",
                ))
            }
        };
        match self.obj(items[3]) {
            Obj::Bytes(data) => Ok(Built::Numeric(numeric_array(
                dtype.clone(),
                shape,
                fortran,
                data.clone(),
            )?)),
            Obj::List(objects) if dtype.kind == 'O' => {
                let n = checked_product(&shape)?;
                if objects.len() != n {
                    return Err(malformed(format!(
                        "an object array of {n} elements holds {}",
                        objects.len()
                    )));
                }
                Ok(Built::Objects {
                    shape,
                    items: objects.clone(),
                })
            }
            _ => Err(malformed(
                "an ndarray state whose data is neither bytes nor (for dtype O) a list",
            )),
        }
    }

    fn shape(&self, dims: &[Id]) -> Result<Vec<usize>, Fail> {
        dims.iter()
            .map(|&id| match self.obj(id) {
                Obj::Int(d) if *d >= 0 => Ok(*d as usize),
                _ => Err(malformed(
                    "an array shape holds something other than a size",
                )),
            })
            .collect()
    }
}

fn checked_product(shape: &[usize]) -> Result<usize, Fail> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| malformed("an array shape too large to exist"))
}

fn numeric_array(
    dtype: Dtype,
    shape: Vec<usize>,
    fortran: bool,
    data: Arc<Vec<u8>>,
) -> Result<NdArray, Fail> {
    let need = checked_product(&shape)?
        .checked_mul(dtype.item_size)
        .ok_or_else(|| malformed("an array too large to exist"))?;
    if data.len() != need {
        return Err(malformed(format!(
            "an array of shape {shape:?} and dtype `{}` needs {need} bytes, its buffer has {}",
            dtype.descr(),
            data.len()
        )));
    }
    Ok(NdArray {
        dtype,
        shape,
        fortran_order: fortran,
        data,
    })
}

/// `numpy.dtype('f4')`: kind and size; the byte order comes with BUILD.
fn dtype_from_name(name: &str) -> Result<Dtype, Fail> {
    let name = name.trim_start_matches(['<', '>', '=', '|']);
    let mut chars = name.chars();
    let kind = chars
        .next()
        .ok_or_else(|| malformed("`numpy.dtype` with an empty type name"))?;
    let digits = chars.as_str();
    let n: usize = if digits.is_empty() {
        0
    } else {
        digits
            .parse()
            .map_err(|_| malformed(format!("unknown dtype `{name}`")))?
    };
    let item_size = match kind {
        'U' => n.saturating_mul(4),
        'O' => 8,
        _ => n,
    };
    let byte_order = if item_size > 1 && matches!(kind, 'f' | 'i' | 'u' | 'c' | 'U') {
        '<'
    } else {
        '|'
    };
    Ok(Dtype {
        byte_order,
        kind,
        item_size,
    })
}

/// `_codecs.encode(text, encoding)`: latin-1 maps each char to one byte (how Python 3 pickles bytes at protocol 2).
fn encode(text: &str, encoding: &str) -> Result<Vec<u8>, Fail> {
    match encoding
        .to_ascii_lowercase()
        .replace(['-', '_'], "")
        .as_str()
    {
        "latin1" | "iso88591" | "l1" => text
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .map_err(|_| malformed("a latin-1 buffer holds a character above 255"))
            })
            .collect(),
        "utf8" => Ok(text.as_bytes().to_vec()),
        _ => Err(malformed(format!(
            "`_codecs.encode` with encoding `{encoding}`"
        ))),
    }
}

/// A NumPy scalar as a plain number.
fn scalar(dtype: Dtype, data: Arc<Vec<u8>>) -> Result<Obj, Fail> {
    let kind = dtype.kind;
    let array = numeric_array(dtype, Vec::new(), false, data)?;
    let value = array.to_f64().map_err(malformed)?;
    let v = value.first().copied().unwrap_or(0.0);
    Ok(match kind {
        'b' => Obj::Bool(v != 0.0),
        'i' | 'u' => Obj::Int(v as i64),
        _ => Obj::Float(v),
    })
}
