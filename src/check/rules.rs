//! Shape and dtype rules of the shape-generic ops (elementwise, joins, views, reductions, matmul, losses): pure
//! functions from operand types to result types, so each rule is tested without building a graph.
//! The layer ops with parameters are in `rules_nn.rs`.

use crate::ir::{Dim, Dtype, LossKind, TensorType};

/// Why an op cannot accept its operands. The checker turns it into a diagnostic at the node.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleError {
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
    /// True when the error only repeats an earlier one (an operand or a size depends on a failed value):
    /// such errors are dropped so one mistake gives one diagnostic.
    pub silent: bool,
}

impl RuleError {
    pub fn new(code: &'static str, message: impl Into<String>) -> RuleError {
        RuleError {
            code,
            message: message.into(),
            help: None,
            silent: false,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> RuleError {
        self.help = Some(help.into());
        self
    }

    pub fn silent() -> RuleError {
        RuleError {
            silent: true,
            ..RuleError::new("fusec::internal", "")
        }
    }
}

pub type Rule<T> = Result<T, RuleError>;

/// The largest dim fusec accepts (2^30). Bounding every dim keeps all size arithmetic (parameter counts, FLOPs,
/// element counts) far from integer overflow, and no real layer comes near it.
pub const MAX_DIM: i64 = 1 << 30;

/// A computed size, or an error if it overflowed (`None`) or exceeds [`MAX_DIM`].
pub fn bounded(n: Option<i64>, what: &str) -> Rule<i64> {
    match n {
        Some(n) if n <= MAX_DIM => Ok(n),
        _ => Err(RuleError::new(
            "fusec::shape::size",
            format!("{what} is larger than {MAX_DIM}"),
        )
        .help("dims are limited to 2^30 elements")),
    }
}

/// A type shorthand for the rules and their tests.
pub fn tt(dtype: Dtype, dims: Vec<Dim>) -> TensorType {
    TensorType { dtype, dims }
}

/// Resolves a possibly negative axis against a rank.
pub fn axis(ax: i64, rank: usize, what: &str) -> Rule<usize> {
    let r = rank as i64;
    let a = if ax < 0 { r + ax } else { ax };
    if a < 0 || a >= r {
        return Err(RuleError::new(
            "fusec::shape::axis",
            format!("{what}: axis {ax} is out of range for a tensor of rank {rank}"),
        )
        .help(format!("valid axes are {} to {}", -r, r - 1)));
    }
    Ok(a as usize)
}

pub fn need_float(t: &TensorType, what: &str) -> Rule<()> {
    if t.dtype.is_float() {
        return Ok(());
    }
    Err(RuleError::new(
        "fusec::dtype::mismatch",
        format!("{what} expects a float tensor, found {t}"),
    )
    .help("integer tensors (ids, labels) only feed `embedding` and the label side of a loss"))
}

pub fn need_int(t: &TensorType, what: &str) -> Rule<()> {
    if matches!(t.dtype, Dtype::I64 | Dtype::U32) {
        return Ok(());
    }
    Err(RuleError::new(
        "fusec::dtype::mismatch",
        format!("{what} expects integer ids (i64), found {t}"),
    )
    .help("declare the input as `i64[...]`"))
}

pub fn need_rank(t: &TensorType, ranks: &[usize], what: &str) -> Rule<()> {
    if ranks.contains(&t.rank()) {
        return Ok(());
    }
    let want: Vec<String> = ranks.iter().map(|r| r.to_string()).collect();
    Err(RuleError::new(
        "fusec::shape::rank",
        format!(
            "{what} expects a tensor of rank {}, found {t} (rank {})",
            want.join(" or "),
            t.rank()
        ),
    ))
}

/// Requires two dims to be the same dim.
pub fn same_dim(a: &Dim, b: &Dim, what: &str, ta: &TensorType, tb: &TensorType) -> Rule<()> {
    if a == b {
        return Ok(());
    }
    Err(RuleError::new(
        "fusec::shape::mismatch",
        format!("{what}: {ta} and {tb} disagree ({a} vs {b})"),
    ))
}

/// A fixed number for a dim, or an error naming what needs it.
pub fn fixed(d: &Dim, what: &str) -> Rule<i64> {
    d.fixed().ok_or_else(|| {
        RuleError::new("fusec::shape::not_fixed", format!("{what} must be a fixed number, found the symbolic dim `{d}`"))
            .help("this size must be known at compile time; only batch and sequence dims may stay symbolic")
    })
}

/// Types of ops that keep their operand's type (activations, dropout, noise, stop_gradient, softmax).
pub fn same_as_float(t: &TensorType, what: &str) -> Rule<TensorType> {
    need_float(t, what)?;
    Ok(t.clone())
}

/// NumPy broadcasting of two types; a rank-0 f32 (a number in the source) adopts the other float dtype.
pub fn broadcast(a: &TensorType, b: &TensorType, what: &str) -> Rule<TensorType> {
    let dtype = if a.dtype == b.dtype {
        a.dtype
    } else if a.rank() == 0 && a.dtype == Dtype::F32 && b.dtype.is_float() {
        b.dtype
    } else if b.rank() == 0 && b.dtype == Dtype::F32 && a.dtype.is_float() {
        a.dtype
    } else {
        return Err(RuleError::new(
            "fusec::dtype::mismatch",
            format!("{what}: {a} and {b} have different dtypes"),
        ));
    };
    let dims = broadcast_dims(&a.dims, &b.dims).ok_or_else(|| {
        RuleError::new(
            "fusec::shape::mismatch",
            format!("{what}: cannot broadcast {a} with {b}"),
        )
        .help("trailing dims must be equal, or 1 on one side")
    })?;
    Ok(tt(dtype, dims))
}

fn broadcast_dims(a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let n = a.len().max(b.len());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let da = (i + a.len()).checked_sub(n).and_then(|j| a.get(j));
        let db = (i + b.len()).checked_sub(n).and_then(|j| b.get(j));
        out.push(match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(Dim::Fixed(1)), Some(y)) => y.clone(),
            (Some(x), Some(Dim::Fixed(1))) => x.clone(),
            _ => return None,
        });
    }
    Some(out)
}

