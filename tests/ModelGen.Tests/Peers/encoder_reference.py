#!/usr/bin/env python3
"""PyTorch reference ("oracle") for the ModelGen transformer encoder tests.

Usage:
    python3 encoder_reference.py CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.safetensors
    python3 encoder_reference.py --self-test

CONFIG.json keys (required: width, depth, heads, key_dim, value_dim, ff):
    width, depth, heads, kv_heads (default: heads), key_dim, value_dim, ff,
    norm ("pre" | "post", default "pre"), causal (default false), eps (default 1e-5),
    activation ("gelu" | "relu", default "gelu"), final_norm (default true),
    head_classes (0 = no head, default 0), bias (default true),
    dtype ("float64" | "float32", default "float64").
    Unknown keys are rejected so that a typo cannot silently fall back to a default.

WEIGHTS: every parameter, named exactly like this module's state_dict() keys.
INPUTS:  "x" (B, N, width); optional "padding" (B, N), nonzero = that key is padding
         (masked out); "grad_output" with the shape of the output (if it is absent,
         no backward pass is run and only "output" is written).
OUT:     "output", "grad.x", "grad.<param name>" for every parameter, all F32.

Only torch and the standard library are used (numpy is not needed); the safetensors
format is read and written by hand.
"""

import array
import json
import math
import os
import struct
import sys
import tempfile
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F


class ReferenceError_(Exception):
    """An error with a message meant for the user (no traceback needed)."""


# --------------------------------------------------------------------------------------
# safetensors, by hand
# --------------------------------------------------------------------------------------

_ST_DTYPES = {
    # name: (torch dtype, item size)
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
}


def _require_little_endian():
    if sys.byteorder != "little":
        raise ReferenceError_("this script assumes a little-endian host (safetensors data is little-endian)")


