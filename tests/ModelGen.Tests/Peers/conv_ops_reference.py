#!/usr/bin/env python3
"""PyTorch reference ("oracle") for ModelGen's convolution, normalization and pooling ops (src/ModelGen/Ops).

Usage:
    python3 conv_ops_reference.py CONFIG.json INPUTS.safetensors OUT.safetensors

CONFIG.json: {"op": NAME, ...}; unknown keys are rejected so that a typo cannot fall back to a default.
    conv2d         stride, padding                 inputs x, weight, [bias], grad_output
    batch_norm2d   training, eps, momentum         inputs x, weight, bias, running_mean, running_var, grad_output
    group_norm     groups, eps                     inputs x, weight, bias, grad_output
    max_pool2d     kernel, stride                  inputs x, grad_output
    avg_pool2d     kernel, stride                  inputs x, grad_output
    global_avg | global_max | channel_mean | channel_max | mean_over_width | mean_over_height
                                                   inputs x, grad_output
    rotary         heads, theta                    inputs x (B, N, heads*d), grad_output: RoPE by complex multiplication
    performer      heads, kv_heads, causal, theta  inputs x, {q,k,v,out}_proj.{weight,bias}, projection_matrix, grad_output:
                                                   FAVOR+ attention written from the paper (theta > 0: RoPE first)
    transformer    heads, feed_forward, encoder_layers, decoder_layers, norm_first, activation, causal
                                                   inputs src, tgt, ModelGen's encoder./decoder. weights, grad_output: nn.Transformer
    language_model heads, feed_forward, layers, padding
                                                   inputs ids, embed/pos/blocks/norm/head weights, grad_output: nn.Embedding,
                                                   a causal nn.TransformerEncoder, nn.LayerNorm, an nn.Linear tied to the embedding
    adaptive_span  heads, max_span, ramp, causal  inputs x, {q,k,v,out}_proj.{weight,bias}, span, grad_output: the paper's
                                                   masked weights m e^s / sum m e^s
    shaw_attention heads, max_distance, causal     inputs x, {q,k,v,out}_proj.{weight,bias}, relative_keys.weight, grad_output:
                                                   Shaw's relative keys in the scores, written from the paper
    sparse_attention heads, kv_heads, block, causal, theta
                                                   inputs x, {q,k,v,out}_proj.{weight,bias}, block_mask (blocks, blocks),
                                                   grad_output: dense softmax attention under the block pattern's mask
    rotary_attention heads, theta                  inputs x, {q,k,v,out}_proj.{weight,bias}, grad_output: multi-head
                                                   self-attention with RoPE on queries and keys, written out by hand
    reformer       heads, buckets, rounds, chunk, causal
                                                   inputs x, {qk,v,out}_proj.{weight,[bias]}, rotations, [padding], grad_output:
                                                   LSH attention as the authors' code computes it (a softmax per round and chunk)
    patch_merging  height, width                   inputs x (B, H·W, C), norm.{weight,bias}, reduction.weight, grad_output:
                                                   torchvision's Swin PatchMerging
    zoo            model, seed                     inputs x, [padding | tgt]: a zoo model (torchvision_vit, timm_vit, nn_encoder,
                                                   nn_transformer) with random weights; OUT "state.<name>" its state dict, "output"
OUT: "output", "grad.<input>" for x and every parameter, and for batch_norm2d the updated "running_mean" and
"running_var"; all F32. The computation runs in float64 on the given float32 values.

Only torch and the standard library are used; the safetensors format is read and written by hand.
"""

import array
import json
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    data = memoryview(blob)[8 + n:]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise SystemExit("%s: tensor %r is %s, expected F32" % (path, name, info["dtype"]))
        begin, end = info["data_offsets"]
        shape = info["shape"]
        if end == begin:
            tensors[name] = torch.zeros(shape, dtype=torch.float32)
        else:
            tensors[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32).clone().reshape(shape)
    return tensors


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        b = array.array("f", t.reshape(-1).tolist()).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


OPS = {
    "conv2d": {"stride", "padding"},
    "batch_norm2d": {"training", "eps", "momentum"},
    "group_norm": {"groups", "eps"},
    "max_pool2d": {"kernel", "stride"},
    "avg_pool2d": {"kernel", "stride"},
    "global_avg": set(),
    "global_max": set(),
    "channel_mean": set(),
    "channel_max": set(),
    "mean_over_width": set(),
    "mean_over_height": set(),
    "rotary": {"heads", "theta"},
    "rotary_attention": {"heads", "theta"},
    "biased_attention": {"heads", "causal", "positions", "buckets", "max_distance", "mask"},
    "t5_buckets": {"queries", "keys", "buckets", "max_distance", "bidirectional"},
    "decoder": {"heads", "feed_forward", "layers", "norm_first", "activation", "causal"},
    "linformer": {"heads", "kv_heads", "share_kv"},
    "performer": {"heads", "kv_heads", "causal", "theta"},
    "sparse_attention": {"heads", "kv_heads", "block", "causal", "theta"},
    "reformer": {"heads", "buckets", "rounds", "chunk", "causal"},
    "zoo": {"model", "seed"},
    "patch_merging": {"height", "width"},
    "shaw_attention": {"heads", "max_distance", "causal"},
    "adaptive_span": {"heads", "max_span", "ramp", "causal"},
    "transformer": {"heads", "feed_forward", "encoder_layers", "decoder_layers", "norm_first", "activation", "causal"},
    "language_model": {"heads", "feed_forward", "layers", "padding"},
    "additive_attention": set(),
    "location_attention": set(),
}


