"""The PyTorch side of the benchmark: the timing protocol of `fusec bench`, greedy and beam decoding with fusec's
semantics (src/backend/decode.rs), FLOP counts and the GEMM peak.

Training: a fresh model, a pool of four pre-gathered batches cycled, `warmup` untimed steps, then `reps`
timings of `steps` steps; the median steps/s. Prediction: eval mode, torch.no_grad(), the prediction path only,
one batch of `infer_batch` examples: 2 untimed batches, then the median of 3 timings of 5 batches.
"""
import math
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import torch_data as td
import torch_models as tm


def median_rate(fn, warmup, count, reps):
    """Calls fn() `warmup` times, then times `reps` runs of `count` calls; -> (median calls/s, all rates)."""
    for _ in range(warmup):
        fn()
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(count):
            fn()
        rates.append(count / max(time.perf_counter() - t0, 1e-9))
    return statistics.median(rates), rates


def train_rate(model, batches, warmup, steps, reps):
    """Training steps/s of `model` cycling over `batches`."""
    model.train()
    i = 0
    last = []

    def step():
        nonlocal i
        last[:] = [model.train_step(batches[i % len(batches)])]
        i += 1

    med, rates = median_rate(step, warmup, steps, reps)
    if not math.isfinite(float(last[0])):
        raise RuntimeError("the training loss is not finite")
    return med, rates


def infer_rate(model, batch, n):
    """Prediction examples/s on one batch of `n` examples."""
    model.eval()
    with torch.no_grad():
        med, rates = median_rate(lambda: model.predict(batch), 2, 5, 3)
    return med * n, [r * n for r in rates]


def lstm_flops(module, inputs, _output):
    """Matrix-product FLOPs of an nn.LSTM call (torch's FLOP counter does not see the CPU LSTM kernel):
    2 * 4H * (D + H) per layer, direction and valid time step."""
    x = inputs[0]
    steps = int(x.batch_sizes.sum()) if isinstance(x, torch.nn.utils.rnn.PackedSequence) else x.shape[0] * x.shape[1]
    dirs = 2 if module.bidirectional else 1
    flops, d_in = 0, module.input_size
    for _ in range(module.num_layers):
        flops += 2 * 4 * module.hidden_size * (d_in + module.hidden_size) * steps * dirs
        d_in = module.hidden_size * dirs
    module.counted_flops = getattr(module, "counted_flops", 0) + flops


def forward_flops(model, batch, n, train):
    """Matrix-product FLOPs per example of one forward pass (training mode: the training graph's forward; else
    the prediction path): torch.utils.flop_counter's count (mm, addmm, bmm, convolution; 2 per multiply-add;
    element-wise work not counted) plus the LSTMs' products, which it does not see."""
    lstms = [m for m in model.modules() if isinstance(m, torch.nn.LSTM)]
    hooks = [m.register_forward_hook(lstm_flops) for m in lstms]
    for m in lstms:
        m.counted_flops = 0
    model.train(train)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        if train:
            if hasattr(model, "loss"):
                model.loss(batch)
            else:  # GAN-Fusion: the forward pass and both steps' discriminator calls
                z, reals, fakes, recon = model.fusion.forward_train(model.encode(batch))
                model.task(z, batch)
                for m in range(len(fakes)):
                    model.fusion.d[m](reals[m])
                    model.fusion.d[m](fakes[m])
        else:
            model.predict(batch)
    for h in hooks:
        h.remove()
    return (counter.get_total_flops() + sum(m.counted_flops for m in lstms)) / n


def gemm_peak(threads, n=2048, reps=5, calls=3):
    """Best GFLOP/s of an n x n x n SGEMM (torch.mm) with `threads` threads."""
    torch.set_num_threads(threads)
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    for _ in range(2):
        torch.mm(a, b, out=c)
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=c)
        rates.append(2 * n ** 3 * calls / (time.perf_counter() - t0) / 1e9)
    return max(rates)


# ------------------------------------------------------------------------------------------------------------
# Decoding (fusec's semantics: src/backend/decode.rs)
# ------------------------------------------------------------------------------------------------------------


def greedy(model, memory, mask, state, max_len=100):
    """Most likely token per step until EOS or max_len; stops once every row has finished. -> token lists."""
    n = memory.shape[0]
    prev = torch.full((n,), td.BOS, dtype=torch.long)
    finished = torch.zeros(n, dtype=torch.bool)
    steps = []
    for _ in range(max_len):
        if bool(finished.all()):
            break
        logp, state = model.step(prev, state, memory, mask)
        w = logp.argmax(dim=1)  # ties: the first maximum, the lower id, as fusec
        steps.append(torch.where(finished, td.EOS, w))
        finished |= w == td.EOS
        prev = w
    if not steps:
        return [[] for _ in range(n)]
    out = []
    for row in torch.stack(steps, dim=1).tolist():
        out.append(row[: row.index(td.EOS)] if td.EOS in row else row)
    return out


