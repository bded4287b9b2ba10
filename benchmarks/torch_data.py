"""Data for the PyTorch side of the benchmark: the same files fusec reads, as tensors.

IEMOCAP: the synthetic MulT-layout pickle (make_data.py), training split in file order, so the pool of four
batches holds the same examples as fusec's (`fusec bench --train` takes the first four full batches of the
training split). mfeat: the CSVs in data/mfeat, a seeded 60% training split standardised on itself (the rows
differ from fusec's stratified split; the shapes, which are all that matter for speed, do not). Translation:
data/emoji-mt tokenised and encoded as fusec does (src/data/text.rs): whitespace words with each punctuation
character split off, vocabularies of at most 2,000 tokens built on the training split (PAD 0, BOS 1, EOS 2,
UNK 3, then by frequency, ties by first appearance), BOS and EOS around every sentence.
"""
import csv
import os
import pickle
import unicodedata

import numpy as np
import torch

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
POOL = 4


# ------------------------------------------------------------------------------------------------------------
# Batches
# ------------------------------------------------------------------------------------------------------------


def take(arrays, idx):
    return {k: v[idx] for k, v in arrays.items()}


def pool(arrays, batch, n=POOL):
    """The first `n` full batches of `arrays` (dict of equally long tensors), in order."""
    total = next(iter(arrays.values())).shape[0]
    if total < batch:
        raise ValueError(f"the training split has fewer than {batch} examples")
    return [take(arrays, slice(i * batch, (i + 1) * batch)) for i in range(min(n, total // batch))]


def first(arrays, batch):
    """The first `batch` examples, cycling when there are fewer (fusec's prediction batch)."""
    total = next(iter(arrays.values())).shape[0]
    return take(arrays, torch.arange(batch) % total)


# ------------------------------------------------------------------------------------------------------------
# IEMOCAP
# ------------------------------------------------------------------------------------------------------------


def load_iemocap(path):
    """Training split of a MulT-layout pickle: text/audio/vision f32 [N, T, D], labels i64 [N, 4]."""
    with open(path, "rb") as f:
        split = pickle.load(f)["train"]
    out = {}
    for key in ("text", "audio", "vision"):
        x = np.asarray(split[key], dtype=np.float32)
        out[key] = torch.from_numpy(np.where(np.isfinite(x), x, 0.0).astype(np.float32))
    out["labels"] = torch.from_numpy(np.asarray(split["labels"]).argmax(axis=-1).astype(np.int64))
    return out


# ------------------------------------------------------------------------------------------------------------
# mfeat
# ------------------------------------------------------------------------------------------------------------


def load_mfeat(folder, views=("fou", "zer", "mor"), train=0.6, seed=0):
    """Training split of the mfeat views (standardised) and labels."""
    cols = {}
    for v in views:
        table = np.loadtxt(os.path.join(folder, f"mfeat-{v}.csv"), delimiter=",", skiprows=1, dtype=np.float64)
        cols[v] = table[:, :-1]
        labels = table[:, -1].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))[: int(round(train * len(labels)))]
    out = {}
    for v, x in cols.items():
        x = x[order]
        std = x.std(axis=0)
        out[v] = torch.from_numpy(((x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32))
    out["label"] = torch.from_numpy(labels[order])
    return out


# ------------------------------------------------------------------------------------------------------------
# Translation
# ------------------------------------------------------------------------------------------------------------


def is_punct(c):
    """fusec's punctuation: ASCII punctuation, or neither alphanumeric, whitespace nor a control character."""
    return not (c.isalpha() or c.isnumeric()) and not c.isspace() and unicodedata.category(c) != "Cc"


def tokenize(line):
    """Whitespace words, every punctuation character a token of its own (fusec's punct = "split")."""
    out = []
    for word in line.split():
        cur = ""
        for c in word:
            if is_punct(c):
                if cur:
                    out.append(cur)
                    cur = ""
                out.append(c)
            else:
                cur += c
        if cur:
            out.append(cur)
    return out


def build_vocab(sentences, max_size):
    counts, first_seen = {}, {}
    for s in sentences:
        for w in s:
            if w not in counts:
                counts[w] = 0
                first_seen[w] = len(first_seen)
            counts[w] += 1
    words = sorted((w for w in counts if w not in SPECIALS), key=lambda w: (-counts[w], first_seen[w]))
    tokens = SPECIALS + words[: max_size - len(SPECIALS)]
    return tokens, {t: i for i, t in enumerate(tokens)}


def load_translation(folder, src="en", tgt="de", max_vocab=2000):
    """Token ids (with BOS and EOS) of both sides and the split's indices: {'src', 'tgt': [list of ids],
    'train' | 'valid' | 'test': [indices], 'tgt_tokens': id -> token}."""
    with open(os.path.join(folder, "pairs.tsv"), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    with open(os.path.join(folder, "split.tsv"), encoding="utf-8", newline="") as f:
        splits = [r["split"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    out = {name: [i for i, s in enumerate(splits) if s == name] for name in ("train", "valid", "test")}
    for side, column in (("src", src), ("tgt", tgt)):
        words = [tokenize(r[column]) for r in rows]
        tokens, index = build_vocab([words[i] for i in out["train"]], max_vocab)
        out[side] = [[BOS] + [index.get(w, UNK) for w in s] + [EOS] for s in words]
        if side == "tgt":
            out["tgt_tokens"] = tokens
    return out


def translation_batch(data, idx):
    """Tensors of examples `idx`, padded to the batch's longest source and target (fusec's Dataset::gather)."""
    srcs, tgts = [data["src"][i] for i in idx], [data["tgt"][i] for i in idx]

    def padded(seqs):
        t = torch.zeros(len(seqs), max(len(s) for s in seqs), dtype=torch.long)
        for r, s in enumerate(seqs):
            t[r, : len(s)] = torch.tensor(s)
        return t

    return {"src": padded(srcs), "src_len": torch.tensor([len(s) for s in srcs]), "tgt": padded(tgts)}


def train_tokens(data):
    """Non-padding tokens (BOS and EOS included) of both sides over the training split."""
    return sum(len(data["src"][i]) + len(data["tgt"][i]) for i in data["train"])
