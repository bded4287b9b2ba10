"""Writes the small extra pickles the reader tests use (see README.md next to this file).

Run it once with NumPy 2.x and once with NumPy 1.x (in a virtual environment); each run writes the files
whose names carry its major version. Values are deterministic (fixed seeds, hand-placed special values).
"""
import pickle
import struct
import sys

import numpy as np

NP = "np" + np.__version__.split(".")[0]
HERE = sys.path[0]


def mult_dict(rng, sentiment, audio_dtype):
    """A tiny MulT-layout dict: N = 3/2/2, T = 2, feature sizes 4 (text), 3 (audio), 2 (vision)."""
    out = {}
    for split, n in (("train", 3), ("valid", 2), ("test", 2)):
        audio = rng.standard_normal((n, 2, 3)).astype(audio_dtype)
        d = {
            "text": rng.standard_normal((n, 2, 4)).astype("f4"),
            "audio": audio,
            "vision": np.asfortranarray(rng.standard_normal((n, 2, 2)).astype("f4")),
        }
        if sentiment:
            d["labels"] = rng.uniform(-3, 3, (n, 1, 1)).astype("f4")
            d["id"] = np.array([["v%d" % i, str(i), "x"] for i in range(n)], dtype=object)
        else:
            hot = rng.integers(0, 2, (n, 4))
            d["labels"] = np.stack([1 - hot, hot], axis=-1).astype("f4")
        out[split] = d
    out["train"]["audio"][0, 0, 0] = -np.inf
    out["train"]["audio"][1, 1, 2] = np.nan
    out["valid"]["audio"][0, 1, 1] = np.inf
    return out


def misc():
    """Every value kind the unpickler turns into a Value, for value-level tests."""
    return {
        "none": None,
        "flags": [True, False],
        "ints": (0, -1, 255, 65535, -70000, 2**40, -(2**62)),
        "float": -2.5,
        "text": "héllo",
        "raw": b"\x00\x01\xff",
        "scalar_f4": np.float32(2.5),
        "scalar_i8": np.int64(-7),
        "be_i4": np.array([[1, -2], [3, 4]], dtype=">i4"),
        "fortran_f8": np.asfortranarray(np.arange(6, dtype="f8").reshape(2, 3)),
        "bools": np.array([True, False, True]),
        "u2": np.array([1, 65535], dtype="u2"),
        "f2": np.array([0.5, -1.0], dtype="f2"),
        "words": np.array(["ab", "c"]),
        "objects": np.array(["a", 1, None], dtype=object),
        b"bytes_key": 1,
    }


def python2_style():
    """A protocol-2 pickle as Python 2 writes it (hand-emitted: Python 3 never writes BINSTRING): str keys
    and the array buffer as SHORT_BINSTRING/BINSTRING, numpy.core.multiarray globals, {'train': f4[2, 2]}."""
    data = struct.pack("<4f", 1.0, -2.0, float("nan"), 4.0)

    def sbs(b):
        return b"U" + bytes([len(b)]) + b

    out = b"\x80\x02}q\x00" + sbs(b"train")
    out += b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85" + sbs(b"b")
    out += b"\x87Rq\x03(K\x01K\x02K\x02\x86cnumpy\ndtype\nq\x04" + sbs(b"f4") + b"K\x00K\x01\x87R"
    out += b"(K\x03" + sbs(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
    out += b"T" + struct.pack("<I", len(data)) + data + b"tbs."
    return out


def lmf_dict(rng):
    """A tiny LMF-layout dict with bytes split/key names, as Python 3 loads the Python 2 release."""
    feats = {}
    for split, n in ((b"train", 4), (b"valid", 2), (b"test", 2)):
        feats[split] = {
            b"covarep": rng.standard_normal((n, 3)).astype("f4"),
            b"facet": rng.standard_normal((n, 2)).astype("f4"),
            b"glove": rng.standard_normal((n, 2, 4)).astype("f4"),
        }
    feats[b"train"][b"covarep"][2, 1] = np.nan
    out = {}
    for emotion in (b"happy", b"sad", b"angry", b"neutral"):
        out[emotion] = {}
        for split, f in feats.items():
            n = f[b"covarep"].shape[0]
            hot = rng.integers(0, 2, n)
            out[emotion][split] = {**f, b"label": np.stack([1 - hot, hot], axis=-1)}
    return out


def dump(name, obj, protocol):
    with open(f"{HERE}/{name}", "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


rng = np.random.default_rng(7)
if NP == "np2":
    dump("mult_np2_p2.pkl", mult_dict(rng, False, ">f8"), 2)
    dump("mult_np2_p5.pkl", mult_dict(rng, False, "f4"), 5)
    dump("misc_np2_p4.pkl", misc(), 4)
    dump("misc_np2_p5.pkl", misc(), 5)
    dump("misc_np2_p2.pkl", misc(), 2)
    dump("misc_np2_p0.pkl", misc(), 0)
else:
    dump("mosi_np1_p4.pkl", mult_dict(rng, True, "f8"), 4)
    dump("lmf_np1_p2.pkl", lmf_dict(rng), 2)
    with open(f"{HERE}/py2_style.pkl", "wb") as f:
        f.write(python2_style())
