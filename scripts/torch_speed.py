"""Training steps/s of the six paper models of examples/iemocap/ in PyTorch eager, the reference that
scripts/gpu-check.sh puts beside fusec's own steps/s on the same GPU.

Each model mirrors its .fuse file (the stdlib blocks it calls, written out), and each step does what a step of
`fusec run` does with that file's plan: forward, loss, backward, gradient clipping to the plan's `clip_norm`,
Adam (lr 1e-3). GAN-Fusion takes fusec's two plan steps per batch, each with its own forward: the discriminator
step (Adam over `fusion.d.*`) on `d_loss`, then the main step (Adam over the rest) on task + g_loss + recon.

Protocol (the shared reference's): a fresh model per configuration (torch.manual_seed(0)); inputs are N(0, 1)
tensors of the aligned MulT IEMOCAP shapes (text [B,20,300], audio [B,20,74], vision [B,20,35], labels [B,4] in
{0,1}), a pool of four batches resident on the device and cycled; `warmup` untimed steps, then `reps` timings of
`steps` steps, each between two device synchronisations; the median steps/s is reported. bf16 runs the forward
and the loss under torch.autocast (bf16 compute, f32 master weights and Adam state), as fusec's
`precision = "bf16"` does.

    python3 scripts/torch_speed.py --device cuda --models tfn,mult --batches 32,100 --precisions f32,bf16 \
        --json out.json
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

T, D_TEXT, D_AUDIO, D_VISION, LATENT = 20, 300, 74, 35, 256


def mlp(sizes):
    """std.encoders.Mlp: linear layers with ReLU between them (none after the last)."""
    layers = []
    for i in range(1, len(sizes)):
        layers.append(nn.Linear(sizes[i - 1], sizes[i]))
        if i < len(sizes) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Encoders(nn.Module):
    """BiLstmEncoder(text, hidden 256, out 256) and Mlp(mean(x, time), [500, 256]) for audio and vision."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(D_TEXT, 256, batch_first=True, bidirectional=True)
        self.text_out = nn.Linear(512, LATENT)
        self.audio = mlp([D_AUDIO, 500, LATENT])
        self.vision = mlp([D_VISION, 500, LATENT])

    def forward(self, text, audio, vision):
        _, (h, _) = self.lstm(text)
        zt = self.text_out(torch.cat([h[0], h[1]], dim=1))
        return zt, self.audio(audio.mean(1)), self.vision(vision.mean(1))


def task_loss(logits8, labels):
    """cross_entropy over logits reshaped [B, 4, 2] against labels [B, 4] (mean over the 4B pairs)."""
    return F.cross_entropy(logits8.float().reshape(-1, 2), labels.reshape(-1))


