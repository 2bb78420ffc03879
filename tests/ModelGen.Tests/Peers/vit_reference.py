#!/usr/bin/env python3
"""PyTorch reference ("oracle") for the ModelGen Vision Transformer tests.

Usage:
    python3 vit_reference.py CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.safetensors
    python3 vit_reference.py --self-test

The transformer blocks, the safetensors reader/writer, weight loading and the error
handling are imported from encoder_reference.py in this directory (not copied), so
the ViT oracle and the encoder oracle cannot drift apart.

CONFIG.json keys (required: image, patch, width, depth, heads, ff, classes):
    image [C, H, W] (H and W multiples of patch), patch P, width D, depth L, heads,
    kv_heads (default: heads), ff, norm ("pre" | "post", default "pre"),
    activation ("gelu" | "relu", default "gelu"), class_token (default true),
    positions ("learned", the only kind, default "learned"), final_norm (default true),
    classes K (> 0), pool ("class_token" | "mean"; default "class_token" when there is
    a class token, else "mean"), eps (default 1e-5),
    dtype ("float64" | "float32", default "float64").
    Per-head key and value size is width / heads (width must divide evenly).
    Unknown keys are rejected so that a typo cannot silently fall back to a default.

Model:
    tokens = Conv2d(C, D, P, stride=P)(image).flatten(2).transpose(1, 2)  # (B, N, D), row-major patches
    if class_token: tokens = cat([tokens.cls expanded to (B, 1, D), tokens], 1)
    tokens = tokens + pos.weight                                           # (N_tokens, D)
    x = encoder(tokens)            # encoder_reference.Encoder: no mask, no causal, bias on
    if final_norm: x = norm(x)
    pooled = x[:, 0] if pool == "class_token" else x.mean(1)   # mean includes the class token if present
    output = head(pooled)                                       # (B, K)

WEIGHTS: every parameter, named exactly like this module's state_dict() keys:
    embed.proj.weight (D, C, P, P), embed.proj.bias (D), tokens.cls (1, 1, D) [class_token],
    pos.weight (N_tokens, D), encoder.layers.{i}.* (as in encoder_reference.py),
    norm.weight / norm.bias [final_norm], head.weight (K, D), head.bias (K).
INPUTS:  "image" (B, C, H, W); "grad_output" (B, K) (if it is absent, no backward pass is run
         and only "output" is written).
OUT:     "output", "grad.image", "grad.<param name>" for every parameter, all F32.

Only torch and the standard library are used.
"""

import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import traceback

import torch
import torch.nn as nn

sys.dont_write_bytecode = True  # keep __pycache__ out of Peers/ (the test project copies Peers/** to its output)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encoder_reference as er  # noqa: E402  (needs the path above)
from encoder_reference import ReferenceError_, read_safetensors, write_safetensors  # noqa: E402

PEER_VIT = "/work/shared/peers/torch_vit.py"


# --------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------

_CONFIG_DEFAULTS = {
    "kv_heads": None,  # -> heads
    "norm": "pre",
    "activation": "gelu",
    "class_token": True,
    "positions": "learned",
    "final_norm": True,
    "pool": None,  # -> "class_token" if class_token else "mean"
    "eps": 1e-5,
    "dtype": "float64",
}
_CONFIG_REQUIRED = ("image", "patch", "width", "depth", "heads", "ff", "classes")


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

    def is_pos_int(v, allow_zero=False):
        return not isinstance(v, bool) and isinstance(v, int) and (v > 0 or (allow_zero and v == 0))

    img = c["image"]
    if not isinstance(img, list) or len(img) != 3 or not all(is_pos_int(v) for v in img):
        raise ReferenceError_("config image must be [C, H, W] of positive integers, got %r" % (img,))
    c["image"] = list(img)
    for k in ("patch", "width", "heads", "ff", "classes"):
        if not is_pos_int(c[k]):
            raise ReferenceError_("config %r must be a positive integer, got %r" % (k, c[k]))
    if not is_pos_int(c["depth"], allow_zero=True):
        raise ReferenceError_("config 'depth' must be a non-negative integer, got %r" % (c["depth"],))
    C, H, W = c["image"]
    P = c["patch"]
    if H % P or W % P:
        raise ReferenceError_("config image height %d and width %d must be multiples of patch %d" % (H, W, P))
    if c["width"] % c["heads"]:
        raise ReferenceError_("config width (%d) must be a multiple of heads (%d)" % (c["width"], c["heads"]))
    for k in ("class_token", "final_norm"):
        if not isinstance(c[k], bool):
            raise ReferenceError_("config %r must be true or false, got %r" % (k, c[k]))
    if c["positions"] != "learned":
        raise ReferenceError_("config positions must be \"learned\", got %r" % (c["positions"],))
    if c["pool"] is None:
        c["pool"] = "class_token" if c["class_token"] else "mean"
    if c["pool"] not in ("class_token", "mean"):
        raise ReferenceError_("config pool must be \"class_token\" or \"mean\", got %r" % (c["pool"],))
    if c["pool"] == "class_token" and not c["class_token"]:
        raise ReferenceError_("config pool \"class_token\" needs class_token true")
    # The rest (heads/kv_heads, norm, activation, eps, dtype) is validated by the encoder's parser.
    c["encoder"] = encoder_config(c)
    c["kv_heads"] = c["encoder"]["kv_heads"]
    c["eps"] = c["encoder"]["eps"]
    return c