def read_safetensors(path):
    """Returns (dict name -> torch tensor (CPU, dtype as stored), metadata dict or None)."""
    _require_little_endian()
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise ReferenceError_("cannot read safetensors file %r: %s" % (path, e))
    if len(blob) < 8:
        raise ReferenceError_("%s: file too short (%d bytes) to be safetensors" % (path, len(blob)))
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > len(blob) - 8:
        raise ReferenceError_("%s: header length %d exceeds file size %d" % (path, header_len, len(blob)))
    try:
        header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ReferenceError_("%s: header is not valid UTF-8 JSON: %s" % (path, e))
    if not isinstance(header, dict):
        raise ReferenceError_("%s: header is not a JSON object" % path)
    data = memoryview(blob)[8 + header_len:]
    metadata = header.pop("__metadata__", None)
    tensors = {}
    for name, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise ReferenceError_("%s: tensor %r has a malformed header entry: %r" % (path, name, info))
        dt = info["dtype"]
        if dt not in _ST_DTYPES:
            raise ReferenceError_("%s: tensor %r has unsupported dtype %r" % (path, name, dt))
        torch_dtype, item = _ST_DTYPES[dt]
        shape = info["shape"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ReferenceError_("%s: tensor %r has a bad shape %r" % (path, name, shape))
        begin, end = info["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        if not (0 <= begin <= end <= len(data)):
            raise ReferenceError_("%s: tensor %r data_offsets [%d, %d] out of range (data is %d bytes)"
                                  % (path, name, begin, end, len(data)))
        if end - begin != count * item:
            raise ReferenceError_("%s: tensor %r: %d bytes for shape %r of %s (expected %d)"
                                  % (path, name, end - begin, shape, dt, count * item))
        if count == 0:
            t = torch.zeros(shape, dtype=torch_dtype)
        else:
            # bytearray copy: writable, so torch.frombuffer does not warn; clone owns the memory.
            t = torch.frombuffer(bytearray(data[begin:end]), dtype=torch_dtype).clone().reshape(shape)
        tensors[name] = t
    return tensors, metadata


def _tensor_f32_bytes(t):
    flat = t.detach().to(device="cpu", dtype=torch.float32).contiguous().reshape(-1).tolist()
    return array.array("f", flat).tobytes()  # native order; little-endian checked


def write_safetensors(path, tensors, metadata=None):
    """Writes every tensor as F32, sorted by name, header padded with spaces to a multiple of 8."""
    _require_little_endian()
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        b = _tensor_f32_bytes(t)
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((-len(hbytes)) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(hbytes)))
            f.write(hbytes)
            for c in chunks:
                f.write(c)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------

_CONFIG_DEFAULTS = {
    "kv_heads": None,  # -> heads
    "norm": "pre",
    "causal": False,
    "eps": 1e-5,
    "activation": "gelu",
    "final_norm": True,
    "head_classes": 0,
    "bias": True,
    "dtype": "float64",
}
_CONFIG_REQUIRED = ("width", "depth", "heads", "key_dim", "value_dim", "ff")


def parse_config(raw):
    if not isinstance(raw, dict):
        raise ReferenceError_("config must be a JSON object")
    unknown = sorted(set(raw) - set(_CONFIG_DEFAULTS) - set(_CONFIG_REQUIRED))
    if unknown:
        raise ReferenceError_("config has unknown keys %s (known: %s)"
                              % (unknown, sorted(set(_CONFIG_DEFAULTS) | set(_CONFIG_REQUIRED))))
    missing = [k for k in _CONFIG_REQUIRED if k not in raw]
    if missing:
        raise ReferenceError_("config is missing required keys %s" % missing)
    c = dict(_CONFIG_DEFAULTS)
    c.update(raw)
    if c["kv_heads"] is None:
        c["kv_heads"] = c["heads"]

    def pos_int(k, allow_zero=False):
        v = c[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0 or (v == 0 and not allow_zero):
            raise ReferenceError_("config %r must be a %s integer, got %r"
                                  % (k, "non-negative" if allow_zero else "positive", v))

    for k in ("width", "heads", "kv_heads", "key_dim", "value_dim", "ff"):
        pos_int(k)
    pos_int("depth", allow_zero=True)
    pos_int("head_classes", allow_zero=True)
    if c["heads"] % c["kv_heads"] != 0:
        raise ReferenceError_("config heads (%d) must be a multiple of kv_heads (%d)" % (c["heads"], c["kv_heads"]))
    if c["norm"] not in ("pre", "post"):
        raise ReferenceError_("config norm must be \"pre\" or \"post\", got %r" % (c["norm"],))
    if c["activation"] not in ("gelu", "relu"):
        raise ReferenceError_("config activation must be \"gelu\" or \"relu\", got %r" % (c["activation"],))
    if c["dtype"] not in ("float64", "float32"):
        raise ReferenceError_("config dtype must be \"float64\" or \"float32\", got %r" % (c["dtype"],))
    for k in ("causal", "final_norm", "bias"):
        if not isinstance(c[k], bool):
            raise ReferenceError_("config %r must be true or false, got %r" % (k, c[k]))
    if isinstance(c["eps"], bool) or not isinstance(c["eps"], (int, float)) or not c["eps"] > 0:
        raise ReferenceError_("config eps must be a positive number, got %r" % (c["eps"],))
    c["eps"] = float(c["eps"])
    return c


def torch_dtype(c):
    return torch.float64 if c["dtype"] == "float64" else torch.float32


# --------------------------------------------------------------------------------------
# Model (module attribute names define the state_dict keys)
# --------------------------------------------------------------------------------------

class Attention(nn.Module):
    """Multi-head / grouped-query attention, written out with explicit matmuls."""

    def __init__(self, c):
        super().__init__()
        self.heads = c["heads"]
        self.kv_heads = c["kv_heads"]
        self.key_dim = c["key_dim"]
        self.value_dim = c["value_dim"]
        self.causal = c["causal"]
        w, b = c["width"], c["bias"]
        self.q_proj = nn.Linear(w, self.heads * self.key_dim, bias=b)
        self.k_proj = nn.Linear(w, self.kv_heads * self.key_dim, bias=b)
        self.v_proj = nn.Linear(w, self.kv_heads * self.value_dim, bias=b)
        self.out_proj = nn.Linear(self.heads * self.value_dim, w, bias=b)

    def forward(self, x, key_mask=None):
        """x: (B, N, width). key_mask: None or bool (B, N), True = key is padding."""
        B, N, _ = x.shape
        H, KV, dk, dv = self.heads, self.kv_heads, self.key_dim, self.value_dim
        q = self.q_proj(x).reshape(B, N, H, dk).permute(0, 2, 1, 3)   # (B, H, N, dk)
        k = self.k_proj(x).reshape(B, N, KV, dk).permute(0, 2, 1, 3)  # (B, KV, N, dk)
        v = self.v_proj(x).reshape(B, N, KV, dv).permute(0, 2, 1, 3)  # (B, KV, N, dv)
        group = H // KV
        kv_index = torch.arange(H, device=x.device) // group           # query head h -> kv head h // group
        k = k.index_select(1, kv_index)                                 # (B, H, N, dk)
        v = v.index_select(1, kv_index)                                 # (B, H, N, dv)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dk)   # (B, H, Nq, Nk)
        mask = attention_mask(B, N, self.causal, key_mask, x.device)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        p = torch.softmax(scores, dim=-1)
        o = torch.matmul(p, v)                                          # (B, H, N, dv)
        o = o.permute(0, 2, 1, 3).reshape(B, N, H * dv)                 # heads concatenated in order
        return self.out_proj(o)


def attention_mask(B, N, causal, key_mask, device):
    """Bool (B or 1, 1, Nq, Nk), True = masked; or None when nothing is masked."""
    mask = None
    if causal:
        i = torch.arange(N, device=device)
        mask = (i[None, :] > i[:, None])[None, None]                    # key j > query i
    if key_mask is not None:
        pm = key_mask[:, None, None, :]                                 # (B, 1, 1, Nk)
        mask = pm if mask is None else (mask | pm)
    if mask is not None:
        mask = mask.expand(B, 1, N, N)
    return mask


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c["width"], c["ff"])
        self.fc2 = nn.Linear(c["ff"], c["width"])
        self.activation = c["activation"]

    def forward(self, x):
        h = self.fc1(x)
        h = F.gelu(h) if self.activation == "gelu" else F.relu(h)
        return self.fc2(h)


class EncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.pre_norm = c["norm"] == "pre"
        self.norm1 = nn.LayerNorm(c["width"], eps=c["eps"])
        self.attn = Attention(c)
        self.norm2 = nn.LayerNorm(c["width"], eps=c["eps"])
        self.mlp = MLP(c)

    def forward(self, x, key_mask=None):
        if self.pre_norm:
            x = x + self.attn(self.norm1(x), key_mask)
            x = x + self.mlp(self.norm2(x))
        else:
            x = self.norm1(x + self.attn(x, key_mask))
            x = self.norm2(x + self.mlp(x))
        return x


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(c) for _ in range(c["depth"])])

    def forward(self, x, key_mask=None):
        for layer in self.layers:
            x = layer(x, key_mask)
        return x


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder = Encoder(c)
        self.norm = nn.LayerNorm(c["width"], eps=c["eps"]) if c["final_norm"] else None
        self.head = nn.Linear(c["width"], c["head_classes"]) if c["head_classes"] > 0 else None

    def forward(self, x, key_mask=None):
        x = self.encoder(x, key_mask)
        if self.norm is not None:
            x = self.norm(x)
        if self.head is not None:
            x = self.head(x)
        return x


