#!/usr/bin/env python3
"""PyTorch reference ("oracle") for ModelGen's Upsample op (torch.nn.functional.interpolate).

Usage:
    python3 upsample_reference.py CONFIG.json INPUTS.safetensors OUT.safetensors

CONFIG.json keys (all required): mode ("bilinear" | "nearest"), size [out_height, out_width],
    dtype ("float32" | "float64"). Bilinear is run with align_corners=False and the output size given
    (not a scale factor), so PyTorch's source index is (dst + 0.5)·in/out − 0.5, clamped at 0. In float32
    the index arithmetic is the same single-precision arithmetic ModelGen's op does.
    Unknown keys are rejected so that a typo cannot silently fall back to a default.
INPUTS: "x" (B, C, H, W); "grad_output" (B, C, out_height, out_width).
OUT:    "output" (B, C, out_height, out_width) and "grad.x" (B, C, H, W), both F32.

The safetensors reader/writer and the error type come from encoder_reference.py in this directory.
"""

import json
import os
import sys
import traceback

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep __pycache__ out of Peers/ (the test project copies Peers/** to its output)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from encoder_reference import ReferenceError_, read_safetensors, write_safetensors  # noqa: E402  (needs the path above)

_KEYS = {"mode", "size", "dtype"}
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def parse_config(raw):
    if not isinstance(raw, dict):
        raise ReferenceError_("config must be a JSON object")
    unknown = set(raw) - _KEYS
    missing = _KEYS - set(raw)
    if unknown:
        raise ReferenceError_("unknown config keys: %s" % ", ".join(sorted(unknown)))
    if missing:
        raise ReferenceError_("missing config keys: %s" % ", ".join(sorted(missing)))
    if raw["mode"] not in ("bilinear", "nearest"):
        raise ReferenceError_("mode must be 'bilinear' or 'nearest', got %r" % (raw["mode"],))
    size = raw["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise ReferenceError_("size must be [out_height, out_width] of positive ints, got %r" % (size,))
    if raw["dtype"] not in _DTYPES:
        raise ReferenceError_("dtype must be one of %s, got %r" % (sorted(_DTYPES), raw["dtype"]))
    return raw


def main_run(config_path, inputs_path, out_path):
    try:
        with open(config_path, "r", encoding="utf-8") as f:
            c = parse_config(json.load(f))
    except (OSError, ValueError) as e:
        raise ReferenceError_("cannot read config %r: %s" % (config_path, e))
    inputs, _ = read_safetensors(inputs_path)
    for name in ("x", "grad_output"):
        if name not in inputs:
            raise ReferenceError_("inputs lack %r" % name)
    dtype = _DTYPES[c["dtype"]]
    x = inputs["x"].to(dtype).requires_grad_(True)
    if x.dim() != 4:
        raise ReferenceError_("x must be (B, C, H, W), got %r" % (list(x.shape),))
    if c["mode"] == "bilinear":
        y = F.interpolate(x, size=tuple(c["size"]), mode="bilinear", align_corners=False)
    else:
        y = F.interpolate(x, size=tuple(c["size"]), mode="nearest")
    dy = inputs["grad_output"].to(dtype)
    if list(dy.shape) != list(y.shape):
        raise ReferenceError_("grad_output is %r but the output is %r" % (list(dy.shape), list(y.shape)))
    y.backward(dy)
    write_safetensors(out_path, {"output": y.detach(), "grad.x": x.grad})
    print(json.dumps({"output": list(y.shape), "mode": c["mode"]}))


def main(argv):
    try:
        if len(argv) != 4:
            sys.stderr.write("usage: %s CONFIG.json INPUTS.safetensors OUT.safetensors\n" % argv[0])
            return 2
        main_run(*argv[1:])
        return 0
    except ReferenceError_ as e:
        sys.stderr.write("upsample_reference: error: %s\n" % e)
        return 1
    except Exception:  # noqa: BLE001 - any unexpected failure must still exit non-zero, loudly
        sys.stderr.write("upsample_reference: unexpected error:\n")
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
