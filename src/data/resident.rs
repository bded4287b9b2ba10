//! A data set's model inputs uploaded once to the device that trains on them, with batches gathered there: an
//! epoch's (or a split's) example order is uploaded as one index tensor, and each batch is an `index_select`
//! by a slice of it, so no example crosses from the host per batch. Same values as [`Dataset::gather`], which
//! stays for one-off batches (a gradient probe, decoding).

use std::collections::BTreeMap;

use candle_core::{DType, Device, Error, Result, Tensor};

use super::{Dataset, FieldValues};
use crate::ir::Dtype;

/// Fields of a data set as device tensors `[n, ..example_shape]` in their declared dtypes.
pub struct ResidentData {
    device: Device,
    fields: BTreeMap<String, ResidentField>,
}

struct ResidentField {
    all: Tensor,
    /// Text fields: each example's token count (its ids after that are PAD), to trim a batch to its longest
    /// sentence as [`Dataset::gather`] does.
    token_counts: Option<Vec<usize>>,
}

/// A run of examples: their indices on the host (text widths, bookkeeping) and the same indices as a `u32`
/// tensor on the device (a slice of an uploaded order, so making one copies nothing).
pub struct BatchIndex<'a> {
    pub host: &'a [usize],
    pub device: Tensor,
}

/// An order of examples uploaded once, cut into batches on the device.
pub struct UploadedOrder {
    host: Vec<usize>,
    device: Tensor,
}

impl UploadedOrder {
    /// The batch of `len` examples starting at position `start` of the order.
    pub fn batch(&self, start: usize, len: usize) -> Result<BatchIndex<'_>> {
        let host = self.host.get(start..start + len).ok_or_else(|| {
            Error::Msg(format!(
                "internal: batch {start}..{} past an order of {}",
                start + len,
                self.host.len()
            ))
        })?;
        Ok(BatchIndex {
            host,
            device: self.device.narrow(0, start, len)?,
        })
    }

    pub fn len(&self) -> usize {
        self.host.len()
    }

    pub fn is_empty(&self) -> bool {
        self.host.is_empty()
    }
}

impl ResidentData {
    /// Uploads the fields `names` of `data` (every example) to `device`.
    pub fn upload<'n>(
        data: &Dataset,
        names: impl IntoIterator<Item = &'n str>,
        device: &Device,
    ) -> Result<ResidentData> {
        let mut fields = BTreeMap::new();
        for name in names {
            let f = data
                .fields
                .get(name)
                .ok_or_else(|| Error::Msg(format!("the data set has no field `{name}`")))?;
            let mut shape = vec![f.n];
            shape.extend(&f.example_shape);
            let all = match &f.values {
                FieldValues::F32(v) => Tensor::from_slice(v, shape, device)?,
                FieldValues::I64(v) => Tensor::from_slice(v, shape, device)?,
            };
            let all = match f.dtype {
                Dtype::F32 | Dtype::I64 => all,
                Dtype::F64 => all.to_dtype(DType::F64)?,
                Dtype::U32 => all.to_dtype(DType::U32)?,
                Dtype::Bool => all.to_dtype(DType::U8)?,
            };
            let token_counts = data
                .texts
                .contains_key(name)
                .then(|| token_counts(&f.values, f.n));
            fields.insert(name.to_string(), ResidentField { all, token_counts });
        }
        Ok(ResidentData {
            device: device.clone(),
            fields,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Uploads an order of example indices (an epoch's shuffled batches one after another, or a split).
    pub fn upload_order(&self, order: Vec<usize>) -> Result<UploadedOrder> {
        let ids: Vec<u32> = order
            .iter()
            .map(|i| {
                u32::try_from(*i).map_err(|_| Error::Msg(format!("example index {i} too large")))
            })
            .collect::<Result<_>>()?;
        let device = Tensor::from_vec(ids, order.len(), &self.device)?;
        Ok(UploadedOrder {
            host: order,
            device,
        })
    }

    /// The examples of `batch` of `field`, `[batch.len(), ..example_shape]` (text fields trimmed to the batch's
    /// longest sentence).
    pub fn gather(&self, field: &str, batch: &BatchIndex<'_>) -> Result<Tensor> {
        let f = self
            .fields
            .get(field)
            .ok_or_else(|| Error::Msg(format!("field `{field}` was not uploaded")))?;
        let n = f.all.dim(0)?;
        if let Some(bad) = batch.host.iter().find(|i| **i >= n) {
            return Err(Error::Msg(format!(
                "example {bad} is out of range: field `{field}` has {n} examples"
            )));
        }
        let rows = f.all.index_select(&batch.device, 0)?;
        match &f.token_counts {
            None => Ok(rows),
            Some(counts) => {
                let per = f.all.dim(1)?;
                let width = batch
                    .host
                    .iter()
                    .map(|i| counts[*i])
                    .max()
                    .unwrap_or(0)
                    .max(1)
                    .min(per.max(1));
                rows.narrow(1, 0, width.min(per))?.contiguous()
            }
        }
    }
}

/// Tokens before the trailing PAD (id 0) of each example of a text field `[n, T]`.
fn token_counts(values: &FieldValues, n: usize) -> Vec<usize> {
    let FieldValues::I64(v) = values else {
        return vec![0; n];
    };
    let per = v.len().checked_div(n).unwrap_or(0);
    (0..n)
        .map(|i| {
            v[i * per..(i + 1) * per]
                .iter()
                .rposition(|x| *x != 0)
                .map(|p| p + 1)
                .unwrap_or(0)
        })
        .collect()
}