def output_dim(c):
    return c["head_classes"] if c["head_classes"] > 0 else c["width"]


# --------------------------------------------------------------------------------------
# Running the oracle
# --------------------------------------------------------------------------------------

def load_weights(model, weights, dtype):
    expected = model.state_dict()
    converted = {}
    for name, t in weights.items():
        if name in expected and tuple(t.shape) != tuple(expected[name].shape):
            raise ReferenceError_("weight %r has shape %s, the model expects %s"
                                  % (name, list(t.shape), list(expected[name].shape)))
        if not t.is_floating_point():
            raise ReferenceError_("weight %r has non-floating dtype %s" % (name, t.dtype))
        converted[name] = t.to(dtype)
    result = model.load_state_dict(converted, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ReferenceError_("weights do not match the model: missing keys %s; unexpected keys %s"
                              % (sorted(result.missing_keys), sorted(result.unexpected_keys)))
    # strict load as well (belt and braces; raises RuntimeError listing any mismatch)
    model.load_state_dict(converted, strict=True)


def check_no_fully_masked_rows(B, N, causal, key_mask):
    mask = attention_mask(B, N, causal, key_mask, torch.device("cpu"))
    if mask is None:
        return
    full = mask[:, 0].all(dim=-1)  # (B, Nq)
    if bool(full.any()):
        b, i = [int(v) for v in full.nonzero()[0]]
        raise ReferenceError_("query row (batch %d, position %d) has every key masked (causal=%s, padding); "
                              "its softmax would be NaN" % (b, i, causal))


def check_finite(name, t):
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        idx = [int(v) for v in bad.nonzero()[0]]
        raise ReferenceError_("%s has %d non-finite values (first at index %s: %r)"
                              % (name, int(bad.sum()), idx, float(t[tuple(idx)])))


def run_reference(c, weights, inputs):
    """Returns (dict of output tensors, summary dict)."""
    dtype = torch_dtype(c)
    known = {"x", "padding", "grad_output"}
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise ReferenceError_("inputs contain unknown tensors %s (known: %s)" % (unknown, sorted(known)))
    if "x" not in inputs:
        raise ReferenceError_("inputs are missing \"x\"")
    x = inputs["x"]
    if x.dim() != 3 or x.shape[2] != c["width"]:
        raise ReferenceError_("x has shape %s, expected (B, N, %d)" % (list(x.shape), c["width"]))
    B, N = int(x.shape[0]), int(x.shape[1])
    key_mask = None
    if "padding" in inputs:
        pad = inputs["padding"]
        if tuple(pad.shape) != (B, N):
            raise ReferenceError_("padding has shape %s, expected %s" % (list(pad.shape), [B, N]))
        key_mask = pad != 0
    check_no_fully_masked_rows(B, N, c["causal"], key_mask)

    torch.manual_seed(0)
    model = Model(c).to(dtype)
    load_weights(model, weights, dtype)

    xin = x.to(dtype).detach().requires_grad_(True)
    out = model(xin, key_mask)
    check_finite("output", out)
    result = {"output": out.detach()}

    has_grad = "grad_output" in inputs
    if has_grad:
        go = inputs["grad_output"]
        if tuple(go.shape) != tuple(out.shape):
            raise ReferenceError_("grad_output has shape %s, expected the output shape %s"
                                  % (list(go.shape), list(out.shape)))
        out.backward(go.to(dtype))
        gx = xin.grad if xin.grad is not None else torch.zeros_like(xin)
        check_finite("grad.x", gx)
        result["grad.x"] = gx.detach()
        for name, p in model.named_parameters():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            check_finite("grad." + name, g)
            result["grad." + name] = g.detach()

    summary = {
        "ok": True,
        "dtype": c["dtype"],
        "x_shape": [B, N, c["width"]],
        "output_shape": list(out.shape),
        "padding": key_mask is not None,
        "causal": c["causal"],
        "parameters": len(list(model.parameters())),
        "grads": has_grad,
        "max_abs_output": float(out.detach().abs().max()) if out.numel() else 0.0,
    }
    if has_grad:
        summary["max_abs_grad_x"] = float(result["grad.x"].abs().max()) if xin.numel() else 0.0
    return result, summary


def main_run(config_path, weights_path, inputs_path, out_path):
    try:
        with open(config_path, "r", encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise ReferenceError_("cannot read config %r: %s" % (config_path, e))
    c = parse_config(raw)
    weights, _ = read_safetensors(weights_path)
    inputs, _ = read_safetensors(inputs_path)
    result, summary = run_reference(c, weights, inputs)
    write_safetensors(out_path, result)
    print(json.dumps(summary, sort_keys=True))


# --------------------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------------------

def _random_config(**kw):
    c = {"width": 16, "depth": 2, "heads": 4, "kv_heads": 2, "key_dim": 4, "value_dim": 4, "ff": 24,
         "norm": "pre", "causal": True, "eps": 1e-5, "activation": "gelu", "final_norm": True,
         "head_classes": 3, "bias": True, "dtype": "float64"}
    c.update(kw)
    return parse_config(c)


def _randomize(model, gen):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) * 0.5)