def load_attention(attention, w, prefix):
    """nn.MultiheadAttention's packed in_proj from separate q, k, v projections."""
    with torch.no_grad():
        attention.in_proj_weight.copy_(torch.cat([w[prefix + n + "_proj.weight"] for n in "qkv"]))
        attention.in_proj_bias.copy_(torch.cat([w[prefix + n + "_proj.bias"] for n in "qkv"]))
        attention.out_proj.weight.copy_(w[prefix + "out_proj.weight"])
        attention.out_proj.bias.copy_(w[prefix + "out_proj.bias"])


def attention_grads(attention, prefix, out):
    E = attention.embed_dim
    for i, n in enumerate("qkv"):
        out["grad." + prefix + n + "_proj.weight"] = attention.in_proj_weight.grad[i * E:(i + 1) * E]
        out["grad." + prefix + n + "_proj.bias"] = attention.in_proj_bias.grad[i * E:(i + 1) * E]
    out["grad." + prefix + "out_proj.weight"] = attention.out_proj.weight.grad
    out["grad." + prefix + "out_proj.bias"] = attention.out_proj.bias.grad


def t5_bucket(relative_position, bidirectional, num_buckets, max_distance):
    """T5's relative position buckets, as the T5 paper's PyTorch port computes them (float32 logarithms)."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (
        torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, large)


def t5_index(queries, keys, buckets, max_distance, bidirectional):
    relative = torch.arange(keys)[None, :] - torch.arange(queries)[:, None]
    return t5_bucket(relative, bidirectional, buckets, max_distance)


def alibi_slopes(n):
    """ALiBi's head slopes as the paper's code writes them."""
    def power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][: n - closest]


def rope(t, theta):
    """(B, N, H, d) rotated as RoFormer and LLaMA write it: feature pairs (2i, 2i+1) as complex numbers times e^{i p theta_i}."""
    B, N, H, d = t.shape
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.outer(torch.arange(N, dtype=torch.float64), inv)
    z = torch.view_as_complex(t.reshape(B, N, H, d // 2, 2).contiguous())
    rotated = z * torch.polar(torch.ones_like(angles), angles)[None, :, None, :]
    return torch.view_as_real(rotated).reshape(B, N, H, d)


def leaf(t):
    return t.to(torch.float64).clone().requires_grad_(True)


def projections(inputs, grads):
    """The q, k, v and out projections' weights and biases as float64 leaves, each also recorded for its gradient."""
    w = {}
    for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
        for part in ("weight", "bias"):
            w[p + "." + part] = grads[p + "." + part] = leaf(inputs[p + "." + part])
    return w


