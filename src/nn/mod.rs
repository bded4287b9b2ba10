//! Numerical kernels of the candle back end: differentiable functions for every primitive candle lacks or gets
//! wrong, each matching PyTorch (tests/fixtures) and tested against the fixtures or finite differences.
//!
//! Every function takes parameters as `&Tensor` so the back end can pass `Var` tensors, returns
//! `candle_core::Result`, and keeps gradients flowing through all inputs. The layers take typed parameter sets
//! (`params.rs`: [`LinearParams`], [`AttentionParams`], ...), which also declare the parameters' names, shapes and
//! initialisers for the IR.

mod activation;
mod attention;
mod conv;
mod decoder;
mod dropout_mask;
pub mod fused;
mod fused_gates;
#[cfg(feature = "cuda")]
mod fused_gates_cuda;
mod init;
mod linear;
mod loss;
mod norm;
mod params;
mod recurrent;
mod tensor_ops;

pub use activation::{activation, dropout, log_softmax, softmax};
pub use attention::{
    attention, attention_with_probs, position_frequencies, positions, transformer_layer,
};
pub use conv::{conv1d, conv2d};
pub use decoder::{
    next_token_cross_entropy, source_mask_bias, step as decoder_step, teacher_forced, DecoderState,
    DecoderWeights,
};
pub use dropout_mask::{hashed_mask, host_mask, mask_for as dropout_mask};
pub use fused_gates::{gru_cell, lstm_cell};
pub use init::init_tensor;
pub use linear::linear;
pub use loss::{bce_with_logits, bce_with_logits_elements, cross_entropy, l1, mse};
pub use norm::{
    batch_norm, batch_norm_backward, batch_norm_train_parts, layer_norm, layer_norm_backward,
    layer_norm_parts, update_running_stats,
};
pub use params::{
    prefixed, spec, sub_map, AttentionParams, BatchNormParams, CellParams, ConvParams,
    EmbeddingParams, LayerNormParams, LinearParams, ParamMap, RecurrentParams, TransformerParams,
};
pub use recurrent::{recurrent, RecurrentConfig, RecurrentOutput};
pub use tensor_ops::{broadcast_binary, last_valid, matmul, outer, pad};

/// The dtype of `x` when it is a half type (bf16, f16): the functions whose reductions need more bits widen
/// such inputs to f32 and narrow the result back.
pub(crate) fn half_type(x: &candle_core::Tensor) -> Option<candle_core::DType> {
    matches!(
        x.dtype(),
        candle_core::DType::BF16 | candle_core::DType::F16
    )
    .then_some(x.dtype())
}
