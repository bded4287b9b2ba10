"""PyTorch eager references of the fusec example models that the side-by-side benchmark times.

Each class is the model of one `.fuse` file, written the way a researcher would write it in PyTorch (nn.LSTM,
nn.Linear, nn.BatchNorm1d, explicit attention), with the same layers, widths, losses, dropout, optimizers and
parameter count as fusec compiles it (run.py asserts the counts against fusec's). Parameter initialisation is
PyTorch's default where fusec's equals it and does not matter for speed anyway.

Every model has
    train_step(batch) -> float   one training step: forward, backward, (clipping,) optimizer step(s)
    predict(batch) -> Tensor      the prediction path only (eval mode, under torch.no_grad() by the caller)
where `batch` is a dict of tensors named like the `.fuse` file's inputs.

IEMOCAP (examples/iemocap/*.fuse; encoders of reference/architectures.md §4.2, L = 256):
    text   BiLSTM(300 -> 256), final states of both directions concatenated [B, 512] -> Linear(512, 256)
    audio  time mean -> Linear(74, 500) -> ReLU -> Linear(500, 256); vision likewise from 35
    concat      cat(z_t, z_a, z_v) -> Linear(768, 8)
    autofusion  AutoFusion 768 -> 384 tanh -> 256 relu (decoder 256 -> 384 relu -> 768, MSE, weight 1) -> Linear(256, 8)
    ganfusion   std.fusion.GanFusion: per target m an AutoFusion of the other two (512 -> 256 -> 256), a generator
                G_m (256 -> 512 BN LReLU -> 512 BN LReLU -> 256) of z_m + 0.01 N(0, 1), a discriminator D_m
                (256 -> 256 BN LReLU -> 256 BN LReLU -> 1); fused = relu(comb2(tanh(comb1(cat G outputs))))
                -> Linear(256, 8). Two optimizers and steps per batch (below).
    tfn         Linear(256, 32 / 32 / 64) on z_a / z_v / z_t, [1; z] outer product (70,785) -> dropout 0.2 ->
                Linear(70785, 160) -> ReLU -> Linear(160, 160) -> ReLU -> Linear(160, 8)
    lmf         LowRankFusion([z_a, z_v, z_t], out = 8, rank = 4): the logits, no head
    mult        std.mult.MulT at the MulT code defaults (d 30, 5 layers, 5 heads) -> Linear(180, 8)
    Loss: cross entropy of the logits viewed as [B * 4, 2] against the per-emotion labels (mean).
mfeat (examples/mfeat/*.fuse; views fou 76, zer 47, mor 6; encoders Mlp [128, 64] / [128, 64] / [32, 64]):
    concat (+ hidden 128), concat_mlp, autofusion (dim 64), ganfusion (L = hidden = 64), tfn (latents 16 / 16 / 8,
    hidden 64, dropout 0.2 twice), lmf (rank 4, out 10), mult (d 16, 2 layers, 2 heads, embed dropout 0.1).
translation (examples/mmt/emoji_de_text.fuse): embeddings 2000 x 128 -> dropout 0.2 -> BiLSTM(128 -> 256) over
    the true lengths, directions summed (memory and final state); decoder: embeddings 2000 x 128 -> dropout 0.2
    -> LSTM(128 -> 256) from (h0 = 0, c0 = encoder state), Luong dot attention (masked), tanh(W_cat [h; ctx])
    (512 -> 256), logits W_out [h_att; e] (384 -> 2000); next-token cross entropy without PAD. 2,599,120 parameters.

Training: Adam(lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay) with PyTorch's default per-parameter loop
(foreach=False); zero_grad(set_to_none=True). Clipping: `clip` (the `.fuse` file's clip_norm, applied per step over
that step's parameters as fusec does) or None. GAN-Fusion per batch: one forward; the discriminator step (Adam
over D only) on sum_m BCE(D_m(real.detach()), 1) + BCE(D_m(fake.detach()), 0); then the main step (Adam over
everything else) on task + sum_m BCE(D_m(fake), 1) + sum_m J_tr with the freshly updated D run again, its
parameters frozen (requires_grad False) so that backward computes no D weight gradients.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

# ------------------------------------------------------------------------------------------------------------
# Training plumbing
# ------------------------------------------------------------------------------------------------------------


def adam(params):
    return torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=False)


class Trainable(nn.Module):
    """A model with one Adam over all its parameters; subclasses define loss(batch) and predict(batch)."""

    def setup(self, clip):
        self.clip = clip
        self.params = [p for p in self.parameters() if p.requires_grad]
        self.opt = adam(self.params)
        return self

    def train_step(self, batch):
        loss = self.loss(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        return loss.detach()


def n_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def emotion_loss(logits, labels):
    """Cross entropy of [B, 8] logits viewed as [B * 4, 2] against i64 labels [B, 4]."""
    return F.cross_entropy(logits.reshape(-1, 2), labels.reshape(-1))


# ------------------------------------------------------------------------------------------------------------
# Blocks (std.encoders, std.fusion, std.mult)
# ------------------------------------------------------------------------------------------------------------


def mlp(d_in, sizes, dropout=0.0):
    """std.encoders.Mlp: Linear per size, ReLU (and dropout) after every layer but the last."""
    layers = []
    for i, size in enumerate(sizes):
        layers.append(nn.Linear(d_in, size))
        if i < len(sizes) - 1:
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        d_in = size
    return nn.Sequential(*layers)


class BiLstmEncoder(nn.Module):
    """std.encoders.BiLstmEncoder(merge = "concat", out): final states of both directions -> Linear."""

    def __init__(self, d_in, hidden, out):
        super().__init__()
        self.rnn = nn.LSTM(d_in, hidden, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, out)

    def forward(self, x):
        _, (h, _) = self.rnn(x)
        return self.proj(torch.cat([h[0], h[1]], dim=-1))


class AutoFusion(nn.Module):
    """std.fusion.AutoFusion: k -> k/2 tanh -> dim relu (z); decoder dim -> k/2 relu -> k; recon = MSE(., joint)."""

    def __init__(self, k, dim):
        super().__init__()
        self.enc1, self.enc2 = nn.Linear(k, k // 2), nn.Linear(k // 2, dim)
        self.dec1, self.dec2 = nn.Linear(dim, k // 2), nn.Linear(k // 2, k)

    def encode(self, joint):
        return F.relu(self.enc2(torch.tanh(self.enc1(joint))))

    def forward(self, zs):
        joint = torch.cat(zs, dim=-1)
        z = self.encode(joint)
        return z, F.mse_loss(self.dec2(F.relu(self.dec1(z))), joint)


class ConcatMlp(nn.Module):
    """std.fusion.ConcatMlp: AutoFusion's encoder without decoder."""

    def __init__(self, k, dim):
        super().__init__()
        self.enc1, self.enc2 = nn.Linear(k, k // 2), nn.Linear(k // 2, dim)

    def forward(self, zs):
        return F.relu(self.enc2(torch.tanh(self.enc1(torch.cat(zs, dim=-1)))))


def tensor_fusion(zs):
    """std.fusion.TensorFusion: outer product of [1; z_m], row-major in input order (TFN's bmm form)."""
    b = zs[0].shape[0]
    one = zs[0].new_ones(b, 1)
    out = torch.cat([one, zs[0]], dim=1)
    for z in zs[1:]:
        z1 = torch.cat([one, z], dim=1)
        out = torch.bmm(out.unsqueeze(2), z1.unsqueeze(1)).reshape(b, -1)
    return out


class LowRankFusion(nn.Module):
    """std.fusion.LowRankFusion (Justin1904/Low-rank-Multimodal-Fusion's efficient form)."""

    def __init__(self, dims, out, rank):
        super().__init__()
        self.factors = nn.ParameterList([nn.Parameter(torch.empty(rank, d + 1, out)) for d in dims])
        self.weights = nn.Parameter(torch.empty(1, rank))
        self.bias = nn.Parameter(torch.zeros(1, out))
        for f in self.factors:
            nn.init.xavier_normal_(f)
        nn.init.xavier_normal_(self.weights)
        self.out = out

    def forward(self, zs):
        b = zs[0].shape[0]
        one = zs[0].new_ones(b, 1)
        prod = None
        for z, factor in zip(zs, self.factors):
            f = torch.matmul(torch.cat([one, z], dim=1), factor)  # [rank, B, out]
            prod = f if prod is None else prod * f
        fused = torch.matmul(self.weights, prod.permute(1, 0, 2)).squeeze(1)  # [B, out]
        return fused + self.bias


def generator(width):
    """std.fusion.Generator: L -> 2L BN LReLU(0.2) -> 2L BN LReLU -> L."""
    return nn.Sequential(nn.Linear(width, 2 * width), nn.BatchNorm1d(2 * width), nn.LeakyReLU(0.2),
                         nn.Linear(2 * width, 2 * width), nn.BatchNorm1d(2 * width), nn.LeakyReLU(0.2),
                         nn.Linear(2 * width, width))


def discriminator(width, hidden):
    """std.fusion.Discriminator: L -> H BN LReLU(0.2) -> H BN LReLU -> 1 (a logit)."""
    return nn.Sequential(nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, 1))


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class GanFusion(nn.Module):
    """std.fusion.GanFusion over n latents of width L."""

    def __init__(self, n, width, hidden, sigma=0.01):
        super().__init__()
        self.n, self.sigma = n, sigma
        self.af = nn.ModuleList([AutoFusion((n - 1) * width, width) for _ in range(n)])
        self.g = nn.ModuleList([generator(width) for _ in range(n)])
        self.d = nn.ModuleList([discriminator(width, hidden) for _ in range(n)])
        self.comb1, self.comb2 = nn.Linear(n * width, n * width // 2), nn.Linear(n * width // 2, width)

    def combine(self, fakes):
        return F.relu(self.comb2(torch.tanh(self.comb1(torch.cat(fakes, dim=-1)))))

    def forward_train(self, zs):
        """-> fused z, reals (AF codes), fakes (G outputs), summed reconstruction loss."""
        reals, fakes, recon = [], [], 0.0
        for m in range(self.n):
            real, j_tr = self.af[m]([zs[c] for c in range(self.n) if c != m])
            fakes.append(self.g[m](zs[m] + self.sigma * torch.randn_like(zs[m])))
            reals.append(real)
            recon = recon + j_tr
        return self.combine(fakes), reals, fakes, recon

    def predict(self, zs):
        return self.combine([self.g[m](zs[m]) for m in range(self.n)])


class GanTrainable(nn.Module):
    """A model with a `fusion: GanFusion`; subclasses define encode(batch) -> latents and task(z, batch)."""

    def setup(self, clip):
        self.clip = clip
        d_ids = {id(p) for p in self.fusion.d.parameters()}
        self.d_params = list(self.fusion.d.parameters())
        self.main_params = [p for p in self.parameters() if id(p) not in d_ids]
        self.opt_d, self.opt_main = adam(self.d_params), adam(self.main_params)
        return self

    def train_step(self, batch):
        z, reals, fakes, recon = self.fusion.forward_train(self.encode(batch))
        d = self.fusion.d
        # (1) discriminator step: D only, inputs detached.
        d_loss = 0.0
        for m in range(len(fakes)):
            d_loss = d_loss + bce(d[m](reals[m].detach()), 1.0) + bce(d[m](fakes[m].detach()), 0.0)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.d_params, self.clip)
        self.opt_d.step()
        # (2) main step: everything else, with the updated D run again and frozen.
        for p in self.d_params:
            p.requires_grad_(False)
        g_loss = sum(bce(d[m](fakes[m]), 1.0) for m in range(len(fakes)))
        loss = self.task(z, batch) + g_loss + recon
        self.opt_main.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.main_params, self.clip)
        self.opt_main.step()
        for p in self.d_params:
            p.requires_grad_(True)
        return loss.detach()

    def predict(self, batch):
        return self.head(self.fusion.predict(self.encode(batch)))


