#!/usr/bin/env python3
"""PyTorch CPU peer of `dexstudio bench update`: the same networks, batch and
optimizer (AdamW), timed the same way. Prints one JSON object.

Skips with a JSON message when torch is not installed."""
import argparse
import json
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--state", type=int, default=87)
    p.add_argument("--action", type=int, default=22)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--threads", default="1,2")
    a = p.parse_args()
    try:
        import torch
        import torch.nn as nn
    except ImportError:
        print(json.dumps({"skipped": "torch is not installed (pip install torch)"}))
        return 0

    def mlp(i, o):
        return nn.Sequential(
            nn.Linear(i, a.hidden), nn.ReLU(),
            nn.Linear(a.hidden, a.hidden), nn.ReLU(),
            nn.Linear(a.hidden, o))

    def time_ms(f):
        for _ in range(20):
            f()
        t = time.perf_counter()
        for _ in range(a.iters):
            f()
        return (time.perf_counter() - t) * 1e3 / a.iters

    rows = []
    g = torch.Generator().manual_seed(3)
    for n in [int(x) for x in a.threads.split(",")]:
        torch.set_num_threads(n)
        torch.manual_seed(1)
        # 1. one AdamW step of a single critic on an MSE loss
        q = mlp(a.state + a.action, 1)
        opt = torch.optim.AdamW(q.parameters(), lr=3e-4, weight_decay=0.0)
        x = torch.rand(a.batch, a.state + a.action, generator=g) * 2 - 1
        y = torch.rand(a.batch, 1, generator=g) * 2 - 1

        def critic_step():
            loss = ((q(x) - y) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        critic_ms = time_ms(critic_step)

        # 2. a TD3 update: twin critics every call, actor + Polyak every second
        actor, q1, q2 = mlp(a.state, a.action), mlp(a.state + a.action, 1), mlp(a.state + a.action, 1)
        import copy
        ta, t1, t2 = copy.deepcopy(actor), copy.deepcopy(q1), copy.deepcopy(q2)
        aopt = torch.optim.AdamW(actor.parameters(), lr=3e-4, weight_decay=0.0)
        copt = torch.optim.AdamW(list(q1.parameters()) + list(q2.parameters()), lr=3e-4, weight_decay=0.0)
        s = torch.rand(a.batch, a.state, generator=g) * 2 - 1
        act = torch.rand(a.batch, a.action, generator=g) * 2 - 1
        r = torch.rand(a.batch, generator=g) * 2 - 1
        s2 = torch.rand(a.batch, a.state, generator=g) * 2 - 1
        disc = torch.full((a.batch,), 0.9)
        it = [0]

        def td3_step():
            with torch.no_grad():
                noise = (torch.randn(a.batch, a.action, generator=g) * 0.2).clamp(-0.5, 0.5)
                a2 = (torch.tanh(ta(s2)) + noise).clamp(-1, 1)
                sa2 = torch.cat([s2, a2], 1)
                yq = r + disc * torch.min(t1(sa2), t2(sa2)).squeeze(1)
            sa = torch.cat([s, act], 1)
            loss = ((q1(sa).squeeze(1) - yq) ** 2).mean() + ((q2(sa).squeeze(1) - yq) ** 2).mean()
            copt.zero_grad(set_to_none=True)
            loss.backward()
            copt.step()
            it[0] += 1
            if it[0] % 2 == 0:
                aloss = -q1(torch.cat([s, torch.tanh(actor(s))], 1)).mean()
                aopt.zero_grad(set_to_none=True)
                aloss.backward()
                aopt.step()
                with torch.no_grad():
                    for t, o in ((ta, actor), (t1, q1), (t2, q2)):
                        for pt, po in zip(t.parameters(), o.parameters()):
                            pt.lerp_(po, 0.005)

        td3_ms = time_ms(td3_step)
        rows.append({"threads": n, "critic_ms": critic_ms, "td3_ms": td3_ms})
    print(json.dumps({"engine": f"PyTorch {torch.__version__} (CPU)", "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
