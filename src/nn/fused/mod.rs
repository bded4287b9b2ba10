//! Fused CPU kernels: whole operations (a recurrent layer's sequence, an optimizer update) written over plain
//! `f32` slices with hand-written backward passes, for the shapes where candle's one-op-at-a-time execution
//! spends its time in allocation, element-wise passes and autograd bookkeeping rather than arithmetic. Each has
//! a generic candle path elsewhere in `crate::nn` that it must match (tests compare the two), and callers fall
//! back to that path on other devices and dtypes.

pub mod dense;
pub mod gemm;
pub mod gru;
pub mod host;
pub mod lstm;
pub mod lstm_sequence;
pub mod next_token_loss;
pub mod pointwise;
pub mod recurrent;
pub mod scratch;
pub mod transformer;
pub mod vmath;
pub mod wide;