def encoder_config(c):
    hd = c["width"] // c["heads"]
    return er.parse_config({
        "width": c["width"], "depth": c["depth"], "heads": c["heads"], "kv_heads": c["kv_heads"],
        "key_dim": hd, "value_dim": hd, "ff": c["ff"], "norm": c["norm"], "causal": False,
        "eps": c["eps"], "activation": c["activation"], "final_norm": False, "head_classes": 0,
        "bias": True, "dtype": c["dtype"],
    })


def num_patches(c):
    _, H, W = c["image"]
    return (H // c["patch"]) * (W // c["patch"])


def num_tokens(c):
    return num_patches(c) + (1 if c["class_token"] else 0)


# --------------------------------------------------------------------------------------
# Model (module attribute names define the state_dict keys)
# --------------------------------------------------------------------------------------

class PatchEmbed(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.proj = nn.Conv2d(c["image"][0], c["width"], c["patch"], stride=c["patch"])

    def forward(self, image):
        return self.proj(image).flatten(2).transpose(1, 2)  # (B, N, D), patches row-major


class ClassToken(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(1, 1, c["width"]))

    def forward(self, x):
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)


class Positions(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_tokens(c), c["width"]))

    def forward(self, x):
        return x + self.weight


class ViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed = PatchEmbed(c)
        self.tokens = ClassToken(c) if c["class_token"] else None
        self.pos = Positions(c)
        self.encoder = er.Encoder(c["encoder"])
        self.norm = nn.LayerNorm(c["width"], eps=c["eps"]) if c["final_norm"] else None
        self.head = nn.Linear(c["width"], c["classes"])
        self.pool = c["pool"]

    def forward(self, image):
        x = self.embed(image)
        if self.tokens is not None:
            x = self.tokens(x)
        x = self.pos(x)
        x = self.encoder(x)
        if self.norm is not None:
            x = self.norm(x)
        x = x[:, 0] if self.pool == "class_token" else x.mean(dim=1)
        return self.head(x)


# --------------------------------------------------------------------------------------
# Running the oracle
# --------------------------------------------------------------------------------------

def run_reference(c, weights, inputs):
    """Returns (dict of output tensors, summary dict)."""
    dtype = er.torch_dtype(c)
    known = {"image", "grad_output"}
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise ReferenceError_("inputs contain unknown tensors %s (known: %s)" % (unknown, sorted(known)))
    if "image" not in inputs:
        raise ReferenceError_("inputs are missing \"image\"")
    image = inputs["image"]
    if image.dim() != 4 or list(image.shape[1:]) != c["image"]:
        raise ReferenceError_("image has shape %s, expected (B, %d, %d, %d)" % ((list(image.shape),) + tuple(c["image"])))
    if not image.is_floating_point():
        raise ReferenceError_("image has non-floating dtype %s" % image.dtype)
    B = int(image.shape[0])
    er.check_finite("image", image)

    torch.manual_seed(0)
    model = ViT(c).to(dtype)
    er.load_weights(model, weights, dtype)

    xin = image.to(dtype).detach().requires_grad_(True)
    out = model(xin)
    er.check_finite("output", out)
    result = {"output": out.detach()}

    has_grad = "grad_output" in inputs
    if has_grad:
        go = inputs["grad_output"]
        if tuple(go.shape) != tuple(out.shape):
            raise ReferenceError_("grad_output has shape %s, expected the output shape %s"
                                  % (list(go.shape), list(out.shape)))
        out.backward(go.to(dtype))
        gx = xin.grad if xin.grad is not None else torch.zeros_like(xin)
        er.check_finite("grad.image", gx)
        result["grad.image"] = gx.detach()
        for name, p in model.named_parameters():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            er.check_finite("grad." + name, g)
            result["grad." + name] = g.detach()

    summary = {
        "ok": True,
        "dtype": c["dtype"],
        "image_shape": [B] + c["image"],
        "tokens": num_tokens(c),
        "pool": c["pool"],
        "output_shape": list(out.shape),
        "parameters": len(list(model.parameters())),
        "grads": has_grad,
        "max_abs_output": float(out.detach().abs().max()) if out.numel() else 0.0,
    }
    if has_grad:
        summary["max_abs_grad_image"] = float(result["grad.image"].abs().max()) if xin.numel() else 0.0
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

