"""Writes the synthetic IEMOCAP file of the side-by-side benchmark (docs/PERFORMANCE.md).

The file has the layout of the Multimodal Transformer's aligned release `iemocap_data.pkl`, which
`examples/iemocap/*.fuse` read (`--set data.path=DIR`):

    {'train' | 'valid' | 'test': {'text': f32[N, 20, 300], 'audio': f32[N, 20, 74], 'vision': f32[N, 20, 35],
                                  'labels': f32[N, 4, 2]}}

pickled with protocol 4. Features are N(0, 1); labels are one-hot (absent, present) per emotion (neutral, happy,
sad, angry), each present with probability 1/2. Values are random: the file measures speed, not accuracy. The
same seed gives the same file, byte for byte.

    python benchmarks/make_data.py [--out DIR] [--train 3200] [--valid 256] [--test 256] [--seed 0]
"""
import argparse
import os
import pickle

import numpy as np

T_LEN = 20
WIDTHS = {"text": 300, "audio": 74, "vision": 35}
FILE_NAME = "iemocap_data.pkl"


def make_split(rng, n):
    split = {name: rng.standard_normal((n, T_LEN, width), dtype=np.float32) for name, width in WIDTHS.items()}
    present = rng.integers(0, 2, size=(n, 4))
    labels = np.zeros((n, 4, 2), dtype=np.float32)
    labels[..., 1] = present
    labels[..., 0] = 1 - present
    split["labels"] = labels
    return split


def write(out_dir, n_train=3200, n_valid=256, n_test=256, seed=0):
    """Writes `out_dir/iemocap_data.pkl` (atomically) and returns its path."""
    rng = np.random.default_rng(seed)
    data = {"train": make_split(rng, n_train), "valid": make_split(rng, n_valid), "test": make_split(rng, n_test)}
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, FILE_NAME)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(data, f, protocol=4)
    os.replace(tmp, path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".data"))
    ap.add_argument("--train", type=int, default=3200)
    ap.add_argument("--valid", type=int, default=256)
    ap.add_argument("--test", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    path = write(args.out, args.train, args.valid, args.test, args.seed)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
