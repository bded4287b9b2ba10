//! The restricted unpickler: a stack machine over pickle opcodes (protocols 2-5, plus the protocol-0/1 opcodes
//! Python 2 still writes) that builds plain values and NumPy arrays. It never runs code: globals are looked up in
//! a fixed allow-list of NumPy array constructors (see `numpy.rs`), and any other global is refused by name.
//!
//! Objects live in an arena and the stack and memo hold indices, because pickles mutate objects after they are
//! memoized (a dict is memoized empty and filled by SETITEMS; an array is memoized before BUILD), and a later
//! memo reference must see the finished object. The arena is turned into a `Value` tree at STOP.

use std::collections::HashMap;
use std::sync::Arc;

use super::numpy::Global;
use super::text0::{raw_unicode_escape, string_literal};
use super::value::{Dtype, NdArray, Value};

/// Why a pickle could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PickleErrorKind {
    /// The data ends in the middle of an opcode or before STOP.
    Truncated,
    /// A byte that is not a pickle opcode fusec reads.
    BadOpcode,
    /// A global (class or function) outside the allow-list; it is named in the message.
    Refused,
    /// Opcodes in an order no pickler writes (stack underflow, a missing mark, wrong argument types).
    Malformed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickleError {
    pub kind: PickleErrorKind,
    /// Byte offset of the opcode where reading stopped.
    pub offset: usize,
    pub message: String,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

pub(super) type Id = usize;

/// An object under construction.
#[derive(Debug)]
pub(super) enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Arc<Vec<u8>>),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global(Global),
    Dtype(Dtype),
    /// `_reconstruct`'s result; BUILD fills it in.
    Array(Option<Built>),
}

#[derive(Debug)]
pub(super) enum Built {
    Numeric(NdArray),
    Objects { shape: Vec<usize>, items: Vec<Id> },
}

/// Deepest nesting of containers a pickle may have; deeper ones (or cycles) are refused, not recursed into.
const MAX_DEPTH: usize = 200;

/// What materializing the value tree may still create: nodes, bytes of copied strings and bytes, and bytes of
/// array buffers counted once per reference (a buffer is shared in the tree, but the data loader decodes each
/// reference into its own values, so a thousand references to one array would be decoded a thousand times).
struct Budget {
    nodes: usize,
    bytes: usize,
    array_bytes: usize,
}

pub(super) struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    pub(super) arena: Vec<Obj>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
}

/// Reads a whole pickle into a value tree.
pub fn read_pickle(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut m = Machine {
        input: bytes,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let start = m.pos;
        let op = m.take(1).map_err(|e| e.at(start))?[0];
        match m.step(op) {
            Ok(Some(root)) => {
                // Shared references are copied into the tree; the budget bounds what a small file can
                // expand to: a pickle naming one large string a million times must not allocate a
                // million copies. Each limit allows what the file's own bytes can hold (one node per byte, every
                // string and array once) with room to spare, so the tree is at most a small multiple of the file.
                let mut budget = Budget {
                    nodes: (1 << 16) + bytes.len(),
                    bytes: (1 << 20) + 2 * bytes.len(),
                    array_bytes: (1 << 20) + 2 * bytes.len(),
                };
                return m
                    .to_value(root, 0, &mut budget)
                    .map_err(|msg| malformed(msg).at(start));
            }
            Ok(None) => {}
            Err(e) => return Err(e.at(start)),
        }
    }
}

/// An error before its offset is known.
pub(super) struct Fail {
    kind: PickleErrorKind,
    message: String,
}

impl Fail {
    fn at(self, offset: usize) -> PickleError {
        PickleError {
            kind: self.kind,
            offset,
            message: self.message,
        }
    }
}

pub(super) fn malformed(message: impl Into<String>) -> Fail {
    Fail {
        kind: PickleErrorKind::Malformed,
        message: message.into(),
    }
}