def position_table(t, d):
    """The fairseq / MulT sinusoidal table for positions 1..t ([sin ; cos], a zero column for odd d)."""
    half = d // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float64) * -(math.log(10000.0) / (half - 1)))
    angles = torch.arange(1, t + 1, dtype=torch.float64).unsqueeze(1) * freqs.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if d % 2 == 1:
        table = torch.cat([table, torch.zeros(t, 1, dtype=torch.float64)], dim=1)
    return table.float()


def future_mask(tq, tk):
    """MulT's causal mask: -inf where key j > i + |tk - tq|."""
    return torch.triu(torch.full((tq, tk), float("-inf")), 1 + abs(tk - tq))


class Attention(nn.Module):
    """fairseq / MulT multi-head attention with a packed in_proj (q scaled by head_dim^-0.5)."""

    def __init__(self, d, heads, dropout):
        super().__init__()
        self.d, self.heads, self.dropout = d, heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, kv, mask):
        b, tq, d = x.shape
        w, bias = self.in_proj_weight, self.in_proj_bias
        if kv is None:
            q, k, v = F.linear(x, w, bias).chunk(3, dim=-1)
        else:
            q = F.linear(x, w[:d], bias[:d])
            k, v = F.linear(kv, w[d:], bias[d:]).chunk(2, dim=-1)
        hd = d // self.heads
        q = (q * hd ** -0.5).reshape(b, tq, self.heads, hd).transpose(1, 2)
        k = k.reshape(b, -1, self.heads, hd).transpose(1, 2)
        v = v.reshape(b, -1, self.heads, hd).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2))
        if mask is not None:
            scores = scores + mask
        probs = F.dropout(F.softmax(scores, dim=-1), self.dropout, self.training)
        return self.out_proj(torch.matmul(probs, v).transpose(1, 2).reshape(b, tq, d))