def run(config, inputs):
    op = config.pop("op", None)
    if op not in OPS:
        raise SystemExit("unknown op %r (known: %s)" % (op, ", ".join(sorted(OPS))))
    extra = set(config) - OPS[op]
    missing = OPS[op] - set(config)
    if extra or missing:
        raise SystemExit("op %s: unknown keys %s, missing keys %s" % (op, sorted(extra), sorted(missing)))
    if op == "t5_buckets":
        index = t5_index(config["queries"], config["keys"], config["buckets"], config["max_distance"], config["bidirectional"])
        return {"index": index.to(torch.float64)}
    if op == "decoder":
        return run_decoder(config, inputs)
    if op == "transformer":
        return run_transformer(config, inputs)
    if op == "language_model":
        return run_language_model(config, inputs)
    if op == "zoo":
        return run_zoo(config, inputs)
    x = leaf(inputs["x"])
    grads = {"x": x}
    out = {}
    if op == "conv2d":
        w = leaf(inputs["weight"])
        grads["weight"] = w
        b = None
        if "bias" in inputs:
            b = leaf(inputs["bias"])
            grads["bias"] = b
        y = F.conv2d(x, w, b, stride=config["stride"], padding=config["padding"])
    elif op == "batch_norm2d":
        m = nn.BatchNorm2d(x.shape[1], eps=config["eps"], momentum=config["momentum"]).double()
        with torch.no_grad():
            m.weight.copy_(inputs["weight"])
            m.bias.copy_(inputs["bias"])
            m.running_mean.copy_(inputs["running_mean"])
            m.running_var.copy_(inputs["running_var"])
        m.train(config["training"])
        grads["weight"], grads["bias"] = m.weight, m.bias
        y = m(x)
        out["running_mean"], out["running_var"] = m.running_mean, m.running_var
    elif op == "group_norm":
        w, b = leaf(inputs["weight"]), leaf(inputs["bias"])
        grads["weight"], grads["bias"] = w, b
        y = F.group_norm(x, config["groups"], w, b, eps=config["eps"])
    elif op == "max_pool2d":
        y = F.max_pool2d(x, config["kernel"], config["stride"])
    elif op == "avg_pool2d":
        y = F.avg_pool2d(x, config["kernel"], config["stride"])
    elif op == "global_avg":
        y = F.adaptive_avg_pool2d(x, 1)
    elif op == "global_max":
        y = F.adaptive_max_pool2d(x, 1)
    elif op == "channel_mean":
        y = x.mean(dim=1, keepdim=True)
    elif op == "channel_max":
        y = x.max(dim=1, keepdim=True)[0]
    elif op == "mean_over_width":
        y = F.adaptive_avg_pool2d(x, (None, 1))
    elif op == "rotary":
        B, N, E = x.shape
        H = config["heads"]
        y = rope(x.reshape(B, N, H, E // H), config["theta"]).reshape(B, N, E)
    elif op == "rotary_attention":
        B, N, E = x.shape
        H = config["heads"]
        d = E // H
        w = projections(inputs, grads)
        def project(p):
            return F.linear(x, w[p + ".weight"], w[p + ".bias"]).reshape(B, N, H, d)
        q = rope(project("q_proj"), config["theta"]).transpose(1, 2)
        k = rope(project("k_proj"), config["theta"]).transpose(1, 2)
        v = project("v_proj").transpose(1, 2)
        probs = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, dim=-1)
        o = (probs @ v).transpose(1, 2).reshape(B, N, E)
        y = F.linear(o, w["out_proj.weight"], w["out_proj.bias"])
    elif op in ("additive_attention", "location_attention"):
        # Bahdanau: e_ij = v . tanh(W q_i + U k_j); Luong's location: e_i = W_a s_i; then softmax over keys and the sum of keys.
        memory = grads["memory"] = leaf(inputs["memory"])
        if op == "additive_attention":
            W = grads["q_proj.weight"] = leaf(inputs["q_proj.weight"])
            b = grads["q_proj.bias"] = leaf(inputs["q_proj.bias"])
            U = grads["k_proj.weight"] = leaf(inputs["k_proj.weight"])
            v = grads["v.weight"] = leaf(inputs["v.weight"])
            e = (torch.tanh(F.linear(x, W, b)[:, :, None, :] + F.linear(memory, U)[:, None, :, :]) * v[0]).sum(-1)
        else:
            Wa = grads["location.weight"] = leaf(inputs["location.weight"])
            ba = grads["location.bias"] = leaf(inputs["location.bias"])
            e = F.linear(x, Wa, ba)
        if "padding" in inputs:
            e = e.masked_fill(inputs["padding"][:, None, :] != 0, float("-inf"))
        y = torch.softmax(e, dim=-1) @ memory
    elif op == "linformer":
        # Linformer as the paper writes it: K' = E·K, V' = F·V along the tokens (F = E when shared), then softmax attention.
        B, N, E = x.shape
        H, G = config["heads"], config["kv_heads"]
        w = projections(inputs, grads)
        e = grads["e_proj.weight"] = leaf(inputs["e_proj.weight"])
        f = e if config["share_kv"] else leaf(inputs["f_proj.weight"])
        if not config["share_kv"]:
            grads["f_proj.weight"] = f
        d = w["q_proj.weight"].shape[0] // H
        q = F.linear(x, w["q_proj.weight"], w["q_proj.bias"]).reshape(B, N, H, d).transpose(1, 2)
        k = torch.einsum("kn,bnc->bkc", e, F.linear(x, w["k_proj.weight"], w["k_proj.bias"]))
        v = torch.einsum("kn,bnc->bkc", f, F.linear(x, w["v_proj.weight"], w["v_proj.bias"]))
        K = k.shape[1]
        k = k.reshape(B, K, G, d).transpose(1, 2).repeat_interleave(H // G, dim=1)
        v = v.reshape(B, K, G, -1).transpose(1, 2).repeat_interleave(H // G, dim=1)
        probs = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, dim=-1)
        o = (probs @ v).transpose(1, 2).reshape(B, N, -1)
        y = F.linear(o, w["out_proj.weight"], w["out_proj.bias"])
    elif op == "performer":
        # FAVOR+ as the Performer paper writes it: phi(x) = exp(w.x' - |x'|^2/2 - c) / sqrt(m) with x' = d^(-1/4) x and the
        # stabiliser c (a query's own largest exponent, a head's over all its keys) detached, as it cancels in the ratio; then
        # phi(Q)(phi(K)^T V) / phi(Q)(phi(K)^T 1), causal by cumulative sums over the tokens. RoPE first when theta > 0.
        B, N, E = x.shape
        H, G = config["heads"], config["kv_heads"]
        w = projections(inputs, grads)
        projection = inputs["projection_matrix"].to(torch.float64)
        d = w["q_proj.weight"].shape[0] // H
        q = F.linear(x, w["q_proj.weight"], w["q_proj.bias"]).reshape(B, N, H, d)
        k = F.linear(x, w["k_proj.weight"], w["k_proj.bias"]).reshape(B, N, G, d)
        v = F.linear(x, w["v_proj.weight"], w["v_proj.bias"]).reshape(B, N, G, -1)
        if config["theta"] > 0:
            q, k = rope(q, config["theta"]), rope(k, config["theta"])
        # A key padding mask (B, N; nonzero pads): padded keys get no features and take no part in the stabiliser, so they
        # drop out of both sums; a query that sees no unpadded key gives 0.
        padded = (inputs["padding"] != 0)[:, None, :, None] if "padding" in inputs else None
        def features(t, keys):
            t = t * d ** -0.25
            u = t @ projection.T - (t * t).sum(-1, keepdim=True) / 2
            if not keys:
                return torch.exp(u - u.amax(dim=-1, keepdim=True).detach()) / projection.shape[0] ** 0.5
            live = u if padded is None else u.masked_fill(padded, float("-inf"))
            c = live.amax(dim=(-1, -2), keepdim=True).detach()
            phi = torch.exp(u - torch.where(torch.isfinite(c), c, torch.zeros_like(c))) / projection.shape[0] ** 0.5
            return phi if padded is None else phi.masked_fill(padded, 0.0)
        qf = features(q.transpose(1, 2), False)
        kf = features(k.transpose(1, 2), True).repeat_interleave(H // G, dim=1)
        v = v.transpose(1, 2).repeat_interleave(H // G, dim=1)
        if config["causal"]:
            num = torch.einsum("bhnm,bhnme->bhne", qf, torch.einsum("bhnm,bhne->bhnme", kf, v).cumsum(dim=2))
            den = torch.einsum("bhnm,bhnm->bhn", qf, kf.cumsum(dim=2))
        else:
            num = qf @ (kf.transpose(-1, -2) @ v)
            den = (qf * kf.sum(dim=2, keepdim=True)).sum(-1)
        safe = torch.where(den > 0, den, torch.ones_like(den))
        o = torch.where(den[..., None] > 0, num / safe[..., None], torch.zeros_like(num)).transpose(1, 2).reshape(B, N, -1)
        y = F.linear(o, w["out_proj.weight"], w["out_proj.bias"])
    elif op == "patch_merging":
        # torchvision's Swin PatchMerging on ModelGen's norm and reduction weights: tokens (B, H·W, C) as (B, H, W, C).
        from torchvision.models.swin_transformer import PatchMerging
        B, N, C = x.shape
        merge = PatchMerging(C).double()
        with torch.no_grad():
            merge.norm.weight.copy_(inputs["norm.weight"])
            merge.norm.bias.copy_(inputs["norm.bias"])
            merge.reduction.weight.copy_(inputs["reduction.weight"])
        y = merge(x.reshape(B, config["height"], config["width"], C)).reshape(B, -1, 2 * C)
        grads["norm.weight"], grads["norm.bias"], grads["reduction.weight"] = merge.norm.weight, merge.norm.bias, merge.reduction.weight
    elif op == "reformer":
        # Reformer's LSH attention as its authors' code computes it: one projection for queries and keys; per round the buckets
        # argmax([x R_r, -x R_r]); each round's tokens sorted by (bucket, position); the sorted sequence of all rounds cut into
        # chunks, each attending to itself and the chunk before (torch.roll over the chunks, so the first looks back into the
        # last); keys length-normalised then divided by sqrt(d); a token against itself -1e5, causal and padded keys -1e9; a
        # softmax per round and chunk; the rounds' outputs weighted by the softmax of their log-sum-exps.
        B, N, E = x.shape
        H, R, c = config["heads"], config["rounds"], config["chunk"]
        w = {}
        for name in ("qk_proj", "v_proj", "out_proj"):
            for part in ("weight", "bias"):
                if name + "." + part in inputs:
                    w[name + "." + part] = grads[name + "." + part] = leaf(inputs[name + "." + part])
        qk = F.linear(x, w["qk_proj.weight"], w.get("qk_proj.bias")).reshape(B, N, H, -1).transpose(1, 2)
        v = F.linear(x, w["v_proj.weight"], w.get("v_proj.bias")).reshape(B, N, H, -1).transpose(1, 2)
        d, dv = qk.shape[-1], v.shape[-1]
        rotated = torch.einsum("bhnd,rdk->bhrnk", qk.detach(), inputs["rotations"].to(torch.float64))
        buckets = torch.cat([rotated, -rotated], dim=-1).argmax(dim=-1)
        order = (buckets * N + torch.arange(N)).argsort(dim=-1).reshape(B, H, R * N)
        keys = qk * torch.rsqrt((qk * qk).mean(-1, keepdim=True) + 1e-6) / d ** 0.5
        def gather(t):
            return t.gather(2, order[..., None].expand(-1, -1, -1, t.shape[-1])).reshape(B, H, R * N // c, c, t.shape[-1])
        def look_back(t):
            return torch.cat([t.roll(1, dims=2), t], dim=3)
        sq, sk, sv = gather(qk), look_back(gather(keys)), look_back(gather(v))
        tq = order.reshape(B, H, R * N // c, c)
        tk = look_back(tq[..., None]).squeeze(-1)
        dots = sq @ sk.transpose(-1, -2)
        masked = torch.zeros_like(dots, dtype=torch.bool)
        if config["causal"]:
            masked = masked | (tk[..., None, :] > tq[..., :, None])
        if "padding" in inputs:
            pad = (inputs["padding"] != 0)[:, None, None, None, :].expand(-1, H, tk.shape[2], c, -1)
            masked = masked | pad.gather(4, tk[..., None, :].expand(-1, -1, -1, c, -1))
        dots = dots.masked_fill(masked, -1e9).masked_fill(tk[..., None, :] == tq[..., :, None], -1e5)
        lse = dots.logsumexp(dim=-1, keepdim=True)
        per_round = (torch.exp(dots - lse) @ sv).reshape(B, H, R, N, dv)
        lse = lse.reshape(B, H, R, N, 1)
        undo = order.reshape(B, H, R, N).argsort(dim=-1)
        per_round = per_round.gather(3, undo[..., None].expand(-1, -1, -1, -1, dv))
        lse = lse.gather(3, undo[..., None])
        o = (per_round * torch.softmax(lse, dim=2)).sum(dim=2).transpose(1, 2).reshape(B, N, H * dv)
        y = F.linear(o, w["out_proj.weight"], w.get("out_proj.bias"))
    elif op == "adaptive_span":
        # Adaptive attention span (Sukhbaatar et al.): per head z = S clamp(p, 0, 1), the mask m = clamp((R + z - |i - j|) / R, 0, 1)
        # and the weights m e^s / sum m e^s.
        B, N, E = x.shape
        H, S, R = config["heads"], config["max_span"], config["ramp"]
        w = projections(inputs, grads)
        span = grads["span"] = leaf(inputs["span"])
        d = E // H
        q = F.linear(x, w["q_proj.weight"], w["q_proj.bias"]).reshape(B, N, H, d).transpose(1, 2)
        k = F.linear(x, w["k_proj.weight"], w["k_proj.bias"]).reshape(B, N, H, d).transpose(1, 2)
        v = F.linear(x, w["v_proj.weight"], w["v_proj.bias"]).reshape(B, N, H, d).transpose(1, 2)
        z = S * span.clamp(0, 1)
        distance = (torch.arange(N)[None, :] - torch.arange(N)[:, None]).abs().to(torch.float64)
        m = ((R + z[:, None, None] - distance) / R).clamp(0, 1)
        weights = m * torch.exp(q @ k.transpose(-1, -2) / d ** 0.5)
        if config["causal"]:
            weights = weights.masked_fill(torch.ones(N, N, dtype=torch.bool).triu(1), 0.0)
        o = (weights / weights.sum(-1, keepdim=True) @ v).transpose(1, 2).reshape(B, N, E)
        y = F.linear(o, w["out_proj.weight"], w["out_proj.bias"])
    elif op == "shaw_attention":
        # Shaw et al.'s relative position representations in the scores: e_ij = q_i (k_j + a_clip(j-i))^T / sqrt(d), one table
        # of 2k + 1 vectors shared by the heads; softmax; sum of the values.
        B, N, E = x.shape
        H, K = config["heads"], config["max_distance"]
        w = projections(inputs, grads)
        table = grads["relative_keys.weight"] = leaf(inputs["relative_keys.weight"])
        d = E // H
        q = F.linear(x, w["q_proj.weight"], w["q_proj.bias"]).reshape(B, N, H, d).transpose(1, 2)
        k = F.linear(x, w["k_proj.weight"], w["k_proj.bias"]).reshape(B, N, H, d).transpose(1, 2)
        v = F.linear(x, w["v_proj.weight"], w["v_proj.bias"]).reshape(B, N, H, d).transpose(1, 2)
        distance = (torch.arange(N)[None, :] - torch.arange(N)[:, None]).clamp(-K, K) + K
        a = table[distance]                                    # (N, N, d)
        scores = (q @ k.transpose(-1, -2) + torch.einsum("bhid,ijd->bhij", q, a)) / d ** 0.5
        if config["causal"]:
            scores = scores.masked_fill(torch.ones(N, N, dtype=torch.bool).triu(1), float("-inf"))
        o = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, N, E)
        y = F.linear(o, w["out_proj.weight"], w["out_proj.bias"])
    elif op == "sparse_attention":
        # Dense softmax attention under the block pattern's mask (this oracle forms the N x N scores; ModelGen never does):
        # key j is allowed for query i when block_mask[i // block, j // block] is set, and j <= i when causal.
        B, N, E = x.shape
        H, G, blk = config["heads"], config["kv_heads"], config["block"]
        w = projections(inputs, grads)
        d = w["q_proj.weight"].shape[0] // H
        q = F.linear(x, w["q_proj.weight"], w["q_proj.bias"]).reshape(B, N, H, d)
        k = F.linear(x, w["k_proj.weight"], w["k_proj.bias"]).reshape(B, N, G, d)
        v = F.linear(x, w["v_proj.weight"], w["v_proj.bias"]).reshape(B, N, G, -1)
        if config["theta"] > 0:
            q, k = rope(q, config["theta"]), rope(k, config["theta"])
        q = q.transpose(1, 2)
        k = k.transpose(1, 2).repeat_interleave(H // G, dim=1)
        v = v.transpose(1, 2).repeat_interleave(H // G, dim=1)
        allowed = inputs["block_mask"].bool().repeat_interleave(blk, dim=0).repeat_interleave(blk, dim=1)
        if config["causal"]:
            allowed = allowed & torch.ones(N, N, dtype=torch.bool).tril()
        allowed = allowed[None, None]
        if "padding" in inputs:
            # A key padding mask (B, N; nonzero pads); a query that sees only padded keys gives 0.
            allowed = allowed & (inputs["padding"] == 0)[:, None, None, :]
        scores = (q @ k.transpose(-1, -2) / d ** 0.5).masked_fill(~allowed, float("-inf"))
        nothing = ~allowed.any(dim=-1, keepdim=True)
        probs = torch.softmax(scores.masked_fill(nothing, 0.0), dim=-1).masked_fill(nothing, 0.0)
        o = (probs @ v).transpose(1, 2).reshape(B, N, -1)
        y = F.linear(o, w["out_proj.weight"], w["out_proj.bias"])
    elif op == "biased_attention":
        # nn.MultiheadAttention's own function with the packed in_proj, the score bias as its float attn_mask (B·H, L, S).
        B, N, E = x.shape
        H = config["heads"]
        w = projections(inputs, grads)
        bias = torch.zeros(B, H, N, N, dtype=torch.float64)
        positions = config["positions"]
        if positions == "alibi":
            slopes = torch.tensor(alibi_slopes(H), dtype=torch.float64)
            distance = (torch.arange(N)[None, :] - torch.arange(N)[:, None]).abs().to(torch.float64)
            bias = bias - slopes[:, None, None] * distance
        elif positions == "t5":
            table = grads["relative_attention_bias.weight"] = leaf(inputs["relative_attention_bias.weight"])
            index = t5_index(N, N, config["buckets"], config["max_distance"], not config["causal"])
            bias = bias + F.embedding(index, table).permute(2, 0, 1)[None]
        if config["mask"] != "none":
            mask = inputs["mask"].to(torch.float64)
            if mask.dim() == 3:
                mask = mask[:, None]
            if config["mask"] == "bool":
                bias = bias.masked_fill(mask != 0, float("-inf"))
            else:
                bias = bias + mask
        if config["causal"]:
            bias = bias.masked_fill(torch.ones(N, N, dtype=torch.bool).triu(1), float("-inf"))
        t = x.transpose(0, 1)
        y, _ = F.multi_head_attention_forward(
            t, t, t, E, H,
            torch.cat([w["q_proj.weight"], w["k_proj.weight"], w["v_proj.weight"]]),
            torch.cat([w["q_proj.bias"], w["k_proj.bias"], w["v_proj.bias"]]),
            None, None, False, 0.0, w["out_proj.weight"], w["out_proj.bias"],
            training=False, need_weights=False, attn_mask=bias.reshape(B * H, N, N))
        y = y.transpose(0, 1)
    else:
        y = F.adaptive_avg_pool2d(x, (1, None))
    grad_output = inputs["grad_output"].to(torch.float64)
    if tuple(grad_output.shape) != tuple(y.shape):
        raise SystemExit("grad_output has shape %s, output %s" % (list(grad_output.shape), list(y.shape)))
    y.backward(grad_output)
    out["output"] = y
    for name, t in grads.items():
        out["grad." + name] = t.grad
    return out


def run_decoder(config, inputs):
    """torch.nn.TransformerDecoder of TransformerDecoderLayers (batch_first, no dropout, no final norm) on ModelGen's weights:
    layers.{i}.self_attn / cross_attn (q, k, v, out projections), mlp.fc1 / fc2, norm1..3."""
    x, memory = leaf(inputs["x"]), leaf(inputs["memory"])
    E = x.shape[-1]
    layer = nn.TransformerDecoderLayer(E, config["heads"], dim_feedforward=config["feed_forward"], dropout=0.0,
                                       activation=config["activation"], batch_first=True, norm_first=config["norm_first"])
    decoder = nn.TransformerDecoder(layer, config["layers"]).double()
    w = {k: v.to(torch.float64) for k, v in inputs.items()}
    names = {"linear1": "mlp.fc1", "linear2": "mlp.fc2", "norm1": "norm1", "norm2": "norm2", "norm3": "norm3"}
    for i, l in enumerate(decoder.layers):
        p = "layers.%d." % i
        load_attention(l.self_attn, w, p + "self_attn.")
        load_attention(l.multihead_attn, w, p + "cross_attn.")
        with torch.no_grad():
            for theirs, ours in names.items():
                getattr(l, theirs).weight.copy_(w[p + ours + ".weight"])
                getattr(l, theirs).bias.copy_(w[p + ours + ".bias"])
    N = x.shape[1]
    tgt_mask = torch.ones(N, N, dtype=torch.bool).triu(1) if config["causal"] else None
    memory_mask = inputs["memory_padding"] != 0 if "memory_padding" in inputs else None
    y = decoder(x, memory, tgt_mask=tgt_mask, memory_key_padding_mask=memory_mask)
    y.backward(inputs["grad_output"].to(torch.float64))
    out = {"output": y, "grad.x": x.grad, "grad.memory": memory.grad}
    for i, l in enumerate(decoder.layers):
        p = "layers.%d." % i
        attention_grads(l.self_attn, p + "self_attn.", out)
        attention_grads(l.multihead_attn, p + "cross_attn.", out)
        for theirs, ours in names.items():
            out["grad." + p + ours + ".weight"] = getattr(l, theirs).weight.grad
            out["grad." + p + ours + ".bias"] = getattr(l, theirs).bias.grad
    return out


def load_layer(layer, w, p, attentions, norms):
    """Copies ModelGen's weights into an nn.TransformerEncoderLayer or DecoderLayer: its attentions (name, ours), linear1 / linear2
    from mlp.fc1 / fc2 and norm1..norms. Returns the (module, our name) pairs for module_grads."""
    pairs = [(layer.linear1, p + "mlp.fc1"), (layer.linear2, p + "mlp.fc2")]
    pairs += [(getattr(layer, "norm%d" % n), p + "norm%d" % n) for n in range(1, norms + 1)]
    with torch.no_grad():
        for m, name in pairs:
            m.weight.copy_(w[name + ".weight"])
            m.bias.copy_(w[name + ".bias"])
    modules = []
    for theirs, ours in attentions:
        load_attention(getattr(layer, theirs), w, p + ours)
        modules.append((getattr(layer, theirs), p + ours))
    return modules + pairs


def module_grads(modules, out):
    for m, name in modules:
        if isinstance(m, nn.MultiheadAttention):
            attention_grads(m, name, out)
        else:
            out["grad." + name + ".weight"] = m.weight.grad
            out["grad." + name + ".bias"] = m.bias.grad


def load_norm(norm, w, name):
    with torch.no_grad():
        norm.weight.copy_(w[name + ".weight"])
        norm.bias.copy_(w[name + ".bias"])
    return (norm, name)


def run_transformer(config, inputs):
    """torch.nn.Transformer (batch_first, no dropout) on ModelGen's weights: encoder.layers.{i}.attn (q, k, v, out projections),
    mlp.fc1 / fc2, norm1..2, encoder.norm; decoder.layers.{i}.self_attn / cross_attn, mlp, norm1..3, decoder.norm. The causal
    flag is the square subsequent tgt_mask."""
    src, tgt = leaf(inputs["src"]), leaf(inputs["tgt"])
    E = src.shape[-1]
    model = nn.Transformer(E, config["heads"], config["encoder_layers"], config["decoder_layers"], dim_feedforward=config["feed_forward"],
                           dropout=0.0, activation=config["activation"], batch_first=True, norm_first=config["norm_first"]).double()
    w = {k: v.to(torch.float64) for k, v in inputs.items()}
    modules = []
    for i, l in enumerate(model.encoder.layers):
        modules += load_layer(l, w, "encoder.layers.%d." % i, [("self_attn", "attn.")], 2)
    for i, l in enumerate(model.decoder.layers):
        modules += load_layer(l, w, "decoder.layers.%d." % i, [("self_attn", "self_attn."), ("multihead_attn", "cross_attn.")], 3)
    modules += [load_norm(model.encoder.norm, w, "encoder.norm"), load_norm(model.decoder.norm, w, "decoder.norm")]
    N = tgt.shape[1]
    tgt_mask = torch.ones(N, N, dtype=torch.bool).triu(1) if config["causal"] else None
    y = model(src, tgt, tgt_mask=tgt_mask)
    y.backward(inputs["grad_output"].to(torch.float64))
    out = {"output": y, "grad.src": src.grad, "grad.tgt": tgt.grad}
    module_grads(modules, out)
    return out


class TimmStyleVit(nn.Module):
    """A Vision Transformer under timm's parameter names and in its forward (timm itself is not packaged for Debian):
    patch_embed.proj, cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head; qkv
    split as timm does, reshape(B, N, 3, heads, head width)."""

    def __init__(self, image, patch, width, depth, heads, mlp, classes):
        super().__init__()
        self.heads = heads
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, width, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, width))
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            b = nn.Module()
            b.norm1, b.norm2 = nn.LayerNorm(width, eps=1e-6), nn.LayerNorm(width, eps=1e-6)
            b.attn = nn.Module()
            b.attn.qkv, b.attn.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            b.mlp = nn.Module()
            b.mlp.fc1, b.mlp.fc2 = nn.Linear(width, mlp), nn.Linear(mlp, width)
            self.blocks.append(b)
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for b in self.blocks:
            B, N, C = x.shape
            qkv = b.attn.qkv(b.norm1(x)).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            a = torch.softmax(q @ k.transpose(-2, -1) * (C // self.heads) ** -0.5, dim=-1)
            x = x + b.attn.proj((a @ v).transpose(1, 2).reshape(B, N, C))
            x = x + b.mlp.fc2(F.gelu(b.mlp.fc1(b.norm2(x))))
        return self.head(self.norm(x)[:, 0])


def run_zoo(config, inputs):
    """A model of a PyTorch zoo with random weights (every parameter U(-0.5, 0.5) from the seed, so no zero-initialised head
    hides a mistake): its state dict as float32 under "state.<name>", and its output in float64 on "x" (and "padding")."""
    from torchvision.models.vision_transformer import VisionTransformer
    torch.manual_seed(config["seed"])
    kind = config["model"]
    if kind == "torchvision_vit":
        model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=10)
    elif kind == "timm_vit":
        model = TimmStyleVit(image=32, patch=8, width=32, depth=2, heads=4, mlp=64, classes=10)
    elif kind == "nn_encoder":
        layer = nn.TransformerEncoderLayer(24, 4, dim_feedforward=48, dropout=0.0, batch_first=True)
        model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    elif kind == "nn_transformer":
        model = nn.Transformer(16, 2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=24, dropout=0.0, batch_first=True)
    else:
        raise SystemExit("unknown zoo model %r" % kind)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
    out = {"state." + k: v.detach().to(torch.float32).clone() for k, v in model.state_dict().items()}
    model = model.double().train()
    with torch.no_grad():
        x = inputs["x"].to(torch.float64)
        if kind == "nn_encoder":
            out["output"] = model(x, src_key_padding_mask=inputs["padding"] != 0)
        elif kind == "nn_transformer":
            tgt = inputs["tgt"].to(torch.float64)
            out["output"] = model(x, tgt, tgt_mask=torch.ones(tgt.shape[1], tgt.shape[1], dtype=torch.bool).triu(1))
        else:
            out["output"] = model(x)
    return out


def run_language_model(config, inputs):
    """A causal language model of torch.nn modules on ModelGen's weights: nn.Embedding embed (padding_idx), learned positions
    pos.weight, a pre-norm GELU nn.TransformerEncoder blocks (batch_first, the square subsequent mask, no dropout), nn.LayerNorm
    norm, and nn.Linear head whose weight is the embedding's table (tied: both uses add to its gradient)."""
    ids = inputs["ids"].to(torch.long)
    w = {k: v.to(torch.float64) for k, v in inputs.items()}
    vocab, E = w["embed.weight"].shape
    embed = nn.Embedding(vocab, E, padding_idx=config["padding"] if config["padding"] >= 0 else None).double()
    layer = nn.TransformerEncoderLayer(E, config["heads"], dim_feedforward=config["feed_forward"], dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
    blocks = nn.TransformerEncoder(layer, config["layers"], enable_nested_tensor=False).double()
    norm = nn.LayerNorm(E).double()
    head = nn.Linear(E, vocab).double()
    head.weight = embed.weight
    pos = nn.Parameter(w["pos.weight"].clone())
    with torch.no_grad():
        embed.weight.copy_(w["embed.weight"])
        head.bias.copy_(w["head.bias"])
    modules = [load_norm(norm, w, "norm")]
    for i, l in enumerate(blocks.layers):
        modules += load_layer(l, w, "blocks.layers.%d." % i, [("self_attn", "attn.")], 2)
    N = ids.shape[1]
    y = head(norm(blocks(embed(ids) + pos, mask=torch.ones(N, N, dtype=torch.bool).triu(1))))
    y.backward(inputs["grad_output"].to(torch.float64))
    out = {"output": y, "grad.embed.weight": embed.weight.grad, "grad.pos.weight": pos.grad, "grad.head.bias": head.bias.grad}
    module_grads(modules, out)
    return out


def serve(argv, run, usage):
    """The peers' protocol: CONFIG.json INPUTS.safetensors OUT.safetensors, one thread, float64 inside."""
    if len(argv) != 4:
        print(usage)
        return 2
    torch.set_num_threads(1)
    with open(argv[1]) as f:
        config = json.load(f)
    write_safetensors(argv[3], run(config, read_safetensors(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv, run, __doc__))