def beam_search(model, memory, mask, state, k, max_len=100, alpha=1.0):
    """fusec's batched beam search: per row the k best continuations by summed log-probability; finished ones
    are set aside, a row stops once k have finished or none is live; the best by score / len^alpha wins."""
    n = memory.shape[0]
    live = [[(0.0, [], r)] for r in range(n)]  # (score, tokens, row in the state)
    done = [[] for _ in range(n)]
    prev = [td.BOS] * n
    for _ in range(max_len):
        logp, nxt = model.step(torch.tensor(prev), state, memory, mask)
        values, ids = logp.topk(k, dim=1)
        values, ids = values.tolist(), ids.tolist()
        rows, prev = [], []
        for i, beams in enumerate(live):
            cand = [(score + lp, toks, w, row) for score, toks, row in beams for lp, w in zip(values[row], ids[row])]
            cand.sort(key=lambda c: -c[0])  # stable: ties keep beam order, then token order
            keep = []
            for score, toks, w, row in cand[:k]:
                if w == td.EOS:
                    done[i].append((score, toks, True))
                else:
                    keep.append((score, toks + [w], row))
            if len(done[i]) >= k:
                keep = []
            live[i] = []
            for score, toks, row in keep:
                rows.append(row)
                prev.append(toks[-1])
                live[i].append((score, toks, len(rows) - 1))
        if not rows:
            break
        idx = torch.tensor(rows)
        state = (nxt[0][:, idx], nxt[1][:, idx])
        memory, mask = memory[idx], mask[idx]

    def normalized(h):
        return h[0] / max(len(h[1]) + int(h[2]), 1) ** alpha

    best = []
    for d, lv in zip(done, live):
        hyps = d + [(score, toks, False) for score, toks, _ in lv]
        best.append(max(hyps, key=normalized)[1] if hyps else [])
    return best


class CountingStepper:
    """The model's decoding step, counting the calls (decoder steps over all rows at once)."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def step(self, *args):
        self.calls += 1
        return self.model.step(*args)


def decode_rate(model, data, indices, beam, chunk=128):
    """Sentences/s decoding `indices` in chunks of `chunk` (encoder, search, tokens back to words), the mean
    hypothesis length and the number of decoder steps (each over all live rows of a chunk)."""
    model.eval()
    tokens = data["tgt_tokens"]
    stepper = CountingStepper(model)
    lengths = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(indices), chunk):
            b = td.translation_batch(data, indices[start: start + chunk])
            memory, mask, state = model.encode(b["src"], b["src_len"])
            if beam <= 1:
                hyps = greedy(stepper, memory, mask, state)
            else:
                hyps = beam_search(stepper, memory, mask, state, beam)
            for h in hyps:
                lengths += len(h)
                " ".join(tokens[i] if i < len(tokens) else "<unk>" for i in h)
    return len(indices) / (time.perf_counter() - t0), lengths / max(len(indices), 1), stepper.calls


def translation_rates(data, epochs, beam, batch=32, clip=None, seed=0):
    """Trains the translation model `epochs` epochs (shuffled batches of `batch`, each padded to its longest
    sentences; gathering included in the time, as in fusec's train_seconds), then decodes the validation and
    test sentences greedily and with beam `beam`."""
    model = tm.build("mmt", "emoji_de_text", clip=clip, seed=seed)
    model.train()
    gen = torch.Generator().manual_seed(seed)
    train = torch.tensor(data["train"])
    seconds = 0.0
    for _ in range(epochs):
        order = train[torch.randperm(len(train), generator=gen)].tolist()
        t0 = time.perf_counter()
        for start in range(0, len(order), batch):
            loss = model.train_step(td.translation_batch(data, order[start: start + batch]))
        seconds += time.perf_counter() - t0
    if not math.isfinite(float(loss)):
        raise RuntimeError("the translation loss is not finite")
    sentences = data["valid"] + data["test"]
    greedy_rate, greedy_len, greedy_steps = decode_rate(model, data, sentences, 1)
    beam_rate, beam_len, beam_steps = decode_rate(model, data, sentences, beam)
    return {
        "params": tm.n_params(model),
        "epochs": epochs,
        "train_tokens_per_s": td.train_tokens(data) * epochs / seconds,
        "train_pairs_per_s": len(data["train"]) * epochs / seconds,
        "sentences": len(sentences),
        "greedy_per_s": greedy_rate,
        "beam_per_s": beam_rate,
        "beam": beam,
        "greedy_mean_len": greedy_len,
        "beam_mean_len": beam_len,
        "greedy_steps": greedy_steps,
        "beam_steps": beam_steps,
    }