class TransformerLayer(nn.Module):
    """MulT's pre-LayerNorm layer; LN0 normalises the queries and the keys/values."""

    def __init__(self, d, heads, attn_dropout, relu_dropout, res_dropout):
        super().__init__()
        self.ln0, self.ln1 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, heads, attn_dropout)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        self.relu_dropout, self.res_dropout = relu_dropout, res_dropout

    def forward(self, x, kv, mask):
        a = self.attn(self.ln0(x), None if kv is None else self.ln0(kv), mask)
        x = x + F.dropout(a, self.res_dropout, self.training)
        y = F.dropout(F.relu(self.fc1(self.ln1(x))), self.relu_dropout, self.training)
        return x + F.dropout(self.fc2(y), self.res_dropout, self.training)


class TransformerEncoder(nn.Module):
    """std.encoders.TransformerEncoder: scale * x + positions, embedding dropout (one mask for the source),
    `layers` layers, a final LayerNorm."""

    def __init__(self, d, layers, heads, attn_dropout, relu_dropout=0.1, res_dropout=0.1, embed_dropout=0.25,
                 causal=True):
        super().__init__()
        self.scale, self.embed_dropout, self.causal = math.sqrt(d), embed_dropout, causal
        self.layers = nn.ModuleList([TransformerLayer(d, heads, attn_dropout, relu_dropout, res_dropout)
                                     for _ in range(layers)])
        self.norm = nn.LayerNorm(d)
        self.register_buffer("pe", position_table(128, d), persistent=False)

    def embed(self, x):
        return F.dropout(self.scale * x + self.pe[: x.shape[1]], self.embed_dropout, self.training)

    def forward(self, x, kv=None):
        h = self.embed(x)
        src = None if kv is None else self.embed(kv)
        mask = None
        if self.causal:
            mask = future_mask(h.shape[1], h.shape[1] if src is None else src.shape[1])
        for layer in self.layers:
            h = layer(h, src, mask)
        return self.norm(h)