/// Batched matmul with NumPy's rules: rank-1 operands are promoted and the added axis dropped again.
pub fn matmul(a: &TensorType, b: &TensorType) -> Rule<TensorType> {
    need_float(a, "matmul")?;
    need_float(b, "matmul")?;
    if a.dtype != b.dtype {
        return Err(RuleError::new(
            "fusec::dtype::mismatch",
            format!("matmul: {a} and {b} have different dtypes"),
        ));
    }
    if a.rank() == 0 || b.rank() == 0 {
        return Err(RuleError::new(
            "fusec::shape::rank",
            format!("matmul needs tensors of rank >= 1, found {a} @ {b}"),
        )
        .help("use `*` to scale by a number"));
    }
    let mut da = a.dims.clone();
    let mut db = b.dims.clone();
    let (pa, pb) = (da.len() == 1, db.len() == 1);
    if pa {
        da.insert(0, Dim::Fixed(1));
    }
    if pb {
        db.push(Dim::Fixed(1));
    }
    let (m, k1) = (&da[da.len() - 2], &da[da.len() - 1]);
    let (k2, n) = (&db[db.len() - 2], &db[db.len() - 1]);
    if k1 != k2 {
        return Err(RuleError::new(
            "fusec::shape::mismatch",
            format!("matmul: inner dims differ: {a} @ {b} ({k1} vs {k2})"),
        ));
    }
    let batch = broadcast_dims(&da[..da.len() - 2], &db[..db.len() - 2]).ok_or_else(|| {
        RuleError::new(
            "fusec::shape::mismatch",
            format!("matmul: batch dims of {a} and {b} do not broadcast"),
        )
    })?;
    let mut dims = batch;
    if !pa {
        dims.push(m.clone());
    }
    if !pb {
        dims.push(n.clone());
    }
    Ok(tt(a.dtype, dims))
}