class AutoFusion(nn.Module):
    """std.fusion.AutoFusion: k -> k/2 (tanh) -> dim (relu); decoder dim -> k/2 (relu) -> k; recon = mse."""

    def __init__(self, k, dim=LATENT):
        super().__init__()
        self.enc1, self.enc2 = nn.Linear(k, k // 2), nn.Linear(k // 2, dim)
        self.dec1, self.dec2 = nn.Linear(dim, k // 2), nn.Linear(k // 2, k)

    def forward(self, joint):
        z = F.relu(self.enc2(torch.tanh(self.enc1(joint))))
        recon = F.mse_loss(self.dec2(F.relu(self.dec1(z))).float(), joint.float())
        return z, recon


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.head = Encoders(), nn.Linear(3 * LATENT, 8)

    def losses(self, batch):
        text, audio, vision, labels = batch
        return [task_loss(self.head(torch.cat(self.enc(text, audio, vision), 1)), labels)]


class AutoFusionModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.fusion, self.head = Encoders(), AutoFusion(3 * LATENT), nn.Linear(LATENT, 8)

    def losses(self, batch):
        text, audio, vision, labels = batch
        z, recon = self.fusion(torch.cat(self.enc(text, audio, vision), 1))
        return [task_loss(self.head(z), labels) + recon]


def bn_net(widths, slope=0.2):
    """std.fusion.Generator / Discriminator: linear, batch norm, leaky ReLU, twice, then a linear layer."""
    return nn.Sequential(
        nn.Linear(widths[0], widths[1]), nn.BatchNorm1d(widths[1]), nn.LeakyReLU(slope),
        nn.Linear(widths[1], widths[2]), nn.BatchNorm1d(widths[2]), nn.LeakyReLU(slope),
        nn.Linear(widths[2], widths[3]))


class GanFusionModel(nn.Module):
    """std.fusion.GanFusion over (text, audio, vision) with sigma 0.01; one discriminator per modality."""

    def __init__(self):
        super().__init__()
        self.enc, self.head = Encoders(), nn.Linear(LATENT, 8)
        self.af = nn.ModuleList([AutoFusion(2 * LATENT) for _ in range(3)])
        self.g = nn.ModuleList([bn_net([LATENT, 2 * LATENT, 2 * LATENT, LATENT]) for _ in range(3)])
        self.d = nn.ModuleList([bn_net([LATENT, 256, 256, 1]) for _ in range(3)])
        self.comb1, self.comb2 = nn.Linear(3 * LATENT, 3 * LATENT // 2), nn.Linear(3 * LATENT // 2, LATENT)

    def forward_all(self, batch):
        text, audio, vision, labels = batch
        zs = self.enc(text, audio, vision)
        fakes, d_loss, g_loss, recon = [], 0.0, 0.0, 0.0
        for i in range(3):
            af_z, af_recon = self.af[i](torch.cat([zs[j] for j in range(3) if j != i], 1))
            fake = self.g[i](zs[i] + 0.01 * torch.randn_like(zs[i]))
            real_logit = self.d[i](af_z.detach()).float()
            fake_logit = self.d[i](fake).float()
            ones, zeros = torch.ones_like(real_logit), torch.zeros_like(real_logit)
            d_loss = d_loss + F.binary_cross_entropy_with_logits(real_logit, ones) \
                + F.binary_cross_entropy_with_logits(fake_logit, zeros)
            g_loss = g_loss + F.binary_cross_entropy_with_logits(fake_logit, ones)
            recon = recon + af_recon
            fakes.append(fake)
        z = F.relu(self.comb2(torch.tanh(self.comb1(torch.cat(fakes, 1)))))
        return task_loss(self.head(z), labels), d_loss, g_loss, recon

    def losses(self, batch):
        raise NotImplementedError  # two plan steps: see GanTrainer


class TfnModel(nn.Module):
    """TensorFusion of linear(za, 32), linear(zv, 32), linear(zt, 64) with a 1 prepended to each, dropout 0.2,
    Mlp([160, 160, 8])."""

    def __init__(self):
        super().__init__()
        self.enc = Encoders()
        self.pa, self.pv, self.pt = nn.Linear(LATENT, 32), nn.Linear(LATENT, 32), nn.Linear(LATENT, 64)
        self.post = mlp([33 * 33 * 65, 160, 160, 8])

    def losses(self, batch):
        text, audio, vision, labels = batch
        zt, za, zv = self.enc(text, audio, vision)

        def one(x):
            return torch.cat([torch.ones_like(x[:, :1]), x], 1)
        fused = one(self.pa(za))
        for z in (self.pv(zv), self.pt(zt)):
            fused = torch.einsum("bi,bj->bij", fused, one(z)).flatten(1)
        return [task_loss(self.post(F.dropout(fused, 0.2, self.training)), labels)]


class LmfModel(nn.Module):
    """LowRankFusion([za, zv, zt], out = 8, rank = 4): xavier-normal factors [rank, d + 1, 8], weights [1, rank],
    zero bias."""

    def __init__(self, rank=4, out=8):
        super().__init__()
        self.enc = Encoders()
        self.factors = nn.ParameterList([nn.Parameter(torch.empty(rank, LATENT + 1, out)) for _ in range(3)])
        for f in self.factors:
            nn.init.xavier_normal_(f)
        self.weights = nn.Parameter(torch.empty(1, rank))
        nn.init.xavier_normal_(self.weights)
        self.bias = nn.Parameter(torch.zeros(1, out))

    def losses(self, batch):
        text, audio, vision, labels = batch
        zt, za, zv = self.enc(text, audio, vision)
        prod = None
        for z, factor in zip((za, zv, zt), self.factors):
            f = torch.cat([torch.ones_like(z[:, :1]), z], 1) @ factor  # [rank, B, out]
            prod = f if prod is None else prod * f
        fused = (self.weights @ prod.transpose(0, 1)).squeeze(1) + self.bias
        return [task_loss(fused, labels)]


def positions(t, d, device):
    """fusec's positions(x): sinusoids over positions 1..t, sin for the first half of the channels."""
    half = d // 2
    freq = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angle = torch.arange(1, t + 1, device=device, dtype=torch.float32)[:, None] * freq[None, :]
    table = torch.cat([torch.sin(angle), torch.cos(angle)], 1)
    if d % 2:
        table = torch.cat([table, torch.zeros(t, 1, device=device)], 1)
    return table


class Layer(nn.Module):
    """transformer_layer: pre-LN multi-head attention (packed in-projection, query scaled by head_dim^-0.5) and a
    4d ReLU feed-forward, each with a residual; dropouts on attention weights, ReLU output and residual branches."""

    def __init__(self, d, heads, attn_dropout):
        super().__init__()
        self.heads, self.attn_dropout = heads, attn_dropout
        self.ln0, self.ln1 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.in_proj, self.out_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def attend(self, q_in, kv_in, causal):
        b, tq, d = q_in.shape
        tk, hd = kv_in.shape[1], d // self.heads
        w, bias = self.in_proj.weight, self.in_proj.bias
        q = F.linear(q_in, w[:d], bias[:d]) * hd ** -0.5
        k = F.linear(kv_in, w[d:2 * d], bias[d:2 * d])
        v = F.linear(kv_in, w[2 * d:], bias[2 * d:])
        split = lambda x, t: x.reshape(b, t, self.heads, hd).transpose(1, 2)  # noqa: E731
        scores = split(q, tq) @ split(k, tk).transpose(2, 3)
        if causal:
            mask = torch.ones(tq, tk, dtype=torch.bool, device=q_in.device).triu(1 + abs(tk - tq))
            scores = scores.masked_fill(mask, float("-inf"))
        probs = F.dropout(torch.softmax(scores.float(), -1).type_as(scores), self.attn_dropout, self.training)
        return self.out_proj((probs @ split(v, tk)).transpose(1, 2).reshape(b, tq, d))

    def forward(self, x, kv, causal, relu_dropout=0.1, res_dropout=0.1):
        h = self.ln0(x)
        src = self.ln0(kv) if kv is not None else h
        x = x + F.dropout(self.attend(h, src, causal), res_dropout, self.training)
        y = F.dropout(F.relu(self.fc1(self.ln1(x))), relu_dropout, self.training)
        return x + F.dropout(self.fc2(y), res_dropout, self.training)


class Encoder(nn.Module):
    """TransformerEncoder: scale * x + positions, embedding dropout 0.25, `layers` layers, a final layer norm."""

    def __init__(self, d, layers, attn_dropout, heads=5):
        super().__init__()
        self.scale = math.sqrt(d)
        self.layers = nn.ModuleList([Layer(d, heads, attn_dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(d)

    def embed(self, x):
        x = self.scale * x + positions(x.shape[1], x.shape[2], x.device).to(x.dtype)
        return F.dropout(x, 0.25, self.training)

    def forward(self, x, kv=None):
        h = self.embed(x)
        src = self.embed(kv) if kv is not None else None
        for layer in self.layers:
            h = layer(h, src, causal=True)
        return self.norm(h)


class MultModel(nn.Module):
    """std.mult.MulT([text, audio, vision]) at its defaults (d 30, 5 layers, 5 heads, causal, attention dropout
    0.1 on text keys, 0 on audio and vision keys), then linear(h, 8)."""

    def __init__(self, d=30, layers=5):
        super().__init__()
        dims, drops = (D_TEXT, D_AUDIO, D_VISION), (0.1, 0.0, 0.0)
        self.proj = nn.ModuleList([nn.Conv1d(n, d, 1, bias=False) for n in dims])
        self.cross = nn.ModuleList([
            nn.ModuleList([Encoder(d, layers, drops[s]) for s in range(3) if s != t]) for t in range(3)])
        self.mem = nn.ModuleList([Encoder(2 * d, max(layers, 3), drops[t]) for t in range(3)])
        self.res1, self.res2 = nn.Linear(6 * d, 6 * d), nn.Linear(6 * d, 6 * d)
        self.head = nn.Linear(6 * d, 8)

    def losses(self, batch):
        text, audio, vision, labels = batch
        xs = [F.dropout(text, 0.25, self.training), audio, vision]
        ps = [conv(x.transpose(1, 2)).transpose(1, 2) for conv, x in zip(self.proj, xs)]
        lasts = []
        for t in range(3):
            sources = [s for s in range(3) if s != t]
            parts = [enc(ps[t], ps[s]) for enc, s in zip(self.cross[t], sources)]
            lasts.append(self.mem[t](torch.cat(parts, 2))[:, -1])
        h = torch.cat(lasts, 1)
        h = h + self.res2(F.relu(self.res1(h)))
        return [task_loss(self.head(h), labels)]


MODELS = {"concat": Concat, "autofusion": AutoFusionModel, "ganfusion": GanFusionModel, "tfn": TfnModel,
          "lmf": LmfModel, "mult": MultModel}
# clip_norm of each example's plan (examples/iemocap/*.fuse).
CLIP = {"concat": 50.0, "autofusion": 50.0, "ganfusion": 50.0, "tfn": 50.0, "lmf": 50.0, "mult": 0.8}


class Trainer:
    """One fusec plan step: forward under the precision, backward, clip, Adam."""

    def __init__(self, name, model, bf16):
        self.model, self.clip, self.bf16 = model, CLIP[name], bf16
        self.params = list(model.parameters())
        self.opt = torch.optim.Adam(self.params, lr=1e-3)

    def autocast(self, device):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def step(self, batch):
        with self.autocast(batch[0].device):
            loss = sum(self.model.losses(batch))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        return loss


class GanTrainer(Trainer):
    """fusec's two GAN-Fusion plan steps, each with its own forward pass."""

    def __init__(self, name, model, bf16):
        super().__init__(name, model, bf16)
        d_ids = {id(p) for p in model.d.parameters()}
        self.d_params = list(model.d.parameters())
        self.main_params = [p for p in model.parameters() if id(p) not in d_ids]
        self.opt_d = torch.optim.Adam(self.d_params, lr=1e-3)
        self.opt = torch.optim.Adam(self.main_params, lr=1e-3)

    def step(self, batch):
        for params, opt, pick in ((self.d_params, self.opt_d, "d"), (self.main_params, self.opt, "main")):
            with self.autocast(batch[0].device):
                task, d_loss, g_loss, recon = self.model.forward_all(batch)
                loss = d_loss if pick == "d" else task + g_loss + recon
            self.model.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, self.clip)
            opt.step()
        return loss


def make_pool(batch, device, seed=1):
    g = torch.Generator().manual_seed(seed)
    pool = []
    for _ in range(4):
        pool.append((torch.randn(batch, T, D_TEXT, generator=g), torch.randn(batch, T, D_AUDIO, generator=g),
                     torch.randn(batch, T, D_VISION, generator=g), torch.randint(0, 2, (batch, 4), generator=g)))
    return [tuple(t.to(device) for t in b) for b in pool]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps_per_second(name, batch, bf16, device, warmup, steps, reps):
    torch.manual_seed(0)
    model = MODELS[name]().to(device).train()
    trainer = (GanTrainer if name == "ganfusion" else Trainer)(name, model, bf16)
    pool = make_pool(batch, device)
    for i in range(warmup):
        trainer.step(pool[i % len(pool)])
    rates = []
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        for i in range(steps):
            loss = trainer.step(pool[i % len(pool)])
        sync(device)
        rates.append(steps / (time.perf_counter() - start))
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"{name}: non-finite loss")
    return statistics.median(rates), rates


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="32,100")
    ap.add_argument("--precisions", default="f32,bf16")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--params", action="store_true", help="only print each model's parameter count")
    args = ap.parse_args()
    if args.params:
        for name in args.models.split(","):
            print(f"{name} {sum(p.numel() for p in MODELS[name]().parameters())}")
        return 0
    device = torch.device(args.device)
    result = {"torch": torch.__version__, "device": str(device), "protocol": vars(args), "steps_per_s": {}}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            for precision in args.precisions.split(","):
                med, rates = steps_per_second(name, batch, precision == "bf16", device, args.warmup,
                                              args.steps, args.reps)
                result["steps_per_s"][f"{name}/{batch}/{precision}"] = med
                print(f"torch {name:<10} B={batch:<4} {precision:<4} {med:8.2f} steps/s  "
                      f"reps {[round(r, 2) for r in rates]}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