class MulT(nn.Module):
    """std.mult.MulT over n sequences (the first is the text): kernel-1 bias-free Conv1d projections to d,
    crossmodal encoders for every ordered pair, a self-attention memory per target, last steps concatenated,
    residual block."""

    def __init__(self, dims, d=30, layers=5, heads=5, attn_dropouts=(0.1, 0.0, 0.0), relu_dropout=0.1,
                 res_dropout=0.1, embed_dropout=0.25, out_dropout=0.0, causal=True):
        super().__init__()
        n = len(dims)
        self.n, self.embed_dropout, self.out_dropout = n, embed_dropout, out_dropout
        self.proj = nn.ModuleList([nn.Conv1d(dim, d, kernel_size=1, bias=False) for dim in dims])
        common = dict(relu_dropout=relu_dropout, res_dropout=res_dropout, embed_dropout=embed_dropout,
                      causal=causal)
        self.cross = nn.ModuleList([
            nn.ModuleList([TransformerEncoder(d, layers, heads, attn_dropouts[s], **common)
                           for s in range(n) if s != t])
            for t in range(n)])
        self.mem = nn.ModuleList([TransformerEncoder((n - 1) * d, max(layers, 3), heads, attn_dropouts[t], **common)
                                  for t in range(n)])
        width = n * (n - 1) * d
        self.res1, self.res2 = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, xs):
        ps = []
        for m, x in enumerate(xs):
            if m == 0:
                x = F.dropout(x, self.embed_dropout, self.training)
            ps.append(self.proj[m](x.transpose(1, 2)).transpose(1, 2))  # [B, T, d]
        lasts = []
        for t in range(self.n):
            sources = [s for s in range(self.n) if s != t]
            parts = [enc(ps[t], ps[s]) for enc, s in zip(self.cross[t], sources)]
            lasts.append(self.mem[t](torch.cat(parts, dim=-1))[:, -1])
        h = torch.cat(lasts, dim=-1)
        r = F.dropout(F.relu(self.res1(h)), self.out_dropout, self.training)
        return h + self.res2(r)