/// `[B, m], [B, n] -> [B, m·n]`.
pub fn outer(a: &TensorType, b: &TensorType) -> Rule<TensorType> {
    need_float(a, "outer")?;
    need_float(b, "outer")?;
    need_rank(a, &[2], "outer")?;
    need_rank(b, &[2], "outer")?;
    same_dim(&a.dims[0], &b.dims[0], "outer: batch dims", a, b)?;
    let m = fixed(&a.dims[1], "outer: the width of the first operand")?;
    let n = fixed(&b.dims[1], "outer: the width of the second operand")?;
    let width = bounded(m.checked_mul(n), "outer: the product of the widths")?;
    Ok(tt(a.dtype, vec![a.dims[0].clone(), Dim::Fixed(width)]))
}

/// Joins along an axis: every other dim equal, widths add (they must be fixed unless there is one operand).
pub fn concat(xs: &[TensorType], ax: i64) -> Rule<TensorType> {
    let first = xs
        .first()
        .ok_or_else(|| RuleError::new("fusec::arity", "concat of an empty list"))?;
    let a = axis(ax, first.rank(), "concat")?;
    let mut width = 0i64;
    for x in xs {
        if x.dtype != first.dtype {
            return Err(RuleError::new(
                "fusec::dtype::mismatch",
                format!("concat: {first} and {x} have different dtypes"),
            ));
        }
        if x.rank() != first.rank() {
            return Err(RuleError::new(
                "fusec::shape::rank",
                format!("concat: {first} and {x} have different ranks"),
            ));
        }
        for (i, (d, e)) in first.dims.iter().zip(&x.dims).enumerate() {
            if i != a {
                same_dim(d, e, &format!("concat: dim {i}"), first, x)?;
            }
        }
        if xs.len() > 1 {
            let w = fixed(&x.dims[a], "concat: the width along the joined axis")?;
            width = bounded(width.checked_add(w), "concat: the joined width")?;
        }
    }
    let mut dims = first.dims.clone();
    if xs.len() > 1 {
        dims[a] = Dim::Fixed(width);
    }
    Ok(tt(first.dtype, dims))
}

/// Pieces of the given sizes along an axis; the sizes must add up to the axis.
pub fn split(x: &TensorType, sizes: &[i64], ax: i64) -> Rule<Vec<TensorType>> {
    let a = axis(ax, x.rank(), "split")?;
    let total = fixed(&x.dims[a], "split: the split axis")?;
    let sum = sizes
        .iter()
        .try_fold(0i64, |acc, s| acc.checked_add(*s))
        .unwrap_or(i64::MAX);
    if sum != total || sizes.iter().any(|s| *s <= 0) {
        return Err(RuleError::new(
            "fusec::shape::mismatch",
            format!(
                "split: sizes {sizes:?} do not add up to {total}, the size of axis {ax} of {x}"
            ),
        ));
    }
    Ok(sizes
        .iter()
        .map(|s| {
            let mut dims = x.dims.clone();
            dims[a] = Dim::Fixed(*s);
            tt(x.dtype, dims)
        })
        .collect())
}

/// Swaps two axes.
pub fn transpose(x: &TensorType, a: i64, b: i64) -> Rule<TensorType> {
    let (i, j) = (
        axis(a, x.rank(), "transpose")?,
        axis(b, x.rank(), "transpose")?,
    );
    let mut dims = x.dims.clone();
    dims.swap(i, j);
    Ok(tt(x.dtype, dims))
}

/// mean/sum/max over one axis.
pub fn reduce(x: &TensorType, ax: i64, keepdim: bool, what: &str) -> Rule<TensorType> {
    let a = axis(ax, x.rank(), what)?;
    let mut dims = x.dims.clone();
    if keepdim {
        dims[a] = Dim::Fixed(1);
    } else {
        dims.remove(a);
    }
    Ok(tt(x.dtype, dims))
}

/// One index along an axis, the axis dropped. A negative index counts from the end.
pub fn select(x: &TensorType, ax: i64, index: i64) -> Rule<TensorType> {
    let a = axis(ax, x.rank(), "select")?;
    if let Some(n) = x.dims[a].fixed() {
        if index >= n || index < -n {
            return Err(RuleError::new(
                "fusec::shape::index",
                format!("select: index {index} is out of range for axis {ax} of {x} (size {n})"),
            ));
        }
    }
    let mut dims = x.dims.clone();
    dims.remove(a);
    Ok(tt(x.dtype, dims))
}

