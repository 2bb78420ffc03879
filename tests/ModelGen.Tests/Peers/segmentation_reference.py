#!/usr/bin/env python3
"""PyTorch reference ("oracle") for the ModelGen segmentation test models.

Usage:
    python3 segmentation_reference.py CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.safetensors
    python3 segmentation_reference.py --self-test

The transformer encoder layer, its attention and MLP, the safetensors reader/writer, weight loading and the error
handling are imported from encoder_reference.py, and the ViT patch embedding, class token and learned positions from
vit_reference.py (all in this directory; not copied), so these oracles cannot drift apart.

CONFIG.json keys (required: model):
    model: which of the models of tests/ModelGen.Tests/Models/SegmentationTestModels.cs to build:
        "tiny_setr", "tiny_segmenter", "tiny_maskformer", "spatial_blocks", "nonlocal_variants";
    training (default false): BatchNorm mode. True: batch statistics, and the running statistics are updated
        (momentum 0.1, unbiased variance, as nn.BatchNorm2d). False: the running statistics are used as they are;
    dtype ("float64" | "float32", default "float64").
    Unknown keys are rejected so that a typo cannot silently fall back to a default.

Each model mirrors ModelGen's lowering (generators/ModelGen.Generators/Lower/...) op by op; the comments name the op.
Module attribute names define the state_dict keys, which are ModelGen's parameter names exactly (no name mapping).

WEIGHTS: every parameter and BatchNorm running statistic, named like this module's state_dict() keys.
INPUTS:  the model's input, "image" (B, 1, 16, 16) for the three transformer models, "x" (B, 4, 6, 5) for
         spatial_blocks and "x" (B, 6, 4, 3) for nonlocal_variants; "grad_output" with the output's shape (if it is
         absent, no backward pass is run).
OUT:     "output"; "grad.<input name>" (grad.image or grad.x) and "grad.<param name>" for every trainable parameter;
         in training mode also "value.<buffer name>" for every BatchNorm running statistic after the forward pass.
         All F32.

Only torch and the standard library are used.
"""

