#!/usr/bin/env python3
"""PyTorch CPU peer of `dexstudio bench student`: the same student networks
(pre-norm transformer blocks, separate q/k/v/o projections), the same batch,
loss terms, frozen twin critics and optimizer (AdamW), timed the same way.
Prints one JSON object.

Skips with a JSON message when torch is not installed."""
import argparse
import collections
import json
import math
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=10)
    p.add_argument("--action", type=int, default=22)
    p.add_argument("--proprio", type=int, default=44)
    p.add_argument("--history", type=int, default=3)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--decoder-layers", type=int, default=1)
    p.add_argument("--chunk", type=int, default=8)
    p.add_argument("--codes", type=int, default=32)
    p.add_argument("--code-width", type=int, default=32)
    p.add_argument("--features", type=int, default=128)
    p.add_argument("--channels", default="16,32,64,64")
    p.add_argument("--image", type=int, default=64)
    p.add_argument("--eta", type=float, default=0.1)
    p.add_argument("--span", type=int, default=8, help="chunk rows the critic grades")
    p.add_argument("--critic-state", type=int, default=69)
    p.add_argument("--critic-hidden", default="128,128")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--threads", default="1,2")
    a = p.parse_args()
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError:
        print(json.dumps({"skipped": "torch is not installed (pip install torch)"}))
        return 0

    d, h = a.width, a.heads

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

        def forward(self, x, mem):
            b, t, _ = x.shape
            s, dh = mem.shape[1], d // h
            q = self.q(x).view(b, t, h, dh).transpose(1, 2)
            k = self.k(mem).view(b, s, h, dh).transpose(1, 2)
            v = self.v(mem).view(b, s, h, dh).transpose(1, 2)
            w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1)
            return self.o((w @ v).transpose(1, 2).reshape(b, t, d))

    def ff():
        return nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))

    class EncoderLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.att, self.ln2, self.ff = nn.LayerNorm(d), Attention(), nn.LayerNorm(d), ff()

        def forward(self, x):
            n = self.ln1(x)
            x = x + self.att(n, n)
            return x + self.ff(self.ln2(x))

    class DecoderLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.self_att = nn.LayerNorm(d), Attention()
            self.ln2, self.cross = nn.LayerNorm(d), Attention()
            self.ln3, self.ff = nn.LayerNorm(d), ff()

        def forward(self, x, mem):
            n = self.ln1(x)
            x = x + self.self_att(n, n)
            x = x + self.cross(self.ln2(x), mem)
            return x + self.ff(self.ln3(x))

    class Encoder(nn.Module):
        """Stride-2 4x4 convolutions + ReLU, dense, layer norm."""

        def __init__(self):
            super().__init__()
            chans = [3] + [int(c) for c in a.channels.split(",")]
            self.convs = nn.ModuleList(nn.Conv2d(i, o, 4, 2, 1) for i, o in zip(chans, chans[1:]))
            side = a.image >> (len(chans) - 1)
            self.fc = nn.Linear(chans[-1] * side * side, a.features)
            self.ln = nn.LayerNorm(a.features)

        def forward(self, x):
            for c in self.convs:
                x = torch.relu(c(x))
            return self.ln(self.fc(x.flatten(1)))

    class Student(nn.Module):
        """The networks stage (b) trains, plus the frozen image encoder and
        codebook; the tokenizer takes no part in stage (b)."""

        def __init__(self):
            super().__init__()
            self.encoder = Encoder().requires_grad_(False)
            self.state = nn.Sequential(nn.Linear(a.history * a.proprio, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
            self.task = nn.Parameter(torch.rand(a.tasks, d) * 2 - 1)
            self.register_buffer("codebook", torch.rand(a.codes, a.code_width) * 2 - 1)
            self.code_in = nn.Linear(a.code_width, d)
            self.mem_pos = nn.Parameter(torch.rand(5, d) * 0.2 - 0.1)
            self.queries = nn.Parameter(torch.rand(a.chunk, d) * 0.2 - 0.1)
            self.dec = nn.ModuleList(DecoderLayer() for _ in range(a.decoder_layers))
            self.dec_out = nn.Linear(d, a.action)
            self.img_in = nn.Linear(a.features, d)
            self.goal_in = nn.Linear(a.features, d)
            self.lat_pos = nn.Parameter(torch.rand(5, d) * 0.2 - 0.1)
            self.lat = nn.ModuleList(EncoderLayer() for _ in range(a.layers))
            self.lat_out = nn.Linear(d, a.codes)

        def context(self, hist, task):
            return self.state(hist), self.task[task]

        def latent(self, img, goal, ctx):
            state, task = ctx
            cls = torch.zeros_like(state)
            x = torch.stack([cls, self.img_in(img), self.goal_in(goal), task, state], 1) + self.lat_pos
            for l in self.lat:
                x = l(x)
            return self.lat_out(x[:, 0])

        def decode(self, z, ctx):
            state, task = ctx
            mem = torch.stack([self.code_in(z), state, task], 1) + self.mem_pos[:3]
            x = self.queries.unsqueeze(0).expand(z.shape[0], -1, -1)
            for l in self.dec:
                x = l(x, mem)
            return torch.tanh(self.dec_out(x))

    hidden = [int(x) for x in a.critic_hidden.split(",")]

    def critic():
        w = [a.critic_state + a.action] + hidden + [1]
        layers = []
        for i, (x, y) in enumerate(zip(w, w[1:])):
            layers.append(nn.Linear(x, y))
            if i < len(w) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers).requires_grad_(False)

    def time_ms(f):
        for _ in range(20):
            f()
        t = time.perf_counter()
        for _ in range(a.iters):
            f()
        return (time.perf_counter() - t) * 1e3 / a.iters

    # 1. one control step at batch 1 on one thread, as StudentRollout::act
    torch.set_num_threads(1)
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(5)
    net = Student()
    px = a.image * a.image * 3
    images = [bytes(torch.randint(0, 256, (px,), generator=g, dtype=torch.uint8).tolist()) for _ in range(4)]

    def image_tensor(img):
        x = torch.frombuffer(bytearray(img), dtype=torch.uint8).view(a.image, a.image, 3)
        return (x.permute(2, 0, 1).float() / 255.0).unsqueeze(0)

    with torch.no_grad():
        goal = net.encoder(image_tensor(images[3]))
    proprio = (torch.rand(a.proprio, generator=g) * 2 - 1).tolist()
    mean, std = [0.0] * a.proprio, [1.0] * a.proprio
    history, chunks = collections.deque(), collections.deque()
    weights = [math.exp(-a.eta * i) for i in range(a.chunk)]

    @torch.no_grad()
    def act(img):
        norm = [min(max((v - m) / s, -5.0), 5.0) for v, m, s in zip(proprio, mean, std)]
        if not history:
            history.extend([norm] * a.history)
        else:
            history.append(norm)
            history.popleft()
        hist = torch.tensor([v for f in history for v in f]).unsqueeze(0)
        ctx = net.context(hist, torch.tensor([0]))
        logits = net.latent(net.encoder(image_tensor(img)), goal, ctx)
        z = F.one_hot(logits.argmax(-1), a.codes).float() @ net.codebook
        chunk = net.decode(z, ctx).flatten().tolist()
        chunks.appendleft(chunk)
        while len(chunks) > a.chunk:
            chunks.pop()
        out, total = [0.0] * a.action, 0.0
        for i, c in enumerate(chunks):
            row = c[i * a.action:(i + 1) * a.action]
            out = [o + weights[i] * v for o, v in zip(out, row)]
            total += weights[i]
        return [o / total for o in out]

    for i in range(20):
        act(images[i % 3])
    ms = []
    for i in range(a.iters):
        t = time.perf_counter()
        act(images[i % 3])
        ms.append((time.perf_counter() - t) * 1e3)
    ms.sort()
    act_times = {"mean_ms": sum(ms) / len(ms), "p95_ms": ms[min(int(len(ms) * 0.95), len(ms) - 1)]}

    # 2. stage (b) steps on a cached-feature batch
    rows = []
    b = a.batch
    for n in [int(x) for x in a.threads.split(",")]:
        torch.set_num_threads(n)
        torch.manual_seed(1)
        g = torch.Generator().manual_seed(3)
        net = Student()
        q1, q2 = critic(), critic()
        hist = torch.rand(b, a.history * a.proprio, generator=g) * 2 - 1
        task = torch.randint(0, a.tasks, (b,), generator=g)
        chunk = torch.rand(b, a.chunk, a.action, generator=g) * 2 - 1
        img = torch.rand(b, a.features, generator=g) * 2 - 1
        gl = torch.rand(b, a.features, generator=g) * 2 - 1
        target = torch.randint(0, a.codes, (b,), generator=g)
        span = a.span
        states = torch.rand(b * span, a.critic_state, generator=g) * 2 - 1
        w = torch.exp(-a.eta * torch.arange(span, dtype=torch.float32))
        weights = (w / w.sum()).repeat(b)
        s_mean, s_std = torch.zeros(a.critic_state), torch.ones(a.critic_state)

        def bc_loss():
            ctx = net.context(hist, task)
            logits = net.latent(img, gl, ctx)
            l_lat = F.cross_entropy(logits, target)
            probs = torch.softmax(logits, -1)
            hot = F.one_hot(logits.argmax(-1), a.codes).float()
            # straight-through code: the one-hot's value, σ's gradient
            z = (hot + probs - probs.detach()) @ net.codebook
            pred = net.decode(z, ctx)
            l_act = (pred - chunk).abs().sum(-1).mean()
            l_act.item(), l_lat.item()
            return l_lat + l_act, pred

        def make_step(with_critic):
            opt = torch.optim.AdamW([q for q in net.parameters() if q.requires_grad], lr=3e-4, weight_decay=0.0)

            def step():
                total, pred = bc_loss()
                if with_critic:
                    graded = pred[:, :span].reshape(b * span, a.action)
                    sa = torch.cat([(states - s_mean) / s_std, graded], 1)
                    q = torch.minimum(q1(sa), q2(sa)).squeeze(1)
                    dist = -((q * weights).sum() / 1.0) / b
                    dist.item()
                    total = total + dist
                total.item()
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()

            return step

        bc_ms = time_ms(make_step(False))
        acgd_ms = time_ms(make_step(True))
        rows.append({
            "threads": n,
            "bc_ms": bc_ms,
            "acgd_ms": acgd_ms,
            "bc_samples_per_s": b * 1e3 / bc_ms,
            "acgd_samples_per_s": b * 1e3 / acgd_ms,
        })
    print(json.dumps({"engine": f"PyTorch {torch.__version__} (CPU)", "act": act_times, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