/// `start..end` along an axis (negative bounds count from the end of a fixed axis).
pub fn slice(x: &TensorType, ax: i64, start: i64, end: i64) -> Rule<TensorType> {
    let a = axis(ax, x.rank(), "slice")?;
    let (s, e) = match x.dims[a].fixed() {
        Some(n) => {
            let norm = |v: i64| if v < 0 { n + v } else { v };
            (norm(start), norm(end))
        }
        None if start >= 0 && end >= 0 => (start, end),
        None => {
            return Err(RuleError::new(
                "fusec::shape::index",
                format!(
                    "slice: negative bounds need a fixed axis, but axis {ax} of {x} is symbolic"
                ),
            ))
        }
    };
    let in_range = x.dims[a].fixed().map(|n| e <= n).unwrap_or(true);
    if s < 0 || s >= e || !in_range {
        return Err(RuleError::new(
            "fusec::shape::index",
            format!("slice: {start}..{end} is empty or out of range for axis {ax} of {x}"),
        ));
    }
    let mut dims = x.dims.clone();
    dims[a] = Dim::Fixed(e - s);
    Ok(tt(x.dtype, dims))
}

/// Padding grows a fixed axis by `before + after`.
pub fn pad(x: &TensorType, ax: i64, before: i64, after: i64) -> Rule<TensorType> {
    let a = axis(ax, x.rank(), "pad")?;
    if before < 0 || after < 0 {
        return Err(RuleError::new(
            "fusec::shape::index",
            format!("pad: negative padding {before}, {after}"),
        ));
    }
    let mut dims = x.dims.clone();
    if before + after > 0 {
        let n = fixed(&x.dims[a], "pad: the padded axis")?;
        let grown = n.checked_add(before).and_then(|n| n.checked_add(after));
        dims[a] = Dim::Fixed(bounded(grown, "pad: the padded size")?);
    }
    Ok(tt(x.dtype, dims))
}

/// Losses: a prediction and a target in, the mean as `f32[]` out.
pub fn loss(kind: LossKind, pred: &TensorType, target: &TensorType) -> Rule<TensorType> {
    let name = crate::ir::Op::Loss(kind).name();
    need_float(pred, name)?;
    match kind {
        LossKind::CrossEntropy | LossKind::NextToken => {
            if kind == LossKind::NextToken && pred.rank() != 3 {
                return Err(RuleError::new(
                    "fusec::shape::rank",
                    format!(
                        "next_token_cross_entropy expects decoder logits [B, T, V], found {pred}"
                    ),
                ));
            }
            if pred.rank() < 2 {
                return Err(RuleError::new(
                    "fusec::shape::rank",
                    format!("cross_entropy expects logits [N, C] or [B, .., C], found {pred}"),
                ));
            }
            if !matches!(target.dtype, Dtype::I64 | Dtype::U32) {
                return Err(RuleError::new(
                    "fusec::dtype::mismatch",
                    format!("cross_entropy expects integer class labels, found {target}"),
                )
                .help("declare the labels as `i64[...]`; for float targets use `bce_with_logits` or `mse`"));
            }
            let want = &pred.dims[..pred.rank() - 1];
            if target.dims != want {
                return Err(RuleError::new(
                    "fusec::shape::mismatch",
                    format!(
                        "cross_entropy: logits {pred} need labels of shape [{}], found {target}",
                        join(want)
                    ),
                ));
            }
        }
        _ => {
            need_float(target, name)?;
            // A number as the target (`bce_with_logits(d_real, 1.0)`) broadcasts to the prediction.
            if pred.dims != target.dims && target.rank() != 0 {
                return Err(RuleError::new(
                    "fusec::shape::mismatch",
                    format!("{name}: prediction {pred} and target {target} have different shapes"),
                ));
            }
        }
    }
    Ok(tt(Dtype::F32, Vec::new()))
}

/// `B, 4, 2` for messages.
pub fn join(dims: &[Dim]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "tests/rules.rs"]
mod tests;