def _config(**kw):
    c = {"image": [2, 8, 12], "patch": 4, "width": 16, "depth": 2, "heads": 4, "ff": 24, "norm": "pre",
         "activation": "gelu", "class_token": True, "positions": "learned", "final_norm": True,
         "classes": 5, "eps": 1e-5, "dtype": "float64"}
    c.update(kw)
    return parse_config(c)


def _raw(c):
    """The JSON-able config (parse_config adds derived keys)."""
    return {k: v for k, v in c.items() if k != "encoder"}


def _functional_call(model, params, args):
    try:
        from torch.func import functional_call  # torch >= 2.0
    except ImportError:
        from torch.nn.utils.stateless import functional_call
    return functional_call(model, params, args)


def _load_peer():
    spec = importlib.util.spec_from_file_location("peer_torch_vit", PEER_VIT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _peer_to_ours(peer_sd, depth):
    """Maps the peer ViT's state_dict names onto ours."""
    sd = {
        "embed.proj.weight": peer_sd["embed.weight"],
        "embed.proj.bias": peer_sd["embed.bias"],
        "tokens.cls": peer_sd["cls"],
        "pos.weight": peer_sd["pos"][0],
        "norm.weight": peer_sd["norm.weight"],
        "norm.bias": peer_sd["norm.bias"],
        "head.weight": peer_sd["head.weight"],
        "head.bias": peer_sd["head.bias"],
    }
    for i in range(depth):
        p, o = "blocks.%d." % i, "encoder.layers.%d." % i
        qw, kw, vw = peer_sd[p + "attn.in_proj_weight"].chunk(3, 0)
        qb, kb, vb = peer_sd[p + "attn.in_proj_bias"].chunk(3, 0)
        sd.update({
            o + "norm1.weight": peer_sd[p + "n1.weight"], o + "norm1.bias": peer_sd[p + "n1.bias"],
            o + "attn.q_proj.weight": qw, o + "attn.q_proj.bias": qb,
            o + "attn.k_proj.weight": kw, o + "attn.k_proj.bias": kb,
            o + "attn.v_proj.weight": vw, o + "attn.v_proj.bias": vb,
            o + "attn.out_proj.weight": peer_sd[p + "attn.out_proj.weight"],
            o + "attn.out_proj.bias": peer_sd[p + "attn.out_proj.bias"],
            o + "norm2.weight": peer_sd[p + "n2.weight"], o + "norm2.bias": peer_sd[p + "n2.bias"],
            o + "mlp.fc1.weight": peer_sd[p + "mlp.0.weight"], o + "mlp.fc1.bias": peer_sd[p + "mlp.0.bias"],
            o + "mlp.fc2.weight": peer_sd[p + "mlp.2.weight"], o + "mlp.fc2.bias": peer_sd[p + "mlp.2.bias"],
        })
    return sd


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
    gen = torch.Generator().manual_seed(4321)
    report = []

    # (a) the peer model (/work/shared/peers/torch_vit.py ViT), weights mapped over:
    #     pre-norm, class token, learned positions, final norm, class-token pooling.
    if os.path.exists(PEER_VIT):
        peer_mod = _load_peer()
        img, patch, ch, d, depth, h, r, k = 8, 4, 2, 16, 2, 4, 2, 5
        peer = peer_mod.ViT(img, patch, ch, d, depth, h, r, k).double()
        er._randomize(peer, gen)
        peer.train()  # no dropout in it; train mode keeps MultiheadAttention off its fused fast path
        c = _config(image=[ch, img, img], patch=patch, width=d, depth=depth, heads=h, ff=d * r, classes=k)
        ours = ViT(c).double()
        mapped = _peer_to_ours(peer.state_dict(), depth)
        er.load_weights(ours, mapped, torch.float64)  # strict: every name of ours is covered
        x = torch.randn(3, ch, img, img, generator=gen, dtype=torch.float64)
        go = torch.randn(3, k, generator=gen, dtype=torch.float64)
        x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        o1, o2 = ours(x1), peer(x2)
        e_out = er._assert_close("output vs peer ViT", o1, o2, 1e-11)
        o1.backward(go)
        o2.backward(go)
        e_gx = er._assert_close("grad.image vs peer ViT", x1.grad, x2.grad, 1e-11)
        peer_grads = _peer_to_ours({n: p.grad for n, p in peer.named_parameters()}, depth)
        e_gp = 0.0
        for n, p in ours.named_parameters():
            e_gp = max(e_gp, er._assert_close("grad.%s vs peer ViT" % n, p.grad, peer_grads[n], 1e-10))
        report.append("vs peer torch_vit.ViT (output %.1e, grad.image %.1e, param grads %.1e)" % (e_out, e_gx, e_gp))
    else:
        report.append("SKIPPED peer comparison: %s not found" % PEER_VIT)

    # (b) patch embedding = explicit row-major patch extraction + matmul; mean pooling = mean.
    c = _config(image=[3, 12, 8], patch=4, class_token=False, pool="mean", norm="post", depth=1)
    m = ViT(c).double()
    er._randomize(m, gen)
    x = torch.randn(2, 3, 12, 8, generator=gen, dtype=torch.float64)
    B, (C, H, W), P, D = 2, c["image"], c["patch"], c["width"]
    patches = x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 1, 3, 5).reshape(B, -1, C * P * P)
    manual = patches @ m.embed.proj.weight.reshape(D, -1).t() + m.embed.proj.bias
    e_emb = er._assert_close("patch embedding vs explicit patches", m.embed(x), manual, 1e-12)
    t = m.encoder(manual + m.pos.weight)
    manual_out = m.head(m.norm(t).mean(dim=1))
    e_pool = er._assert_close("mean-pooled ViT vs by-hand composition", m(x), manual_out, 1e-12)
    report.append("patch order/embedding by hand (%.1e), mean pooling by hand (%.1e)" % (e_emb, e_pool))

    # (c) gradients of tiny configs vs finite differences (torch.autograd.gradcheck, float64).
    tiny_configs = [
        dict(image=[2, 4, 6], patch=2, width=4, depth=1, heads=2, ff=6, norm="pre", class_token=True,
             final_norm=True, classes=3),
        dict(image=[1, 4, 2], patch=2, width=4, depth=2, heads=2, kv_heads=1, ff=5, norm="post",
             class_token=False, pool="mean", final_norm=False, classes=2),
        dict(image=[1, 2, 4], patch=2, width=4, depth=1, heads=1, ff=3, norm="pre", class_token=True,
             pool="mean", final_norm=True, classes=2),
    ]
    for tc in tiny_configs:
        ct = _config(**tc)
        model = ViT(ct).double()
        er._randomize(model, gen)
        names = [n for n, _ in model.named_parameters()]
        params = [p.detach().clone().requires_grad_(True) for _, p in model.named_parameters()]
        xt = torch.randn([2] + ct["image"], generator=gen, dtype=torch.float64, requires_grad=True)

        def f(xv, *ps):
            return _functional_call(model, dict(zip(names, ps)), (xv,))

        if not torch.autograd.gradcheck(f, (xt, *params), eps=1e-6, atol=1e-7, rtol=1e-5, raise_exception=False):
            torch.autograd.gradcheck(f, (xt, *params), eps=1e-6, atol=1e-7, rtol=1e-5)  # raise with details
            raise ReferenceError_("self-test gradcheck failed for %r" % tc)
        report.append("gradcheck %s-norm class_token=%s pool=%s (%d params)"
                      % (ct["norm"], ct["class_token"], ct["pool"], len(params)))

    # (d) end-to-end through files (the code path the C# tests use), float64 and float32.
    with tempfile.TemporaryDirectory() as d:
        for dt, kw in (("float64", {}), ("float32", dict(class_token=False, pool="mean", norm="post"))):
            ce = _config(dtype=dt, **kw)
            model = ViT(ce).double()
            er._randomize(model, gen)
            weights = {k: v.float() for k, v in model.state_dict().items()}
            xe = torch.randn([2] + ce["image"], generator=gen)
            go = torch.randn(2, ce["classes"], generator=gen)
            paths = [os.path.join(d, n) for n in ("c.json", "w.safetensors", "i.safetensors", "o.safetensors")]
            with open(paths[0], "w") as fh:
                json.dump(_raw(ce), fh)
            write_safetensors(paths[1], weights)
            write_safetensors(paths[2], {"image": xe, "grad_output": go})
            with contextlib.redirect_stdout(io.StringIO()):
                main_run(*paths)
            out, _ = read_safetensors(paths[3])
            expected = set(["output", "grad.image"] + ["grad." + n for n, _ in model.named_parameters()])
            if set(out) != expected:
                raise ReferenceError_("self-test end-to-end: output names differ: %s" % sorted(set(out) ^ expected))
            m64 = ViT(ce).double()
            m64.load_state_dict({k: v.double() for k, v in weights.items()}, strict=True)
            x64 = xe.double().requires_grad_(True)
            o64 = m64(x64)
            o64.backward(go.double())
            tol = 1e-5 if dt == "float64" else 1e-3
            er._assert_close("end-to-end %s output" % dt, out["output"].double(), o64, tol)
            er._assert_close("end-to-end %s grad.image" % dt, out["grad.image"].double(), x64.grad, tol)
            for n, p in m64.named_parameters():
                er._assert_close("end-to-end %s grad.%s" % (dt, n), out["grad." + n].double(), p.grad, tol)
        report.append("end-to-end file run (float64, float32)")

    # (e) error paths fail loudly.
    ce = _config()
    w = dict(ViT(ce).state_dict())
    w["embed.weight"] = w.pop("embed.proj.weight")
    _expect_error("misnamed weight", lambda: er.load_weights(ViT(ce).double(), w, torch.float64),
                  "embed.proj.weight", "embed.weight")
    w = dict(ViT(ce).state_dict())
    del w["tokens.cls"]
    _expect_error("missing class token", lambda: er.load_weights(ViT(ce).double(), w, torch.float64), "tokens.cls")
    w = dict(ViT(ce).state_dict())
    w["pos.weight"] = torch.zeros(num_patches(ce), ce["width"])  # forgot the class token's row
    _expect_error("pos.weight without the class-token row",
                  lambda: er.load_weights(ViT(ce).double(), w, torch.float64), "pos.weight")
    _expect_error("pool class_token without a class token",
                  lambda: _config(class_token=False, pool="class_token"), "class_token")
    _expect_error("image not a multiple of patch", lambda: _config(image=[1, 10, 8]), "multiples of patch")
    _expect_error("width not a multiple of heads", lambda: _config(width=18), "multiple of heads")
    _expect_error("unknown config key", lambda: _config(pooling="mean"), "pooling")
    _expect_error("bad kv_heads", lambda: _config(kv_heads=3), "kv_heads")
    _expect_error("positions other than learned", lambda: _config(positions="sincos"), "positions")
    good = dict(ViT(ce).state_dict())
    _expect_error("wrong image shape",
                  lambda: run_reference(ce, good, {"image": torch.zeros(1, 2, 12, 8)}), "image has shape")
    _expect_error("unknown input", lambda: run_reference(ce, good, {"image": torch.zeros(1, 2, 8, 12),
                                                                     "x": torch.zeros(1)}), "unknown")
    _expect_error("wrong grad_output shape",
                  lambda: run_reference(ce, good, {"image": torch.zeros(1, 2, 8, 12),
                                                   "grad_output": torch.zeros(1, 4)}), "grad_output")
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
        sys.stderr.write("vit_reference: error: %s\n" % e)
        return 1
    except Exception:  # noqa: BLE001 - any unexpected failure must still exit non-zero, loudly
        sys.stderr.write("vit_reference: unexpected error:\n")
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
