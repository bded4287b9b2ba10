//! The special token ids of text fields, a convention of the language that several stages share: data encodes
//! sentences with them, `next_token_cross_entropy` ignores PAD targets, and decoding starts from BOS and stops
//! at EOS.

/// Padding after a sentence's end; ignored by the sequence loss.
pub const PAD: u32 = 0;
/// Begin of sentence: every encoded sentence starts with it, and decoding starts from it.
pub const BOS: u32 = 1;
/// End of sentence: decoding stops when it is produced.
pub const EOS: u32 = 2;
/// A word not in the vocabulary.
pub const UNK: u32 = 3;