def _assert_close(what, a, b, tol):
    err = float((a - b).abs().max())
    if not err <= tol:
        raise ReferenceError_("self-test %s: max abs difference %.3e > %.1e" % (what, err, tol))
    return err


def self_test():
    gen = torch.Generator().manual_seed(1234)
    report = []

    # (a) safetensors round trip (writer -> reader; also reader of F64/F16 and metadata).
    with tempfile.TemporaryDirectory() as d:
        tensors = {
            "b.weight": torch.randn(3, 5, generator=gen),
            "a": torch.randn(7, generator=gen),
            "scalar": torch.tensor(2.5),
            "empty": torch.zeros(0, 4),
            "z.4d": torch.randn(2, 1, 3, 2, generator=gen),
        }
        p = os.path.join(d, "t.safetensors")
        write_safetensors(p, tensors, metadata={"format": "pt"})
        with open(p, "rb") as f:
            blob = f.read()
        (hl,) = struct.unpack("<Q", blob[:8])
        if hl % 8 != 0:
            raise ReferenceError_("self-test safetensors: header length %d not a multiple of 8" % hl)
        header = json.loads(blob[8:8 + hl].decode("utf-8"))
        names = [k for k in header if k != "__metadata__"]
        starts = [header[k]["data_offsets"][0] for k in names]
        if sorted(names) != [k for _, k in sorted(zip(starts, names))]:
            raise ReferenceError_("self-test safetensors: tensors not laid out sorted by name")
        back, meta = read_safetensors(p)
        if set(back) != set(tensors) or meta != {"format": "pt"}:
            raise ReferenceError_("self-test safetensors: names/metadata differ: %s %s" % (sorted(back), meta))
        for k, t in tensors.items():
            if back[k].dtype != torch.float32 or tuple(back[k].shape) != tuple(t.shape) or not torch.equal(back[k], t):
                raise ReferenceError_("self-test safetensors: tensor %r differs after round trip" % k)
        # Hand-built F64 + F16 file, with an unpadded header, to check the reader independently.
        a64 = [1.0, -2.5, 3.25, 1e-300]
        a16 = [0.5, -1.0]
        data = struct.pack("<4d", *a64) + struct.pack("<2e", *a16)
        hdr = json.dumps({"d": {"dtype": "F64", "shape": [2, 2], "data_offsets": [0, 32]},
                          "h": {"dtype": "F16", "shape": [2], "data_offsets": [32, 36]}}).encode()
        p2 = os.path.join(d, "t2.safetensors")
        with open(p2, "wb") as f:
            f.write(struct.pack("<Q", len(hdr)) + hdr + data)
        back2, _ = read_safetensors(p2)
        if back2["d"].dtype != torch.float64 or back2["d"].reshape(-1).tolist() != a64 \
                or back2["h"].float().tolist() != a16:
            raise ReferenceError_("self-test safetensors: hand-built F64/F16 file read wrongly")
    report.append("safetensors round trip")

    # (b) by-hand attention vs torch.nn.MultiheadAttention (heads == kv_heads, no masks),
    #     plus the same with causal + padding masks passed to MultiheadAttention.
    c = _random_config(heads=4, kv_heads=4, key_dim=4, value_dim=4, width=16, causal=False)
    attn = Attention(c).double()
    _randomize(attn, gen)
    mha = nn.MultiheadAttention(16, 4, bias=True, batch_first=True, dropout=0.0).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight], 0))
        mha.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias], 0))
        mha.out_proj.weight.copy_(attn.out_proj.weight)
        mha.out_proj.bias.copy_(attn.out_proj.bias)
    x = torch.randn(3, 6, 16, generator=gen, dtype=torch.float64)
    ours = attn(x)
    theirs, _ = mha(x, x, x, need_weights=False)
    e1 = _assert_close("attention vs MultiheadAttention", ours, theirs, 1e-12)
    attn.causal = True
    pad = torch.zeros(3, 6, dtype=torch.bool)
    pad[1, 4:] = True
    pad[2, 2] = True
    causal_mask = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
    ours = attn(x, pad)
    theirs, _ = mha(x, x, x, attn_mask=causal_mask, key_padding_mask=pad, need_weights=False)
    e2 = _assert_close("masked attention vs MultiheadAttention", ours, theirs, 1e-12)
    # GQA == MHA with the kv projections repeated per group.
    cg = _random_config(heads=4, kv_heads=2, key_dim=3, value_dim=5, width=16, causal=True)
    ga = Attention(cg).double()
    _randomize(ga, gen)
    cm = dict(cg, kv_heads=4)
    ma = Attention(cm).double()
    with torch.no_grad():
        for name in ("q_proj", "out_proj"):
            getattr(ma, name).weight.copy_(getattr(ga, name).weight)
            getattr(ma, name).bias.copy_(getattr(ga, name).bias)
        for name, d in (("k_proj", 3), ("v_proj", 5)):
            w = getattr(ga, name).weight.reshape(2, d, 16).repeat_interleave(2, dim=0).reshape(4 * d, 16)
            b = getattr(ga, name).bias.reshape(2, d).repeat_interleave(2, dim=0).reshape(4 * d)
            getattr(ma, name).weight.copy_(w)
            getattr(ma, name).bias.copy_(b)
    e3 = _assert_close("GQA vs repeated-kv MHA", ga(x, pad), ma(x, pad), 1e-12)
    report.append("attention vs nn.MultiheadAttention (%.1e, masked %.1e, gqa %.1e)" % (e1, e2, e3))

    # (b') whole layer vs nn.TransformerEncoderLayer (pre and post norm, gelu and relu).
    for norm, act in (("pre", "gelu"), ("post", "relu")):
        cl = _random_config(heads=4, kv_heads=4, key_dim=4, value_dim=4, width=16, ff=24, norm=norm,
                            activation=act, causal=True)
        layer = EncoderLayer(cl).double()
        _randomize(layer, gen)
        tl = nn.TransformerEncoderLayer(16, 4, dim_feedforward=24, dropout=0.0, activation=act,
                                        layer_norm_eps=cl["eps"], batch_first=True,
                                        norm_first=(norm == "pre")).double()
        with torch.no_grad():
            tl.self_attn.in_proj_weight.copy_(torch.cat([layer.attn.q_proj.weight, layer.attn.k_proj.weight,
                                                         layer.attn.v_proj.weight], 0))
            tl.self_attn.in_proj_bias.copy_(torch.cat([layer.attn.q_proj.bias, layer.attn.k_proj.bias,
                                                       layer.attn.v_proj.bias], 0))
            tl.self_attn.out_proj.weight.copy_(layer.attn.out_proj.weight)
            tl.self_attn.out_proj.bias.copy_(layer.attn.out_proj.bias)
            tl.linear1.weight.copy_(layer.mlp.fc1.weight)
            tl.linear1.bias.copy_(layer.mlp.fc1.bias)
            tl.linear2.weight.copy_(layer.mlp.fc2.weight)
            tl.linear2.bias.copy_(layer.mlp.fc2.bias)
            for n in ("norm1", "norm2"):
                getattr(tl, n).weight.copy_(getattr(layer, n).weight)
                getattr(tl, n).bias.copy_(getattr(layer, n).bias)
        tl.train()  # dropout is 0; train mode keeps torch off its fused fast path
        ours = layer(x, pad)
        theirs = tl(x, src_mask=causal_mask, src_key_padding_mask=pad)
        e = _assert_close("%s-norm layer vs TransformerEncoderLayer" % norm, ours, theirs, 1e-11)
        report.append("%s-norm/%s layer vs nn.TransformerEncoderLayer (%.1e)" % (norm, act, e))

    # (c) gradients of tiny configs vs finite differences (torch.autograd.gradcheck, float64).
    from torch.nn.utils import stateless
    tiny_configs = [
        dict(width=4, depth=2, heads=2, kv_heads=1, key_dim=2, value_dim=3, ff=5, norm="pre", causal=True,
             activation="gelu", final_norm=True, head_classes=3, bias=True),
        dict(width=4, depth=1, heads=4, kv_heads=2, key_dim=3, value_dim=2, ff=6, norm="post", causal=False,
             activation="gelu", final_norm=False, head_classes=0, bias=False),
    ]
    for tc in tiny_configs:
        ct = parse_config(dict(tc, eps=1e-5, dtype="float64"))
        model = Model(ct).double()
        _randomize(model, gen)
        names = [n for n, _ in model.named_parameters()]
        params = [p.detach().clone().requires_grad_(True) for _, p in model.named_parameters()]
        xt = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
        km = torch.tensor([[False, False, False], [False, False, True]])

        def f(xv, *ps):
            return stateless.functional_call(model, dict(zip(names, ps)), (xv, km))

        if not torch.autograd.gradcheck(f, (xt, *params), eps=1e-6, atol=1e-7, rtol=1e-5, raise_exception=False):
            torch.autograd.gradcheck(f, (xt, *params), eps=1e-6, atol=1e-7, rtol=1e-5)  # raise with details
            raise ReferenceError_("self-test gradcheck failed for %r" % tc)
        report.append("gradcheck %s-norm kv_heads=%d bias=%s (%d params)"
                      % (ct["norm"], ct["kv_heads"], ct["bias"], len(params)))

    # (d) end-to-end through files (the code path the C# tests use), float64 and float32.
    with tempfile.TemporaryDirectory() as d:
        for dt in ("float64", "float32"):
            ce = _random_config(dtype=dt)
            model = Model(ce).double()
            _randomize(model, gen)
            weights = {k: v.float() for k, v in model.state_dict().items()}
            xe = torch.randn(2, 5, 16, generator=gen)
            pe = torch.zeros(2, 5)
            pe[1, 3:] = 1.0
            go = torch.randn(2, 5, 3, generator=gen)
            paths = [os.path.join(d, n) for n in ("c.json", "w.safetensors", "i.safetensors", "o.safetensors")]
            with open(paths[0], "w") as fh:
                json.dump(ce, fh)
            write_safetensors(paths[1], weights)
            write_safetensors(paths[2], {"x": xe, "padding": pe, "grad_output": go})
            import io
            import contextlib
            with contextlib.redirect_stdout(io.StringIO()):
                main_run(*paths)
            out, _ = read_safetensors(paths[3])
            expected = set(["output", "grad.x"] + ["grad." + n for n, _ in model.named_parameters()])
            if set(out) != expected:
                raise ReferenceError_("self-test end-to-end: output names differ: %s"
                                      % sorted(set(out) ^ expected))
            # In-process float64 reference from the same F32 weights.
            m64 = Model(ce).double()
            m64.load_state_dict({k: v.double() for k, v in weights.items()}, strict=True)
            x64 = xe.double().requires_grad_(True)
            o64 = m64(x64, pe != 0)
            o64.backward(go.double())
            tol = 1e-5 if dt == "float64" else 1e-3
            _assert_close("end-to-end %s output" % dt, out["output"].double(), o64, tol)
            _assert_close("end-to-end %s grad.x" % dt, out["grad.x"].double(), x64.grad, tol)
            for n, p in m64.named_parameters():
                _assert_close("end-to-end %s grad.%s" % (dt, n), out["grad." + n].double(), p.grad, tol)
        report.append("end-to-end file run (float64, float32)")

        # (e) error paths fail loudly.
        ce = _random_config(head_classes=0)
        model = Model(ce)
        w = dict(model.state_dict())
        w["encoder.layers.0.attn.q_projection.weight"] = w.pop("encoder.layers.0.attn.q_proj.weight")
        try:
            load_weights(Model(ce).double(), w, torch.float64)
        except ReferenceError_ as e:
            if "q_proj.weight" not in str(e) or "q_projection.weight" not in str(e):
                raise ReferenceError_("self-test: weight-name mismatch message unclear: %s" % e)
        else:
            raise ReferenceError_("self-test: misnamed weight was accepted")
        try:
            check_no_fully_masked_rows(1, 3, False, torch.tensor([[True, True, True]]))
        except ReferenceError_:
            pass
        else:
            raise ReferenceError_("self-test: fully masked row was not detected")
        try:
            check_finite("t", torch.tensor([1.0, float("nan")]))
        except ReferenceError_:
            pass
        else:
            raise ReferenceError_("self-test: NaN was not detected")
        report.append("error paths")

    for r in report:
        print("  " + r)
    print("self-test ok")


def main(argv):
    try:
        if len(argv) == 2 and argv[1] == "--self-test":
            self_test()
            return 0
        if len(argv) != 5:
            sys.stderr.write("usage: %s CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.safetensors\n"
                             "       %s --self-test\n" % (argv[0], argv[0]))
            return 2
        main_run(*argv[1:])
        return 0
    except ReferenceError_ as e:
        sys.stderr.write("encoder_reference: error: %s\n" % e)
        return 1
    except Exception:  # noqa: BLE001 - any unexpected failure must still exit non-zero, loudly
        sys.stderr.write("encoder_reference: unexpected error:\n")
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
