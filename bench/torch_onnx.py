#!/usr/bin/env python3
"""Exports the DC-IGN encoder of one of our checkpoints to ONNX (opset 13) for the web bench's
onnxruntime-web rows (`npm run bench -- web`).

    /usr/bin/python3 bench/torch_onnx.py
    /usr/bin/python3 bench/torch_onnx.py --checkpoint runs/small-.../model.safetensors

The network is bench/torch_step.py's, with the checkpoint's weights. Writes
.cache/onnx/encoder-PRESET.onnx (image [1,1,S,S] -> mu, logvar) and beside it a copy of the
checkpoint, which the bench page loads into ours so that both sides run the same weights; the page
prints how far ORT's mu is from ours.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import Dcign  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, '.cache', 'onnx')


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop('__metadata__', {})
    body = raw[8 + n:]
    tensors = {}
    for name, t in header.items():
        if t['dtype'] != 'F32':
            raise ValueError(f'{path}: {name} is {t["dtype"]}, not F32')
        lo, hi = t['data_offsets']
        tensors[name] = torch.frombuffer(bytearray(body[lo:hi]), dtype=torch.float32).reshape(t['shape'])
    return tensors, metadata


def torch_config(c):
    """Our config (src/model/presets.ts, as checkpoints store it) in torch_step.py's terms."""
    return dict(image=c['imageSize'], enc_maps=tuple(c['encoderMaps']), enc_k=c['encoderKernel'],
                enc_pad=c['encoderPadding'], latents=c['latents'], dec_base=tuple(c['decoderBase']),
                dec_maps=tuple(c['decoderMaps']), dec_k=c['decoderKernel'], dec_pad=c['decoderPadding'])


def torch_name(name):
    """encoder.conv2.weight -> enc.1.weight, encoder.mu.bias -> lin.mu.bias, decoder.fc -> lin.fc."""
    part, layer, kind = name.split('.')
    if layer.startswith('conv'):
        return f'{"enc" if part == "encoder" else "dec"}.{int(layer[4:]) - 1}.{kind}'
    return f'lin.{layer}.{kind}'


class Encoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.encode(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=os.path.join(ROOT, 'models', 'small.safetensors'))
    a = ap.parse_args()
    if not os.path.isfile(a.checkpoint):
        print(f'error: --checkpoint {a.checkpoint}: no such file', file=sys.stderr)
        return 1
    tensors, metadata = read_safetensors(a.checkpoint)
    if 'config' not in metadata:
        print(f'error: --checkpoint {a.checkpoint}: no model config in its metadata (not one of our checkpoints?)', file=sys.stderr)
        return 1
    config = json.loads(metadata['config'])
    model = Dcign(torch_config(config))
    model.load_state_dict({torch_name(k): v for k, v in tensors.items()})
    model.eval()
    S = config['imageSize']
    x = torch.rand(1, 1, S, S, generator=torch.Generator().manual_seed(0))
    os.makedirs(OUT_DIR, exist_ok=True)
    base = os.path.join(OUT_DIR, f'encoder-{config["preset"]}')
    with torch.no_grad():
        torch.onnx.export(Encoder(model), x, base + '.onnx', opset_version=13,
                          input_names=['image'], output_names=['mu', 'logvar'])
    shutil.copyfile(a.checkpoint, base + '.safetensors')
    print(f'wrote {os.path.relpath(base, ROOT)}.onnx (torch {torch.__version__}, opset 13) and its weights '
          f'{os.path.relpath(base, ROOT)}.safetensors from {a.checkpoint}; the web bench page compares its mu with ours')
    return 0


if __name__ == '__main__':
    sys.exit(main())
