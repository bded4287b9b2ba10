//! Data loading (in progress).