pub(super) fn refused(message: impl Into<String>) -> Fail {
    Fail {
        kind: PickleErrorKind::Refused,
        message: message.into(),
    }
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Fail> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.input.len());
        let Some(end) = end else {
            return Err(Fail {
                kind: PickleErrorKind::Truncated,
                message: format!(
                    "the pickle is truncated: {n} more bytes needed, {} left",
                    self.input.len() - self.pos
                ),
            });
        };
        let out = &self.input[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn uint(&mut self, n: usize) -> Result<u64, Fail> {
        let b = self.take(n)?;
        let mut buf = [0u8; 8];
        buf[..n].copy_from_slice(b);
        Ok(u64::from_le_bytes(buf))
    }

    /// A length prefix of `n` bytes, checked against the bytes left so a corrupt length cannot allocate.
    fn len(&mut self, n: usize) -> Result<usize, Fail> {
        let len = self.uint(n)?;
        let left = (self.input.len() - self.pos) as u64;
        if len > left {
            return Err(Fail {
                kind: PickleErrorKind::Truncated,
                message: format!("the pickle is truncated: an item of {len} bytes, {left} left"),
            });
        }
        Ok(len as usize)
    }

    /// A newline-terminated argument of the text opcodes (GLOBAL, PUT, GET, INT, ...).
    fn line(&mut self) -> Result<String, Fail> {
        Ok(String::from_utf8_lossy(self.raw_line()?).into_owned())
    }

    fn raw_line(&mut self) -> Result<&'a [u8], Fail> {
        let rest = &self.input[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err(Fail {
                kind: PickleErrorKind::Truncated,
                message: "the pickle is truncated inside a text argument".into(),
            });
        };
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    pub(super) fn push(&mut self, obj: Obj) {
        self.arena.push(obj);
        self.stack.push(self.arena.len() - 1);
    }

    fn pop(&mut self) -> Result<Id, Fail> {
        // Items below the innermost mark belong to an enclosing container and cannot be popped.
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(malformed(
                "stack underflow: an opcode needs a value that is not there",
            ));
        }
        self.stack.pop().ok_or_else(|| malformed("stack underflow"))
    }

    fn top(&self) -> Result<Id, Fail> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| malformed("stack underflow: the stack is empty"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Id>, Fail> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| malformed("an opcode needs a MARK that is not there"))?;
        if mark > self.stack.len() {
            return Err(malformed("the stack is shorter than its MARK"));
        }
        Ok(self.stack.split_off(mark))
    }

    pub(super) fn obj(&self, id: Id) -> &Obj {
        &self.arena[id]
    }

    /// Runs one opcode; `Some(root)` at STOP.
    fn step(&mut self, op: u8) -> Result<Option<Id>, Fail> {
        match op {
            b'.' => return self.top().map(Some),
            0x80 => {
                let proto = self.uint(1)?;
                if proto > 5 {
                    return Err(malformed(format!(
                        "unsupported pickle protocol {proto} (fusec reads 0-5)"
                    )));
                }
            }
            0x95 => {
                // FRAME is a buffering hint; the whole input is in memory already.
                self.uint(8)?;
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let top = self.top()?;
                self.stack.push(top);
            }
            _ => return self.step_memo(op),
        }
        Ok(None)
    }

    fn step_memo(&mut self, op: u8) -> Result<Option<Id>, Fail> {
        match op {
            0x94 => {
                let top = self.top()?;
                self.memo.insert(self.memo.len() as u64, top);
            }
            b'q' | b'r' | b'p' => {
                let key = match op {
                    b'q' => self.uint(1)?,
                    b'r' => self.uint(4)?,
                    _ => parse_int(&self.line()?)? as u64,
                };
                let top = self.top()?;
                self.memo.insert(key, top);
            }
            b'h' | b'j' | b'g' => {
                let key = match op {
                    b'h' => self.uint(1)?,
                    b'j' => self.uint(4)?,
                    _ => parse_int(&self.line()?)? as u64,
                };
                let id = *self.memo.get(&key).ok_or_else(|| {
                    malformed(format!("memo entry {key} is read before it is written"))
                })?;
                self.stack.push(id);
            }
            _ => return self.step_container(op),
        }
        Ok(None)
    }

    fn step_container(&mut self, op: u8) -> Result<Option<Id>, Fail> {
        match op {
            b'}' => self.push(Obj::Dict(Vec::new())),
            b']' | 0x8f => self.push(Obj::List(Vec::new())),
            b')' => self.push(Obj::Tuple(Vec::new())),
            b'l' | 0x91 => {
                let items = self.pop_mark()?;
                self.push(Obj::List(items));
            }
            b't' => {
                let items = self.pop_mark()?;
                self.push(Obj::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push(Obj::Tuple(items));
            }
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = pairs(&items)?;
                self.push(Obj::Dict(pairs));
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.extend_dict(vec![(key, value)])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                let pairs = pairs(&items)?;
                self.extend_dict(pairs)?;
            }
            b'a' => {
                let item = self.pop()?;
                self.extend_list(vec![item])?;
            }
            b'e' | 0x90 => {
                let items = self.pop_mark()?;
                self.extend_list(items)?;
            }
            _ => return self.step_scalar(op),
        }
        Ok(None)
    }

    fn extend_dict(&mut self, new: Vec<(Id, Id)>) -> Result<(), Fail> {
        let top = self.top()?;
        match &mut self.arena[top] {
            Obj::Dict(items) => {
                items.extend(new);
                Ok(())
            }
            _ => Err(malformed("SETITEM(S) on something that is not a dict")),
        }
    }

    fn extend_list(&mut self, new: Vec<Id>) -> Result<(), Fail> {
        let top = self.top()?;
        match &mut self.arena[top] {
            Obj::List(items) => {
                items.extend(new);
                Ok(())
            }
            _ => Err(malformed("APPEND(S) on something that is not a list")),
        }
    }

    fn step_scalar(&mut self, op: u8) -> Result<Option<Id>, Fail> {
        let obj = match op {
            b'N' => Obj::None,
            0x88 => Obj::Bool(true),
            0x89 => Obj::Bool(false),
            b'J' => Obj::Int(self.uint(4)? as u32 as i32 as i64),
            b'K' => Obj::Int(self.uint(1)? as i64),
            b'M' => Obj::Int(self.uint(2)? as i64),
            0x8a | 0x8b => {
                let n = if op == 0x8a {
                    self.len(1)?
                } else {
                    self.len(4)?
                };
                Obj::Int(long_le(self.take(n)?)?)
            }
            b'I' => match self.line()?.as_str() {
                "01" => Obj::Bool(true),
                "00" => Obj::Bool(false),
                text => Obj::Int(parse_int(text)?),
            },
            b'L' => Obj::Int(parse_int(self.line()?.trim_end_matches('L'))?),
            b'F' => {
                let text = self.line()?;
                Obj::Float(
                    text.trim()
                        .parse()
                        .map_err(|_| malformed(format!("bad float `{text}`")))?,
                )
            }
            b'G' => Obj::Float(f64::from_be_bytes(arr8(self.take(8)?))),
            _ => return self.step_text(op),
        };
        self.push(obj);
        Ok(None)
    }

    fn step_text(&mut self, op: u8) -> Result<Option<Id>, Fail> {
        let obj = match op {
            0x8c | b'X' | 0x8d => {
                let n = match op {
                    0x8c => self.len(1)?,
                    b'X' => self.len(4)?,
                    _ => self.len(8)?,
                };
                Obj::Str(String::from_utf8_lossy(self.take(n)?).into_owned())
            }
            // Python 2 `str` is bytes; so are Python 3 bytes and (in-band) bytearrays.
            b'C' | b'U' => {
                let n = self.len(1)?;
                Obj::Bytes(Arc::new(self.take(n)?.to_vec()))
            }
            b'B' | b'T' => {
                let n = self.len(4)?;
                Obj::Bytes(Arc::new(self.take(n)?.to_vec()))
            }
            0x8e | 0x96 => {
                let n = self.len(8)?;
                Obj::Bytes(Arc::new(self.take(n)?.to_vec()))
            }
            b'S' => Obj::Bytes(Arc::new(
                string_literal(self.raw_line()?).map_err(malformed)?,
            )),
            b'V' => Obj::Str(raw_unicode_escape(self.raw_line()?).map_err(malformed)?),
            0x98 => return Ok(None), // READONLY_BUFFER: read-only-ness does not matter to a reader.
            _ => return self.step_object(op),
        };
        self.push(obj);
        Ok(None)
    }

    fn step_object(&mut self, op: u8) -> Result<Option<Id>, Fail> {
        match op {
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                let global = Global::resolve(&module, &name)?;
                self.push(Obj::Global(global));
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (self.obj(module), self.obj(name)) {
                    (Obj::Str(m), Obj::Str(n)) => {
                        let global = Global::resolve(&m.clone(), &n.clone())?;
                        self.push(Obj::Global(global));
                    }
                    _ => return Err(malformed("STACK_GLOBAL needs two strings")),
                }
            }
            b'R' => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let obj = self.reduce(callable, args)?;
                self.push(obj);
            }
            b'b' => {
                let state = self.pop()?;
                let target = self.top()?;
                self.build(target, state)?;
            }
            _ => return Err(unsupported(op)),
        }
        Ok(None)
    }

    /// Turns an arena object into a value tree, within `budget`.
    fn to_value(&self, id: Id, depth: usize, budget: &mut Budget) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "values nested deeper than {MAX_DEPTH} levels (or a cycle)"
            ));
        }
        let copied = match self.obj(id) {
            Obj::Str(s) => s.len(),
            Obj::Bytes(b) => b.len(),
            _ => 0,
        };
        let shared = match self.obj(id) {
            Obj::Array(Some(Built::Numeric(a))) => a.data.len(),
            _ => 0,
        };
        let too_many = "the pickle expands to too many values: it refers to its own values so often that they \
                        add up to far more than the file holds";
        budget.nodes = budget.nodes.checked_sub(1).ok_or(too_many)?;
        budget.bytes = budget.bytes.checked_sub(copied).ok_or(too_many)?;
        budget.array_bytes = budget.array_bytes.checked_sub(shared).ok_or(too_many)?;
        let many = |ids: &[Id], budget: &mut Budget| -> Result<Vec<Value>, String> {
            ids.iter()
                .map(|&i| self.to_value(i, depth + 1, budget))
                .collect()
        };
        Ok(match self.obj(id) {
            Obj::None => Value::None,
            Obj::Bool(b) => Value::Bool(*b),
            Obj::Int(i) => Value::Int(*i),
            Obj::Float(f) => Value::Float(*f),
            Obj::Str(s) => Value::Str(s.clone()),
            Obj::Bytes(b) => Value::Bytes(b.to_vec()),
            Obj::List(ids) => Value::List(many(ids, budget)?),
            Obj::Tuple(ids) => Value::Tuple(many(ids, budget)?),
            Obj::Dict(pairs) => {
                let mut out = Vec::with_capacity(pairs.len());
                for &(k, v) in pairs {
                    out.push((
                        self.to_value(k, depth + 1, budget)?,
                        self.to_value(v, depth + 1, budget)?,
                    ));
                }
                Value::Dict(out)
            }
            Obj::Dtype(d) => Value::Str(d.descr()),
            Obj::Global(g) => {
                return Err(format!("the pickle holds `{}` itself, not data", g.name()))
            }
            Obj::Array(None) => {
                return Err("a NumPy array is never given its contents (no BUILD)".into())
            }
            Obj::Array(Some(Built::Numeric(a))) => Value::NdArray(a.clone()),
            Obj::Array(Some(Built::Objects { shape, items })) => Value::ObjectArray {
                shape: shape.clone(),
                items: many(items, budget)?,
            },
        })
    }
}

