#!/usr/bin/env python3
"""One DC-IGN training step (forward, backward, RMSProp update) in PyTorch, timed.

The network, loss and update of `npm run bench -- step` (src/train/step.ts; bench/RESULTS.md
says how the two compare). Images are uniform random in [0, 1] (the cost does not depend on
them), eps is fixed per run.

    /usr/bin/python3 bench/torch_step.py --preset paper --batch 4 --steps 3 --device cpu
    /usr/bin/python3 bench/torch_step.py --preset small --batch 20 --device cuda --tf32 off --json out.json

Prints progress, a summary line and one JSON object with the fields of bench/step.ts's rows.
"""
import argparse
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
from datetime import datetime, timezone

import torch
import torch.nn as nn
import torch.nn.functional as F

# Mirrors src/model/presets.ts.
PRESETS = {
    'paper': dict(image=150, enc_maps=(96, 48, 24), enc_k=5, enc_pad='valid', latents=200,
                  dec_base=(24, 15), dec_maps=(48, 96, 96, 1), dec_k=7, dec_pad='valid'),
    'small': dict(image=150, enc_maps=(8, 16, 16), enc_k=5, enc_pad='valid', latents=32,
                  dec_base=(16, 15), dec_maps=(16, 16, 8, 1), dec_k=7, dec_pad='valid'),
}


def layer_shapes(c):
    """The network in order: conv layers as (C, O, k, padding, H_out), H_out on the upsampled map in
    the decoder, and the linear layers as (name, in, out)."""
    conv_out = lambda n, k, pad: n if pad == 'same' else n - k + 1
    enc, dec = [], []
    ch, s = 1, c['image']
    for o in c['enc_maps']:
        ho = conv_out(s, c['enc_k'], c['enc_pad'])
        enc.append((ch, o, c['enc_k'], c['enc_pad'], ho))
        ch, s = o, ho // 2
    flat = ch * s * s
    bc, bs = c['dec_base']
    linears = [('mu', flat, c['latents']), ('logvar', flat, c['latents']), ('fc', c['latents'], bc * bs * bs)]
    ch, s = bc, bs
    for o in c['dec_maps']:
        ho = conv_out(2 * s, c['dec_k'], c['dec_pad'])
        dec.append((ch, o, c['dec_k'], c['dec_pad'], ho))
        ch, s = o, ho
    assert s == c['image'], f'decoder renders {s}, not {c["image"]}'
    return enc, linears, dec


def step_flops(c, n):
    """Analytic FLOPs of one step: conv fwd, dx (not for the first conv: the images need no
    gradient) and dw, each 2*N*O*Ho*Wo*C*k*k; linear fwd, dx, dw, each 2*N*in*out. Bias terms,
    pooling, upsampling, activations, losses and the optimizer are not counted."""
    enc, linears, dec = layer_shapes(c)
    convs = [2 * n * o * ho * ho * ci * k * k for (ci, o, k, _, ho) in enc + dec]
    return sum(convs) * 3 - convs[0] + sum(3 * 2 * n * fin * fout for (_, fin, fout) in linears)