# ------------------------------------------------------------------------------------------------------------
# IEMOCAP models (examples/iemocap/*.fuse)
# ------------------------------------------------------------------------------------------------------------
L = 256


class IemocapEncoders(nn.Module):
    def __init__(self):
        super().__init__()
        self.text = BiLstmEncoder(300, 256, L)
        self.audio = mlp(74, [500, L])
        self.vision = mlp(35, [500, L])

    def forward(self, b):
        return [self.text(b["text"]), self.audio(b["audio"].mean(dim=1)), self.vision(b["vision"].mean(dim=1))]


class IemocapConcat(Trainable):
    def __init__(self):
        super().__init__()
        self.enc, self.head = IemocapEncoders(), nn.Linear(3 * L, 8)

    def predict(self, b):
        return self.head(torch.cat(self.enc(b), dim=-1))

    def loss(self, b):
        return emotion_loss(self.predict(b), b["labels"])


class IemocapAutoFusion(Trainable):
    def __init__(self):
        super().__init__()
        self.enc, self.fusion, self.head = IemocapEncoders(), AutoFusion(3 * L, L), nn.Linear(L, 8)

    def predict(self, b):
        return self.head(self.fusion.encode(torch.cat(self.enc(b), dim=-1)))

    def loss(self, b):
        z, recon = self.fusion(self.enc(b))
        return emotion_loss(self.head(z), b["labels"]) + recon


class IemocapGanFusion(GanTrainable):
    def __init__(self):
        super().__init__()
        self.enc, self.fusion, self.head = IemocapEncoders(), GanFusion(3, L, 256), nn.Linear(L, 8)

    def encode(self, b):
        return self.enc(b)

    def task(self, z, b):
        return emotion_loss(self.head(z), b["labels"])


class IemocapTfn(Trainable):
    def __init__(self):
        super().__init__()
        self.enc = IemocapEncoders()
        self.pa, self.pv, self.pt = nn.Linear(L, 32), nn.Linear(L, 32), nn.Linear(L, 64)
        self.drop = nn.Dropout(0.2)
        self.post = mlp(33 * 33 * 65, [160, 160, 8])

    def predict(self, b):
        zt, za, zv = self.enc(b)
        return self.post(self.drop(tensor_fusion([self.pa(za), self.pv(zv), self.pt(zt)])))

    def loss(self, b):
        return emotion_loss(self.predict(b), b["labels"])


class IemocapLmf(Trainable):
    def __init__(self):
        super().__init__()
        self.enc, self.fusion = IemocapEncoders(), LowRankFusion([L, L, L], out=8, rank=4)

    def predict(self, b):
        zt, za, zv = self.enc(b)
        return self.fusion([za, zv, zt])

    def loss(self, b):
        return emotion_loss(self.predict(b), b["labels"])


