"""Writes the small label-and-split data set of tests/it/data_labels.rs from data/mfeat (no NumPy needed).

Three digits of mfeat's morphological view (6 features; 16 examples each of digits 0, 1, 2), with the digit as a
name (`zero`, `one`, `two`): train files hold 12 per class, test files 4 per class, in CSV, TSV, .npy (names as
NumPy unicode `<U5`), .npz and safetensors (numeric labels). `all.csv` holds the 48 examples in one file with an
`id` column, and `split.tsv` names each id's split in shuffled order (`split_bad.tsv`, edited by hand from it,
repeats id 5, misses 7 and 30, and names 48 and `x`). Run from the repository root.
"""
import json
import random
import struct
import zipfile

NAMES = ["zero", "one", "two"]
rows = [l.strip().split(",") for l in open("data/mfeat/mfeat-mor.csv")][1:]
picked = [(rows[200 * d + i][:6], d) for d in range(3) for i in range(16)]
train = [p for j, p in enumerate(picked) if j % 16 < 12]
test = [p for j, p in enumerate(picked) if j % 16 >= 12]
out = "tests/data/labels/"


def write_csv(path, part, sep=","):
    with open(path, "w") as f:
        f.write(sep.join([f"f{k}" for k in range(6)] + ["digit"]) + "\n")
        for x, d in part:
            f.write(sep.join(x + [NAMES[d]]) + "\n")


def npy(descr, shape, payload):
    dims = ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, dims)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def features(part):
    return npy("<f8", (len(part), 6), b"".join(struct.pack("<d", float(v)) for x, _ in part for v in x))


def names(part):
    return npy("<U5", (len(part),), b"".join(NAMES[d].ljust(5, "\0").encode("utf-32-le") for _, d in part))


def digits(part):
    return npy("<i8", (len(part),), b"".join(struct.pack("<q", d) for _, d in part))


def safetensors(path, part):
    x = b"".join(struct.pack("<f", float(v)) for x, _ in part for v in x)
    y = b"".join(struct.pack("<q", d) for _, d in part)
    meta = {
        "x": {"dtype": "F32", "shape": [len(part), 6], "data_offsets": [0, len(x)]},
        "y": {"dtype": "I64", "shape": [len(part)], "data_offsets": [len(x), len(x) + len(y)]},
    }
    head = json.dumps(meta).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(head)) + head + x + y)


for name, part in [("train", train), ("test", test)]:
    write_csv(out + f"{name}.csv", part)
    write_csv(out + f"{name}.tsv", part, "\t")
    open(out + f"x_{name}.npy", "wb").write(features(part))
    open(out + f"y_{name}.npy", "wb").write(names(part))
    with zipfile.ZipFile(out + f"{name}.npz", "w") as z:
        z.writestr("x.npy", features(part))
        z.writestr("y.npy", names(part))
        z.writestr("digit.npy", digits(part))
    safetensors(out + f"{name}.safetensors", part)

with open(out + "all.csv", "w") as f:
    f.write(",".join(["id"] + [f"f{k}" for k in range(6)] + ["digit"]) + "\n")
    for i, (x, d) in enumerate(picked):
        f.write(",".join([str(i)] + x + [NAMES[d]]) + "\n")
ids = list(range(len(picked)))
random.Random(0).shuffle(ids)
with open(out + "split.tsv", "w") as f:
    f.write("id\tsplit\n")
    for i in ids:
        f.write(f"{i}\t{'test' if i % 16 >= 12 else 'valid' if i % 16 >= 9 else 'train'}\n")