class Dcign(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        enc, linears, dec = layer_shapes(c)
        conv = lambda ci, o, k, pad, _: nn.Conv2d(ci, o, k, padding='same' if pad == 'same' else 0)
        # Made in network order, so that one seed gives the same weights as before.
        self.enc = nn.ModuleList(conv(*l) for l in enc)
        self.lin = nn.ModuleDict((name, nn.Linear(fin, fout)) for (name, fin, fout) in linears)
        self.dec = nn.ModuleList(conv(*l) for l in dec)
        # The original's LinearCR: N(0, 0.01) weights and biases.
        for lin in self.lin.values():
            nn.init.normal_(lin.weight, 0, 0.01)
            nn.init.normal_(lin.bias, 0, 0.01)

    def encode(self, x):
        h = x
        for conv in self.enc:
            h = F.relu(F.max_pool2d(conv(h), 2))
        h = h.reshape(x.shape[0], -1)
        return self.lin['mu'](h), self.lin['logvar'](h)

    def forward(self, x, eps, mask):
        # Section 3.2: latents outside the pass-through range take sample 0's value and get no
        # gradient (SelectiveOutputClamp + SelectiveGradientFilter of the original).
        mu, logvar = (mask * t + (1 - mask) * t[:1].detach() for t in self.encode(x))
        z = mu + torch.exp(0.5 * logvar.clamp(-20, 20)) * eps
        bc, bs = self.c['dec_base']
        d = F.relu(self.lin['fc'](z)).reshape(x.shape[0], bc, bs, bs)
        for i, conv in enumerate(self.dec):
            d = conv(F.interpolate(d, scale_factor=2, mode='nearest'))
            d = torch.sigmoid(d) if i == len(self.dec) - 1 else F.relu(d)
        p = d.clamp(1e-7, 1 - 1e-7)
        bce = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum()
        kl = 0.5 * (mu * mu + torch.exp(logvar) - 1 - logvar).sum()
        return bce, kl


class RMSProp:
    """src/train/optim.ts: m <- (1-b1) m + b1 g; v <- (1-b2) v + b2 g^2;
    x <- x - lr sqrt(1-(1-b2)^t) / (1-(1-b1)^t) m / sqrt(v + eps)."""

    def __init__(self, params, lr=5e-4, b1=0.1, b2=0.01, eps=1e-8):
        self.params = list(params)
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        lr = self.lr * math.sqrt(1 - (1 - self.b2) ** self.t) / (1 - (1 - self.b1) ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            m.mul_(1 - self.b1).add_(g, alpha=self.b1)
            v.mul_(1 - self.b2).addcmul_(g, g, value=self.b2)
            p.addcdiv_(m, (v + self.eps).sqrt(), value=-lr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--preset', choices=sorted(PRESETS), default='paper')
    ap.add_argument('--batch', type=int, default=20)
    ap.add_argument('--steps', type=int, default=3, help='timed steps (median reported)')
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    ap.add_argument('--tf32', choices=['on', 'off'], default='off', help='TF32 matmul/conv on CUDA')
    ap.add_argument('--threads', type=int, default=os.cpu_count(), help='CPU threads (torch.set_num_threads)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--kind', choices=['az', 'el', 'light', 'shape'], default='az', help='clamped batch type')
    ap.add_argument('--json', help='write the result here too')
    a = ap.parse_args()
    if a.batch < 1 or a.steps < 1 or a.warmup < 0:
        ap.error('--batch and --steps must be at least 1, --warmup at least 0')
    if a.device == 'cuda' and not torch.cuda.is_available():
        ap.error('--device cuda: torch.cuda.is_available() is False')

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    tf32 = a.tf32 == 'on'
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if a.device == 'cuda':
        torch.backends.cudnn.benchmark = True
    dev = torch.device(a.device)
    c = PRESETS[a.preset]
    n = a.batch
    model = Dcign(c).to(dev)
    opt = RMSProp(model.parameters())
    x = torch.rand(n, 1, c['image'], c['image'], device=dev)
    eps = torch.randn(n, c['latents'], device=dev)
    lo, hi = {'az': (0, 1), 'el': (1, 2), 'light': (2, 3), 'shape': (3, c['latents'])}[a.kind]
    mask = torch.zeros(1, c['latents'], device=dev)
    mask[:, lo:hi] = 1

    def sync():
        if a.device == 'cuda':
            torch.cuda.synchronize()

    def step():
        bce, kl = model(x, eps, mask)
        (bce + kl).backward()
        opt.step()
        model.zero_grad(set_to_none=True)
        return bce, kl

    flops = step_flops(c, n)
    if a.device == 'cuda':
        device_name = torch.cuda.get_device_name(dev) + f' (tf32 {a.tf32})'
    else:
        device_name = f'cpu {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads'
    print(f'torch {torch.__version__} on {device_name}; preset {a.preset}, batch {n}, {flops / 1e9:.1f} GFLOP per step', flush=True)
    load_start = os.getloadavg()[0]
    for i in range(a.warmup):
        t0 = time.perf_counter()
        step()
        sync()
        print(f'  warm-up {i + 1}/{a.warmup}: {(time.perf_counter() - t0) * 1e3:.0f} ms', flush=True)
    if a.device == 'cuda':
        torch.cuda.reset_peak_memory_stats(dev)
    times, losses = [], []
    for i in range(a.steps):
        t0 = time.perf_counter()
        bce, kl = step()
        sync()
        ms = (time.perf_counter() - t0) * 1e3
        times.append(ms)
        losses.append((float(bce) / n, float(kl) / n))
        print(f'  step {i + 1}/{a.steps}: {ms:.0f} ms, bce/image {losses[-1][0]:.1f}, kl/image {losses[-1][1]:.2f}', flush=True)
    load_end = os.getloadavg()[0]
    med = statistics.median(times)
    weights = sum(p.numel() for p in model.parameters())
    result = {
        'bench': 'step',
        'framework': 'pytorch',
        'torch': torch.__version__,
        'date': datetime.now(timezone.utc).isoformat(),
        'device': device_name,
        'preset': a.preset,
        'batch': n,
        'batchKind': a.kind,
        'steps': a.steps,
        'warmup': a.warmup,
        'timing': 'wall-clock per step' + (' with torch.cuda.synchronize()' if a.device == 'cuda' else ' (CPU ops are synchronous)'),
        'msPerStep': med,
        'stepMs': times,
        'flopsPerStep': flops,
        'gflops': flops / med / 1e6,
        'weights': weights,
        'peakBytes': torch.cuda.max_memory_allocated(dev) if a.device == 'cuda' else None,
        'allocatedBytes': torch.cuda.max_memory_reserved(dev) if a.device == 'cuda' else None,
        # Linux reports ru_maxrss in KiB: the whole process's peak resident set (CPU runs).
        'maxRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        'bcePerImage': losses[-1][0],
        'klPerImage': losses[-1][1],
        'loadAverage': {'start': round(load_start, 2), 'end': round(load_end, 2)},
    }
    print(f'pytorch {a.preset} batch {n}: {med:.0f} ms/step (median of {a.steps}), {result["gflops"]:.1f} GFLOP/s; '
          f'1-min load average {load_start:.2f} at start, {load_end:.2f} at end')
    print(json.dumps(result, indent=2))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'wrote {a.json}', file=sys.stderr)


if __name__ == '__main__':
    main()