class IemocapMulT(Trainable):
    def __init__(self):
        super().__init__()
        self.mult, self.head = MulT([300, 74, 35]), nn.Linear(180, 8)

    def predict(self, b):
        return self.head(self.mult([b["text"], b["audio"], b["vision"]]))

    def loss(self, b):
        return emotion_loss(self.predict(b), b["labels"])


# ------------------------------------------------------------------------------------------------------------
# mfeat models (examples/mfeat/*.fuse)
# ------------------------------------------------------------------------------------------------------------
MFEAT_VIEWS = {"fou": 76, "zer": 47, "mor": 6}


class MfeatEncoders(nn.Module):
    def __init__(self, latents=(64, 64, 64)):
        super().__init__()
        self.fou = mlp(76, [128, latents[0]])
        self.zer = mlp(47, [128, latents[1]])
        self.mor = mlp(6, [32, latents[2]])

    def forward(self, b):
        return [self.fou(b["fou"]), self.zer(b["zer"]), self.mor(b["mor"])]


class MfeatTrainable(Trainable):
    def loss(self, b):
        return F.cross_entropy(self.predict(b), b["label"])


class MfeatConcat(MfeatTrainable):
    def __init__(self):
        super().__init__()
        self.enc, self.head = MfeatEncoders(), mlp(192, [128, 10])

    def predict(self, b):
        return self.head(torch.cat(self.enc(b), dim=-1))


class MfeatConcatMlp(MfeatTrainable):
    def __init__(self):
        super().__init__()
        self.enc, self.fusion, self.head = MfeatEncoders(), ConcatMlp(192, 64), nn.Linear(64, 10)

    def predict(self, b):
        return self.head(self.fusion(self.enc(b)))


class MfeatAutoFusion(MfeatTrainable):
    def __init__(self):
        super().__init__()
        self.enc, self.fusion, self.head = MfeatEncoders(), AutoFusion(192, 64), nn.Linear(64, 10)

    def predict(self, b):
        return self.head(self.fusion.encode(torch.cat(self.enc(b), dim=-1)))

    def loss(self, b):
        z, recon = self.fusion(self.enc(b))
        return F.cross_entropy(self.head(z), b["label"]) + recon


class MfeatGanFusion(GanTrainable):
    def __init__(self):
        super().__init__()
        self.enc, self.fusion, self.head = MfeatEncoders(), GanFusion(3, 64, 64), nn.Linear(64, 10)

    def encode(self, b):
        return self.enc(b)

    def task(self, z, b):
        return F.cross_entropy(self.head(z), b["label"])


class MfeatTfn(MfeatTrainable):
    def __init__(self):
        super().__init__()
        self.enc = MfeatEncoders(latents=(16, 16, 8))
        self.drop = nn.Dropout(0.2)
        self.head = mlp(17 * 17 * 9, [64, 10], dropout=0.2)

    def predict(self, b):
        return self.head(self.drop(tensor_fusion(self.enc(b))))


class MfeatLmf(MfeatTrainable):
    def __init__(self):
        super().__init__()
        self.enc, self.fusion = MfeatEncoders(), LowRankFusion([64, 64, 64], out=10, rank=4)

    def predict(self, b):
        return self.fusion(self.enc(b))


class MfeatMulT(MfeatTrainable):
    def __init__(self):
        super().__init__()
        self.mult = MulT([76, 47, 6], d=16, layers=2, heads=2, embed_dropout=0.1)
        self.head = nn.Linear(96, 10)

    def predict(self, b):
        return self.head(self.mult([b[v].unsqueeze(1) for v in MFEAT_VIEWS]))


# ------------------------------------------------------------------------------------------------------------
# Translation (examples/mmt/emoji_de_text.fuse)
# ------------------------------------------------------------------------------------------------------------
MASKED = -1e10  # fusec's score at padded source positions (the paper's code uses -1e10, not -inf)