import contextlib
import io
import json
import math
import os
import sys
import tempfile
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep __pycache__ out of Peers/ (the test project copies Peers/** to its output)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encoder_reference as er  # noqa: E402  (needs the path above)
import vit_reference as vr  # noqa: E402
from encoder_reference import ReferenceError_, read_safetensors, write_safetensors  # noqa: E402

BN_MOMENTUM = 0.1
EPS = 1e-5
LOG_FLOOR = 1e-6  # Log op: log(max(x, 1e-6))
L2_EPS = 1e-12  # L2Normalize op: x / max(|x|, 1e-12), as F.normalize


# --------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------

_CONFIG_DEFAULTS = {"training": False, "dtype": "float64"}
_CONFIG_REQUIRED = ("model",)


def parse_config(raw):
    if not isinstance(raw, dict):
        raise ReferenceError_("config must be a JSON object")
    known = set(_CONFIG_DEFAULTS) | set(_CONFIG_REQUIRED)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ReferenceError_("config has unknown keys %s (known: %s)" % (unknown, sorted(known)))
    missing = [k for k in _CONFIG_REQUIRED if k not in raw]
    if missing:
        raise ReferenceError_("config is missing required keys %s" % missing)
    c = dict(_CONFIG_DEFAULTS)
    c.update(raw)
    if c["model"] not in MODELS:
        raise ReferenceError_("config model must be one of %s, got %r" % (sorted(MODELS), c["model"]))
    if not isinstance(c["training"], bool):
        raise ReferenceError_("config 'training' must be true or false, got %r" % (c["training"],))
    if c["dtype"] not in ("float64", "float32"):
        raise ReferenceError_("config dtype must be \"float64\" or \"float32\", got %r" % (c["dtype"],))
    return c


def encoder_config(width, heads, ff, depth=1):
    """A pre-norm GELU encoder with bias and key/value size width / heads, as every encoder layer here."""
    return er.parse_config({
        "width": width, "depth": depth, "heads": heads, "key_dim": width // heads, "value_dim": width // heads,
        "ff": ff, "norm": "pre", "causal": False, "eps": EPS, "activation": "gelu", "final_norm": False,
        "head_classes": 0, "bias": True, "dtype": "float64",
    })


# --------------------------------------------------------------------------------------
# Primitive ops with ModelGen's semantics (src/ModelGen/Ops/*.cs)
# --------------------------------------------------------------------------------------

class BatchNorm(nn.Module):
    """BatchNorm2d op: weight 1, bias 0, running_mean 0, running_var 1 (no num_batches_tracked, which ModelGen does
    not keep). Training: batch statistics (biased variance) and the running statistics move by momentum 0.1 towards
    the batch mean and the unbiased variance; eval: the running statistics."""

    def __init__(self, channels, gamma=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(gamma)))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training, momentum=BN_MOMENTUM, eps=EPS)


class GroupNorm(nn.Module):
    def __init__(self, groups, channels):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return F.group_norm(x, self.groups, self.weight, self.bias, eps=EPS)


def conv(cin, cout, kernel, stride=1, bias=True):
    """Conv2d op: zero padding (K − 1)/2 on every side (the attribute's default, and every block's choice)."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=bias)


def upsample(x, factor, nearest):
    """Upsample op. The output size is passed (not the factor) so that the source scale is in/out as ModelGen takes it."""
    size = (x.shape[2] * factor, x.shape[3] * factor)
    if nearest:
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def tokens_to_map(t, skip, h, w):
    """TokensToMap op: (B, skip + h·w, C) -> (B, C, h, w), map[b, c, i, j] = t[b, skip + i·w + j, c]."""
    return t[:, skip:].transpose(1, 2).reshape(t.shape[0], t.shape[2], h, w)


def map_to_tokens(x):
    """MapToTokens op: (B, C, H, W) -> (B, H·W, C), positions row-major."""
    return x.flatten(2).transpose(1, 2)


def log_floor(x):
    """Log op: log(max(x, 1e-6))."""
    return torch.log(torch.clamp(x, min=LOG_FLOOR))


class CrossAttention(er.Attention):
    """encoder_reference's attention with queries from x and keys/values from memory (MaskClassifier's cross-attention)."""

    def forward(self, x, memory):
        B, Nq, _ = x.shape
        Nk = memory.shape[1]
        H, dk, dv = self.heads, self.key_dim, self.value_dim
        if self.kv_heads != H:
            raise ReferenceError_("cross-attention here has kv_heads == heads")
        q = self.q_proj(x).reshape(B, Nq, H, dk).permute(0, 2, 1, 3)
        k = self.k_proj(memory).reshape(B, Nk, H, dk).permute(0, 2, 1, 3)
        v = self.v_proj(memory).reshape(B, Nk, H, dv).permute(0, 2, 1, 3)
        p = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dk), dim=-1)
        o = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(B, Nq, H * dv)
        return self.out_proj(o)


# --------------------------------------------------------------------------------------
# Blocks (Lower/Blocks/SpatialAttention.cs, Lower/Blocks/Decoders.cs)
# --------------------------------------------------------------------------------------

class SqueezeExcitation(nn.Module):
    """y = x·σ(fc2(ReLU(fc1(avgpool(x))))) per channel."""

    def __init__(self, channels, reduced):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.fc2 = nn.Conv2d(reduced, channels, 1)

    def forward(self, x):
        pooled = x.mean(dim=(2, 3), keepdim=True)                       # GlobalAvg (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(pooled))))   # BroadcastMultiply


class SpatialAttention(nn.Module):
    """CBAM: y = x·σ(conv([mean_c(x); max_c(x)])), the mean map first."""

    def __init__(self, kernel):
        super().__init__()
        self.conv = conv(2, 1, kernel, bias=False)

    def forward(self, x):
        avg = x.mean(dim=1, keepdim=True)                               # ChannelMean (B, 1, H, W)
        mx = x.max(dim=1, keepdim=True).values                          # ChannelMax (B, 1, H, W)
        return x * torch.sigmoid(self.conv(torch.cat([avg, mx], dim=1)))


class CoordinateAttention(nn.Module):
    """Rows (C, H, 1) and columns (C, 1, W) joined per channel into (C, H + W, 1), rows first; conv1 + BatchNorm +
    ReLU; split back into (C', H, 1) and (C', 1, W); y = x·σ(conv_h(·))·σ(conv_w(·))."""

    def __init__(self, channels, reduced):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, reduced, 1)
        self.bn1 = BatchNorm(reduced)
        self.conv_h = nn.Conv2d(reduced, channels, 1)
        self.conv_w = nn.Conv2d(reduced, channels, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        rows = x.mean(dim=3, keepdim=True)                              # MeanOverWidth (B, C, H, 1)
        cols = x.mean(dim=2, keepdim=True)                              # MeanOverHeight (B, C, 1, W)
        both = torch.cat([rows, cols.reshape(B, C, W, 1)], dim=2)       # Concat (B, C, H + W, 1)
        mixed = F.relu(self.bn1(self.conv1(both)))
        R = mixed.shape[1]
        mh = mixed[:, :, :H]                                            # Split (B, C', H, 1)
        mw = mixed[:, :, H:].reshape(B, R, 1, W)                        #       (B, C', 1, W)
        gh = torch.sigmoid(self.conv_h(mh))
        gw = torch.sigmoid(self.conv_w(mw))
        return (x * gh) * gw


class NonLocal(nn.Module):
    """y_i = Σ_j f(x_i, x_j)·g(x_j), z = BN(W·y) + x, the BatchNorm scale starting at 0. Affinity 0 embedded Gaussian
    softmax_j(θ_i·φ_j); 1 Gaussian softmax_j(x_i·x_j) (no θ, φ); 2 dot product θ_i·φ_j / N; 3 concatenation
    ReLU(w_θ·θ_i + w_φ·φ_j + b) / N (concat_theta with the bias, concat_phi without)."""

    def __init__(self, channels, reduced, affinity):
        super().__init__()
        self.affinity = affinity
        self.reduced = reduced
        self.g = nn.Conv2d(channels, reduced, 1)
        if affinity != 1:
            self.theta = nn.Conv2d(channels, reduced, 1)
            self.phi = nn.Conv2d(channels, reduced, 1)
        if affinity == 3:
            self.concat_theta = nn.Conv2d(reduced, 1, 1)
            self.concat_phi = nn.Conv2d(reduced, 1, 1, bias=False)
        self.w = nn.Conv2d(reduced, channels, 1)
        self.w_bn = BatchNorm(channels, gamma=0.0)

    def forward(self, x):
        B, C, H, W = x.shape
        n = H * W
        g = self.g(x).reshape(B, self.reduced, n)                       # (B, C', N)
        if self.affinity == 1:
            theta, phi = x, x
        else:
            theta, phi = self.theta(x), self.phi(x)
        if self.affinity == 3:
            a = self.concat_theta(theta).reshape(B, n, 1)
            b = self.concat_phi(phi).reshape(B, 1, n)
            f = F.relu(a + b) * (1.0 / n)                               # PairwiseSum, ReLU, Scale 1/N
        else:
            scores = torch.matmul(theta.flatten(2).transpose(1, 2), phi.flatten(2))   # θᵀφ (B, N, N)
            f = scores * (1.0 / n) if self.affinity == 2 else torch.softmax(scores, dim=-1)
        y = torch.matmul(g, f.transpose(1, 2)).reshape(B, self.reduced, H, W)        # g·fᵀ (B, C', N)
        return self.w_bn(self.w(y)) + x


class SetrStage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = conv(cin, cout, 3, bias=False)
        self.bn = BatchNorm(cout)


class SetrDecoder(nn.Module):
    """SETR-PUP: tokens -> map; per factor Conv3×3 (no bias) -> BatchNorm -> ReLU -> bilinear ×factor; 1×1 classifier."""

    def __init__(self, width, channels, factors, classes, skip, grid):
        super().__init__()
        self.skip, self.grid, self.factors = skip, grid, factors
        ins = [width] + channels[:-1]
        self.stages = nn.ModuleList([SetrStage(i, o) for i, o in zip(ins, channels)])
        self.classifier = nn.Conv2d(channels[-1], classes, 1)

    def forward(self, tokens):
        x = tokens_to_map(tokens, self.skip, *self.grid)
        for stage, factor in zip(self.stages, self.factors):
            x = upsample(F.relu(stage.bn(stage.conv(x))), factor, nearest=False)
        return self.classifier(x)


class MaskTransformer(nn.Module):
    """Segmenter's decoder: proj_dec, learned class tokens appended, pre-norm layers, decoder_norm; cosine scores of the
    L2-normalised projected patches with the class tokens, LayerNorm over the classes, to the grid, bilinear up."""

    def __init__(self, dim, width, heads, depth, classes, skip, grid, factor):
        super().__init__()
        self.skip, self.grid, self.factor, self.classes = skip, grid, factor, classes
        self.proj_dec = nn.Linear(dim, width)
        self.cls_emb = nn.Parameter(torch.zeros(1, classes, width))
        self.blocks = nn.ModuleList([er.EncoderLayer(encoder_config(width, heads, 4 * width)) for _ in range(depth)])
        self.decoder_norm = nn.LayerNorm(width, eps=EPS)
        self.proj_patch = nn.Linear(width, width, bias=False)
        self.proj_classes = nn.Linear(width, width, bias=False)
        self.mask_norm = nn.LayerNorm(classes, eps=EPS)

    def forward(self, x):
        B = x.shape[0]
        n = self.grid[0] * self.grid[1]
        t = self.proj_dec(x[:, self.skip:])
        t = torch.cat([t, self.cls_emb.expand(B, -1, -1)], dim=1)        # LearnedTokens, appended
        for block in self.blocks:
            t = block(t)
        t = self.decoder_norm(t)
        patches, tokens = t[:, :n], t[:, n:]
        p = F.normalize(self.proj_patch(patches), dim=-1, eps=L2_EPS)
        c = F.normalize(self.proj_classes(tokens), dim=-1, eps=L2_EPS)
        masks = self.mask_norm(torch.matmul(p, c.transpose(1, 2)))      # (B, N, K)
        return upsample(tokens_to_map(masks, 0, *self.grid), self.factor, nearest=False)


class MaskDecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm1 = nn.LayerNorm(c["width"], eps=EPS)
        self.self_attn = er.Attention(c)
        self.norm2 = nn.LayerNorm(c["width"], eps=EPS)
        self.cross_attn = CrossAttention(c)
        self.norm3 = nn.LayerNorm(c["width"], eps=EPS)
        self.mlp = er.MLP(c)

    def forward(self, q, patches):
        q = q + self.self_attn(self.norm1(q))
        q = q + self.cross_attn(self.norm2(q), patches)                # keys and values: the raw patch tokens
        return q + self.mlp(self.norm3(q))


class MaskClassifier(nn.Module):
    """MaskFormer-style: queries through decoder layers; per query softmax over K + 1 (the last, "no object", dropped)
    and a mask σ(mask_embed(q)·pixel_embed(patch)); log max(Σ_i p_i[k]·M_i(x), 1e-6) after bilinear upsampling."""

    def __init__(self, width, heads, depth, classes, queries, skip, grid, factor):
        super().__init__()
        self.skip, self.grid, self.factor, self.classes = skip, grid, factor, classes
        c = encoder_config(width, heads, 4 * width)
        self.pixel_embed = nn.Linear(width, width)
        self.query_embed = nn.Parameter(torch.zeros(1, queries, width))
        self.layers = nn.ModuleList([MaskDecoderLayer(c) for _ in range(depth)])
        self.norm = nn.LayerNorm(width, eps=EPS)
        self.class_embed = nn.Linear(width, classes + 1)
        self.mask_embed = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x):
        B = x.shape[0]
        patches = x[:, self.skip:]
        pixels = self.pixel_embed(patches)                              # (B, N, D)
        q = self.query_embed.expand(B, -1, -1)
        for layer in self.layers:
            q = layer(q, patches)
        q = self.norm(q)
        probs = torch.softmax(self.class_embed(q), dim=-1)[..., :self.classes]   # (B, Q, K)
        masks = torch.sigmoid(torch.matmul(self.mask_embed(q), pixels.transpose(1, 2)))   # (B, Q, N)
        semantic = torch.matmul(probs.transpose(1, 2), masks).reshape(B, self.classes, *self.grid)
        return log_floor(upsample(semantic, self.factor, nearest=False))


# --------------------------------------------------------------------------------------
# The models of SegmentationTestModels.cs
# --------------------------------------------------------------------------------------

def _vit_parts(model, class_token):
    """embed (PatchEmbedding(4, 16) on a 1×16×16 image), [cls], pos, encoder (1 layer, 2 heads, ff 32)."""
    c = {"image": [1, 16, 16], "patch": 4, "width": 16, "class_token": class_token}
    model.embed = vr.PatchEmbed(c)
    if class_token:
        model.cls = vr.ClassToken(c)
    model.pos = vr.Positions(c)
    model.encoder = er.Encoder(encoder_config(16, 2, 32))


def _vit_forward(model, image):
    x = model.embed(image)
    if hasattr(model, "cls"):
        x = model.cls(x)
    return model.encoder(model.pos(x))


class TinySetr(nn.Module):
    INPUT, SHAPE = "image", [1, 16, 16]

    def __init__(self):
        super().__init__()
        _vit_parts(self, class_token=False)
        self.norm = nn.LayerNorm(16, eps=EPS)
        self.decoder = SetrDecoder(16, [8, 8], [2, 2], 3, skip=0, grid=(4, 4))

    def forward(self, image):
        return self.decoder(self.norm(_vit_forward(self, image)))


class TinySegmenter(nn.Module):
    INPUT, SHAPE = "image", [1, 16, 16]

    def __init__(self):
        super().__init__()
        _vit_parts(self, class_token=True)
        self.norm = nn.LayerNorm(16, eps=EPS)
        self.decoder = MaskTransformer(16, 8, heads=2, depth=1, classes=3, skip=1, grid=(4, 4), factor=4)

    def forward(self, image):
        return self.decoder(self.norm(_vit_forward(self, image)))


class TinyMaskFormer(nn.Module):
    INPUT, SHAPE = "image", [1, 16, 16]

    def __init__(self):
        super().__init__()
        _vit_parts(self, class_token=False)
        self.head = MaskClassifier(16, heads=2, depth=1, classes=3, queries=4, skip=0, grid=(4, 4), factor=4)

    def forward(self, image):
        return self.head(_vit_forward(self, image))


class SpatialBlocks(nn.Module):
    INPUT, SHAPE = "x", [4, 6, 5]

    def __init__(self):
        super().__init__()
        self.conv = conv(4, 8, 3)
        self.bn = BatchNorm(8)
        self.se = SqueezeExcitation(8, 2)
        self.sa = SpatialAttention(3)
        self.ca = CoordinateAttention(8, 2)
        self.nl = NonLocal(8, 4, affinity=0)
        self.gn = GroupNorm(2, 8)
        self.down = conv(8, 6, 3, stride=2)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.nl(self.ca(self.sa(self.se(x))))
        x = upsample(self.gn(x), 2, nearest=True)
        x = F.max_pool2d(x, 2)
        x = F.avg_pool2d(self.down(x), 1)
        return torch.sigmoid(x)


class NonLocalVariants(nn.Module):
    INPUT, SHAPE = "x", [6, 4, 3]

    def __init__(self):
        super().__init__()
        self.gaussian = NonLocal(6, 2, affinity=1)
        self.dot = NonLocal(6, 3, affinity=2)
        self.concat = NonLocal(6, 3, affinity=3)
        self.cls = vr.ClassToken({"width": 6})
        self.head = nn.Conv2d(6, 2, 1)

    def forward(self, x):
        x = self.concat(self.dot(self.gaussian(x)))
        t = self.cls(map_to_tokens(x))
        return self.head(tokens_to_map(t, 1, 4, 3))


MODELS = {
    "tiny_setr": TinySetr,
    "tiny_segmenter": TinySegmenter,
    "tiny_maskformer": TinyMaskFormer,
    "spatial_blocks": SpatialBlocks,
    "nonlocal_variants": NonLocalVariants,
}


# --------------------------------------------------------------------------------------
# Running the oracle
# --------------------------------------------------------------------------------------

def run_reference(c, weights, inputs):
    """Returns (dict of output tensors, summary dict)."""
    dtype = er.torch_dtype(c)
    cls = MODELS[c["model"]]
    name = cls.INPUT
    known = {name, "grad_output"}
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise ReferenceError_("inputs contain unknown tensors %s (known for %s: %s)" % (unknown, c["model"], sorted(known)))
    if name not in inputs:
        raise ReferenceError_("inputs are missing %r" % name)
    x = inputs[name]
    if x.dim() != 4 or list(x.shape[1:]) != cls.SHAPE:
        raise ReferenceError_("%s has shape %s, expected (B, %d, %d, %d)" % ((name, list(x.shape)) + tuple(cls.SHAPE)))
    if not x.is_floating_point():
        raise ReferenceError_("%s has non-floating dtype %s" % (name, x.dtype))
    er.check_finite(name, x)

    torch.manual_seed(0)
    model = cls().to(dtype)
    er.load_weights(model, weights, dtype)
    model.train(c["training"])

    xin = x.to(dtype).detach().requires_grad_(True)
    out = model(xin)
    er.check_finite("output", out)
    result = {"output": out.detach()}
    if c["training"]:
        for bname, b in model.named_buffers():
            result["value." + bname] = b.detach().clone()

    has_grad = "grad_output" in inputs
    if has_grad:
        go = inputs["grad_output"]
        if tuple(go.shape) != tuple(out.shape):
            raise ReferenceError_("grad_output has shape %s, expected the output shape %s" % (list(go.shape), list(out.shape)))
        out.backward(go.to(dtype))
        gx = xin.grad if xin.grad is not None else torch.zeros_like(xin)
        er.check_finite("grad." + name, gx)
        result["grad." + name] = gx.detach()
        for pname, p in model.named_parameters():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            er.check_finite("grad." + pname, g)
            result["grad." + pname] = g.detach()

    summary = {
        "ok": True,
        "model": c["model"],
        "training": c["training"],
        "dtype": c["dtype"],
        "input_shape": list(x.shape),
        "output_shape": list(out.shape),
        "parameters": len(list(model.parameters())),
        "buffers": len(list(model.buffers())),
        "grads": has_grad,
        "max_abs_output": float(out.detach().abs().max()) if out.numel() else 0.0,
    }
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
# Self-test: each block against its paper's / reference code's layout, written independently
# --------------------------------------------------------------------------------------

def _randomize(model, gen):
    er._randomize(model, gen)
    with torch.no_grad():
        for n, b in model.named_buffers():
            if n.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen, dtype=torch.float64))
            else:
                b.copy_(torch.randn(b.shape, generator=gen, dtype=torch.float64) * 0.3)


def _coord_att_hou(m, x):
    """Hou et al.'s CoordAtt.forward (adaptive pools, permute, cat, split, permute back), with ReLU for h_swish."""
    n, c, h, w = x.shape
    x_h = F.adaptive_avg_pool2d(x, (h, 1))
    x_w = F.adaptive_avg_pool2d(x, (1, w)).permute(0, 1, 3, 2)
    y = F.relu(m.bn1(m.conv1(torch.cat([x_h, x_w], dim=2))))
    x_h, x_w = torch.split(y, [h, w], dim=2)
    x_w = x_w.permute(0, 1, 3, 2)
    return x * torch.sigmoid(m.conv_w(x_w)) * torch.sigmoid(m.conv_h(x_h))


def _nonlocal_wang(m, x):
    """The reference non-local block layout (view/permute/matmul; concatenation by repeating θ and φ to (2C', N, N)
    and one 1×1 projection of the pair)."""
    b, c, h, w = x.shape
    n, r = h * w, m.reduced
    g_x = m.g(x).view(b, r, -1).permute(0, 2, 1)
    if m.affinity == 3:
        theta_x = m.theta(x).view(b, r, -1, 1).repeat(1, 1, 1, n)
        phi_x = m.phi(x).view(b, r, 1, -1).repeat(1, 1, n, 1)
        weight = torch.cat([m.concat_theta.weight, m.concat_phi.weight], dim=1)
        f = F.relu(F.conv2d(torch.cat([theta_x, phi_x], dim=1), weight, m.concat_theta.bias)).view(b, n, n) / n
    else:
        src_t, src_p = (x, x) if m.affinity == 1 else (m.theta(x), m.phi(x))
        f = torch.matmul(src_t.view(b, src_t.shape[1], -1).permute(0, 2, 1), src_p.view(b, src_p.shape[1], -1))
        f = f / n if m.affinity == 2 else F.softmax(f, dim=-1)
    y = torch.matmul(f, g_x).permute(0, 2, 1).contiguous().view(b, r, h, w)
    return m.w_bn(m.w(y)) + x


def _segmenter_strudel(m, x):
    """Segmenter's MaskTransformer.forward (segm/model/decoder.py) with Linear projections, then its bilinear upsampling."""
    gs_h, gs_w = m.grid
    t = m.proj_dec(x[:, m.skip:])
    t = torch.cat((t, m.cls_emb.expand(t.size(0), -1, -1)), 1)
    for blk in m.blocks:
        t = blk(t)
    t = m.decoder_norm(t)
    patches, cls_seg_feat = t[:, :-m.classes], t[:, -m.classes:]
    patches = patches @ m.proj_patch.weight.t()
    cls_seg_feat = cls_seg_feat @ m.proj_classes.weight.t()
    patches = patches / patches.norm(dim=-1, keepdim=True)
    cls_seg_feat = cls_seg_feat / cls_seg_feat.norm(dim=-1, keepdim=True)
    masks = m.mask_norm(patches @ cls_seg_feat.transpose(1, 2))
    masks = masks.transpose(1, 2).reshape(masks.shape[0], m.classes, gs_h, gs_w)
    return F.interpolate(masks, scale_factor=m.factor, mode="bilinear", align_corners=False)


def _bilinear_by_formula(x, factor):
    """ModelGen's documented bilinear rule: src = max((dst + 0.5)·in/out − 0.5, 0), i1 = min(i0 + 1, in − 1)."""
    B, C, H, W = x.shape

    def axis(n_in):
        n_out = n_in * factor
        src = torch.clamp((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5, min=0)
        i0 = src.floor().long()
        i1 = torch.clamp(i0 + 1, max=n_in - 1)
        return i0, i1, src - i0

    h0, h1, lh = axis(H)
    w0, w1, lw = axis(W)
    lh, lw = lh.view(-1, 1), lw.view(1, -1)

    def at(hi, wi):
        return x[:, :, hi][:, :, :, wi]

    return (1 - lh) * ((1 - lw) * at(h0, w0) + lw * at(h0, w1)) + lh * ((1 - lw) * at(h1, w0) + lw * at(h1, w1))


def _assert_close_rel(what, a, b, tol):
    """Max abs difference within tol times max(1, max |b|): the files hold F32."""
    return er._assert_close(what, a, b, tol * max(1.0, float(b.abs().max()) if b.numel() else 0.0))


def _expect_error(what, fn, *needles):
    try:
        fn()
    except ReferenceError_ as e:
        for n in needles:
            if n not in str(e):
                raise ReferenceError_("self-test: %s: message lacks %r: %s" % (what, n, e))
        return
    raise ReferenceError_("self-test: %s was accepted" % what)


def self_test():
    gen = torch.Generator().manual_seed(2718)
    report = []
    tol = 1e-12

    # (a) blocks vs their reference layouts, in both BatchNorm modes (eval first: training moves running stats).
    ca = CoordinateAttention(8, 2).double()
    nls = [NonLocal(6, 2, a).double() for a in (0, 1, 2)] + [NonLocal(6, 3, 3).double()]
    for m in [ca] + nls:
        _randomize(m, gen)
    x8 = torch.randn(3, 8, 6, 5, generator=gen, dtype=torch.float64)
    x6 = torch.randn(2, 6, 4, 3, generator=gen, dtype=torch.float64)
    errs = []
    for training in (False, True):
        for m, x, ref, what in [(ca, x8, _coord_att_hou, "coordinate attention")] + \
                               [(m, x6, _nonlocal_wang, "non-local affinity %d" % m.affinity) for m in nls]:
            a = m.train(False)(x) if not training else None
            if training:
                # Each training call moves the running statistics; compare outputs from equal starting states.
                state = {k: v.clone() for k, v in m.state_dict().items()}
                a = m.train(True)(x)
                m.load_state_dict(state)
                b = ref(m, x)
                m.load_state_dict(state)
            else:
                b = ref(m, x)
            errs.append(er._assert_close("%s (training=%s) vs reference layout" % (what, training), a, b, tol))
    report.append("coordinate attention vs Hou et al., non-local (4 affinities) vs Wang et al. layout (%.1e)" % max(errs))

    # (b) Segmenter's mask head vs the Segmenter code; bilinear upsampling vs ModelGen's documented rule.
    mt = MaskTransformer(16, 8, heads=2, depth=2, classes=3, skip=1, grid=(2, 3), factor=4).double()
    _randomize(mt, gen)
    t = torch.randn(2, 7, 16, generator=gen, dtype=torch.float64)
    e_seg = er._assert_close("mask transformer vs Segmenter", mt(t), _segmenter_strudel(mt, t), tol)
    xs = torch.randn(2, 3, 5, 4, generator=gen, dtype=torch.float64)
    e_up = max(er._assert_close("bilinear ×%d vs documented rule" % f, upsample(xs, f, False), _bilinear_by_formula(xs, f), tol)
               for f in (2, 3, 4))
    e_near = er._assert_close("nearest ×2 vs repeat", upsample(xs, 2, True),
                              xs.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3), 0.0)
    report.append("mask transformer vs Segmenter (%.1e), bilinear vs documented rule (%.1e), nearest (%.1e)" % (e_seg, e_up, e_near))

    # (c) the BatchNorm op's running-statistics update, by hand (unbiased variance, momentum 0.1).
    bn = BatchNorm(4).double()
    _randomize(bn, gen)
    xb = torch.randn(3, 4, 2, 5, generator=gen, dtype=torch.float64)
    m0, v0 = bn.running_mean.clone(), bn.running_var.clone()
    yb = bn.train()(xb)
    mean, var = xb.mean(dim=(0, 2, 3)), xb.var(dim=(0, 2, 3), unbiased=False)
    n = xb.numel() / 4
    e_rm = er._assert_close("running_mean", bn.running_mean, 0.9 * m0 + 0.1 * mean, tol)
    e_rv = er._assert_close("running_var", bn.running_var, 0.9 * v0 + 0.1 * var * n / (n - 1), tol)
    e_y = er._assert_close("batch-normalised", yb, ((xb - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + EPS))
                           * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1), tol)
    report.append("BatchNorm by hand (y %.1e, running_mean %.1e, running_var %.1e)" % (e_y, e_rm, e_rv))

    # (d) end-to-end through files (the code path the C# tests use), every model, both modes.
    with tempfile.TemporaryDirectory() as d:
        paths = [os.path.join(d, n) for n in ("c.json", "w.safetensors", "i.safetensors", "o.safetensors")]
        for name, cls in sorted(MODELS.items()):
            for training in (True, False):
                model = cls().double()
                _randomize(model, gen)
                weights = {k: v.float() for k, v in model.state_dict().items()}
                x = torch.randn([2] + cls.SHAPE, generator=gen)
                with torch.no_grad():
                    shape = model.train(training)(x.double()).shape
                go = torch.randn(shape, generator=gen)
                with open(paths[0], "w") as fh:
                    json.dump({"model": name, "training": training}, fh)
                write_safetensors(paths[1], weights)
                write_safetensors(paths[2], {cls.INPUT: x, "grad_output": go})
                with contextlib.redirect_stdout(io.StringIO()):
                    main_run(*paths)
                out, _ = read_safetensors(paths[3])
                expected = {"output", "grad." + cls.INPUT} | {"grad." + n for n, _ in model.named_parameters()}
                if training:
                    expected |= {"value." + n for n, _ in model.named_buffers()}
                if set(out) != expected:
                    raise ReferenceError_("self-test end-to-end %s: output names differ: %s" % (name, sorted(set(out) ^ expected)))
                m64 = cls().double()
                m64.load_state_dict({k: v.double() for k, v in weights.items()}, strict=True)
                x64 = x.double().requires_grad_(True)
                o64 = m64.train(training)(x64)
                o64.backward(go.double())
                _assert_close_rel("end-to-end %s output" % name, out["output"].double(), o64, 1e-5)
                _assert_close_rel("end-to-end %s grad" % name, out["grad." + cls.INPUT].double(), x64.grad, 1e-5)
                for n, p in m64.named_parameters():
                    _assert_close_rel("end-to-end %s grad.%s" % (name, n), out["grad." + n].double(), p.grad, 1e-5)
                if training:
                    for n, b in m64.named_buffers():
                        _assert_close_rel("end-to-end %s value.%s" % (name, n), out["value." + n].double(), b, 1e-5)
        report.append("end-to-end file run (%d models, training and eval)" % len(MODELS))

    # (e) error paths fail loudly.
    _expect_error("unknown model", lambda: parse_config({"model": "tiny_unet"}), "tiny_unet")
    _expect_error("unknown config key", lambda: parse_config({"model": "tiny_setr", "train": True}), "train")
    _expect_error("training not a bool", lambda: parse_config({"model": "tiny_setr", "training": 1}), "training")
    c = parse_config({"model": "spatial_blocks", "training": True})
    good = dict(SpatialBlocks().state_dict())
    _expect_error("wrong input shape", lambda: run_reference(c, good, {"x": torch.zeros(1, 4, 5, 6)}), "x has shape")
    _expect_error("wrong input name", lambda: run_reference(c, good, {"image": torch.zeros(1, 4, 6, 5)}), "unknown")
    w = dict(good)
    del w["bn.running_var"]
    _expect_error("missing running statistic", lambda: run_reference(c, w, {"x": torch.zeros(2, 4, 6, 5)}), "bn.running_var")
    w = dict(good)
    w["nl.w_bn.gamma"] = w.pop("nl.w_bn.weight")
    _expect_error("misnamed weight", lambda: run_reference(c, w, {"x": torch.zeros(2, 4, 6, 5)}), "nl.w_bn.weight", "nl.w_bn.gamma")
    _expect_error("wrong grad_output shape", lambda: run_reference(c, good, {"x": torch.randn(2, 4, 6, 5),
                                                                           "grad_output": torch.zeros(2, 6, 3)}), "grad_output")
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
        sys.stderr.write("segmentation_reference: error: %s\n" % e)
        return 1
    except Exception:  # noqa: BLE001 - any unexpected failure must still exit non-zero, loudly
        sys.stderr.write("segmentation_reference: unexpected error:\n")
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