fn unsupported(op: u8) -> Fail {
    let (kind, message) = match op {
        b'P' | b'Q' => (
            PickleErrorKind::Refused,
            "persistent ids (PERSID) need code to resolve them",
        ),
        0x82..=0x84 => (
            PickleErrorKind::Refused,
            "extension codes (EXT) name globals fusec does not allow",
        ),
        b'i' | b'o' | 0x81 | 0x92 => (
            PickleErrorKind::Refused,
            "the pickle creates class instances",
        ),
        b'S' | b'V' => (
            PickleErrorKind::BadOpcode,
            "protocol-0 quoted strings are not supported",
        ),
        0x97 => (
            PickleErrorKind::BadOpcode,
            "out-of-band buffers (NEXT_BUFFER) are not supported",
        ),
        _ => (PickleErrorKind::BadOpcode, "not a pickle opcode"),
    };
    Fail {
        kind,
        message: format!("opcode 0x{op:02x}: {message}"),
    }
}

fn pairs(items: &[Id]) -> Result<Vec<(Id, Id)>, Fail> {
    if !items.len().is_multiple_of(2) {
        return Err(malformed("a dict needs an even number of keys and values"));
    }
    Ok(items.chunks_exact(2).map(|p| (p[0], p[1])).collect())
}

fn parse_int(text: &str) -> Result<i64, Fail> {
    text.trim()
        .parse()
        .map_err(|_| malformed(format!("bad integer `{text}`")))
}

/// A little-endian two's-complement integer (LONG1/LONG4) that must fit in i64.
fn long_le(bytes: &[u8]) -> Result<i64, Fail> {
    if bytes.len() > 8 {
        let sign = if bytes.last().is_some_and(|&b| b & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let top_sign = if bytes[7] & 0x80 != 0 { 0xff } else { 0 };
        if top_sign != sign || bytes[8..].iter().any(|&b| b != sign) {
            return Err(malformed("an integer larger than 64 bits"));
        }
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut buf = if negative { [0xff; 8] } else { [0; 8] };
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    Ok(i64::from_le_bytes(buf))
}

pub(super) fn arr8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[..8]);
    out
}