class Seq2Seq(nn.Module):
    """TextEncoder (mmt.fuse) + attention_decoder, with greedy/beam stepping in torch_bench."""

    def __init__(self, src_vocab=2000, tgt_vocab=2000, emb=128, hidden=256, dropout=0.2):
        super().__init__()
        self.src_embed = nn.Embedding(src_vocab, emb)
        self.enc = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
        self.tgt_embed = nn.Embedding(tgt_vocab, emb)
        self.dec = nn.LSTM(emb, hidden, batch_first=True)
        self.cat = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden + emb, tgt_vocab)
        self.dropout, self.hidden = dropout, hidden

    def setup(self, clip):
        self.clip = clip
        self.params = list(self.parameters())
        self.opt = adam(self.params)
        return self

    def encode(self, src, src_len):
        """-> memory [B, S, H] (directions summed, 0 at padding), mask bias [B, S], initial state (h0, c0)."""
        e = F.dropout(self.src_embed(src), self.dropout, self.training)
        packed = pack_padded_sequence(e, src_len, batch_first=True, enforce_sorted=False)
        out, (h, _) = self.enc(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        memory = out[..., : self.hidden] + out[..., self.hidden:]
        steps = torch.arange(src.shape[1]).unsqueeze(0)
        mask = torch.where(steps < src_len.unsqueeze(1), 0.0, MASKED)
        z = h[0] + h[1]
        return memory, mask, (torch.zeros_like(z).unsqueeze(0), z.unsqueeze(0))

    def readout(self, h, e, memory, mask):
        scores = torch.bmm(h, memory.transpose(1, 2)) + mask.unsqueeze(1)
        ctx = torch.bmm(F.softmax(scores, dim=-1), memory)
        h_att = torch.tanh(self.cat(torch.cat([h, ctx], dim=-1)))
        return self.out(torch.cat([h_att, e], dim=-1))

    def loss(self, b):
        memory, mask, state = self.encode(b["src"], b["src_len"])
        tgt = b["tgt"]
        e = F.dropout(self.tgt_embed(tgt), self.dropout, self.training)
        h, _ = self.dec(e, state)
        logits = self.readout(h, e, memory, mask)
        v = logits.shape[-1]
        return F.cross_entropy(logits[:, :-1].reshape(-1, v), tgt[:, 1:].reshape(-1), ignore_index=0)

    def train_step(self, b):
        loss = self.loss(b)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        return loss.detach()

    def step(self, prev, state, memory, mask):
        """One decoding step for N rows: previous tokens [N] -> log-probabilities [N, V], new state."""
        e = self.tgt_embed(prev).unsqueeze(1)
        h, state = self.dec(e, state)
        return F.log_softmax(self.readout(h, e, memory, mask).squeeze(1), dim=-1), state


# ------------------------------------------------------------------------------------------------------------
# Registry: (family, name) -> class, the `.fuse` file it mirrors and the parameter count of std's docs.
# ------------------------------------------------------------------------------------------------------------
IEMOCAP = {
    "concat": (IemocapConcat, "examples/iemocap/concat.fuse"),
    "autofusion": (IemocapAutoFusion, "examples/iemocap/autofusion.fuse"),
    "ganfusion": (IemocapGanFusion, "examples/iemocap/ganfusion.fuse"),
    "tfn": (IemocapTfn, "examples/iemocap/tfn.fuse"),
    "lmf": (IemocapLmf, "examples/iemocap/lmf.fuse"),
    "mult": (IemocapMulT, "examples/iemocap/mult.fuse"),
}
MFEAT = {
    "concat": (MfeatConcat, "examples/mfeat/concat.fuse"),
    "concat_mlp": (MfeatConcatMlp, "examples/mfeat/concat_mlp.fuse"),
    "tfn": (MfeatTfn, "examples/mfeat/tfn.fuse"),
    "lmf": (MfeatLmf, "examples/mfeat/lmf.fuse"),
    "mult": (MfeatMulT, "examples/mfeat/mult.fuse"),
    "autofusion": (MfeatAutoFusion, "examples/mfeat/autofusion.fuse"),
    "ganfusion": (MfeatGanFusion, "examples/mfeat/ganfusion.fuse"),
}
TRANSLATION = {"emoji_de_text": (Seq2Seq, "examples/mmt/emoji_de_text.fuse")}
FAMILIES = {"iemocap": IEMOCAP, "mfeat": MFEAT, "mmt": TRANSLATION}


def build(family, name, clip=None, seed=0):
    """A fresh model with its optimizers (torch.manual_seed(seed) first)."""
    torch.manual_seed(seed)
    return FAMILIES[family][name][0]().setup(clip)
