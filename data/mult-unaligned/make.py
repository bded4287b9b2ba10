"""Writes the three unaligned samples in this folder (see README.md): MulT's `iemocap_data_noalign.pkl`,
`mosi_data_noalign.pkl` and `mosei_senti_data_noalign.pkl` layouts at the releases' sequence lengths, with few
examples and random values.

Run from the repository root with NumPy 2.x:  python data/mult-unaligned/make.py
Values come from a fixed seed, so a second run writes the same bytes."""

import pickle

import numpy as np

HERE = "data/mult-unaligned"
SPLITS = (("train", 8), ("valid", 4), ("test", 4))
# MOSEI's examples are the largest (69,500 values each), so its sample holds fewer.
MOSEI_SPLITS = (("train", 6), ("valid", 3), ("test", 3))


def left_padded(rng, n, steps, width):
    """[n, steps, width] f32 sequences of random true lengths, zero-padded on the left (how the MulT releases
    pad: "left padding zeroes or truncating", yaohungt/Multimodal-Transformer issue #3)."""
    out = np.zeros((n, steps, width), dtype=np.float32)
    for i in range(n):
        true_len = int(rng.integers(steps // 4, steps + 1))
        out[i, steps - true_len:] = rng.standard_normal((true_len, width))
    return out


def iemocap(rng):
    """text 20 x 300 (GloVe), audio 400 x 74 (COVAREP), vision 500 x 35 (FACET); labels [N, 4, 2] one-hot
    (absent, present) per emotion, in MulT's order neutral, happy, sad, angry."""
    data = {}
    for split, n in SPLITS:
        present = rng.integers(0, 2, (n, 4))
        data[split] = {
            "text": left_padded(rng, n, 20, 300),
            "audio": left_padded(rng, n, 400, 74),
            "vision": left_padded(rng, n, 500, 35),
            "labels": np.stack([1 - present, present], axis=-1).astype(np.float32),
        }
    # The public file holds -inf in COVAREP features; MulT sets them to 0.
    data["train"]["audio"][0, -1, 3] = -np.inf
    return data


def mosi(rng):
    """text 50 x 300 (GloVe), audio 375 x 5 (COVAREP, the five selected dimensions), vision 500 x 20 (FACET,
    the twenty selected dimensions); labels [N, 1, 1] sentiment in [-3, 3]; id [N, 3] strings (video, clip
    start, clip end)."""
    data = {}
    for split, n in SPLITS:
        data[split] = {
            "text": left_padded(rng, n, 50, 300),
            "audio": left_padded(rng, n, 375, 5),
            "vision": left_padded(rng, n, 500, 20),
            "labels": rng.uniform(-3, 3, (n, 1, 1)).astype(np.float32),
            "id": np.array([[f"{split}{i}", str(i), str(i + 1)] for i in range(n)]),
        }
    return data


def mosei(rng):
    """CMU-MOSEI sentiment, MulT's `mosei_senti_data_noalign.pkl`: the MOSI layout with text 50 x 300 (GloVe),
    audio 500 x 74 (all COVAREP features) and vision 500 x 35 (all FACET features); labels [N, 1, 1] sentiment
    in [-3, 3]; id [N, 3] strings."""
    data = {}
    for split, n in MOSEI_SPLITS:
        data[split] = {
            "text": left_padded(rng, n, 50, 300),
            "audio": left_padded(rng, n, 500, 74),
            "vision": left_padded(rng, n, 500, 35),
            "labels": rng.uniform(-3, 3, (n, 1, 1)).astype(np.float32),
            "id": np.array([[f"{split}{i}", str(i), str(i + 1)] for i in range(n)]),
        }
    return data


def main():
    rng = np.random.default_rng(14)
    # Drawn in this order from one generator: a sample added last leaves the earlier files' bytes unchanged.
    samples = (
        ("iemocap_data_noalign.pkl", iemocap),
        ("mosi_data_noalign.pkl", mosi),
        ("mosei_senti_data_noalign.pkl", mosei),
    )
    for name, make in samples:
        data = make(rng)
        with open(f"{HERE}/{name}", "wb") as f:
            pickle.dump(data, f, protocol=4)


if __name__ == "__main__":
    main()
