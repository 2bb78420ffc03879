"""The PyTorch peer of the device run: training steps of the same three models ModelGen's device checks time, on the same
machine in the same run, so the ratios are fair.

Usage: python3 torch_device.py [--device cuda|cpu] [--steps N] [--warmup N] [--models fashion-vit,vit-tiny,garment-setr]

Models (the same declarations as ModelGen's): the Fashion ViT (28x28x1, 4x4 patches, width 64, 4 pre-norm layers of 4
heads, MLP 128, class token, 10 classes) at batch 128; ViT-Tiny/16 (224x224x3, width 192, 12 layers of 3 heads, MLP 768,
1000 classes) at batch 64; the garment SETR (bench/peers/torch_setr.py) at batch 32. A step is zero_grad, forward,
cross-entropy, backward, AdamW. Variants: eager FP32 with TF32 off, eager with TF32 on, and torch.compile (FP32, TF32 off)
when it works here. Times are CUDA events around each step after a warm-up (the median is reported). One JSON line each.
"""
import argparse, json, os, statistics, sys, time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch, torch.nn as nn, torch.nn.functional as F  # noqa: E402


class Block(nn.Module):
    def __init__(s, d, h, mlp):
        super().__init__()
        s.norm1, s.attn, s.norm2 = nn.LayerNorm(d), nn.MultiheadAttention(d, h, batch_first=True), nn.LayerNorm(d)
        s.mlp = nn.Sequential(nn.Linear(d, mlp), nn.GELU(), nn.Linear(mlp, d))

    def forward(s, x):
        y = s.norm1(x)
        x = x + s.attn(y, y, y, need_weights=False)[0]
        return x + s.mlp(s.norm2(x))


class ViT(nn.Module):
    """Patch embedding, class token, learned positions, pre-norm encoder, final norm, class-token head."""

    def __init__(s, img, patch, channels, d, depth, heads, mlp, classes):
        super().__init__()
        s.embed = nn.Conv2d(channels, d, patch, patch)
        s.cls = nn.Parameter(torch.zeros(1, 1, d))
        s.pos = nn.Parameter(torch.randn(1, (img // patch) ** 2 + 1, d) * 0.02)
        s.blocks = nn.Sequential(*[Block(d, heads, mlp) for _ in range(depth)])
        s.norm, s.head = nn.LayerNorm(d), nn.Linear(d, classes)

    def forward(s, x):
        x = s.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([s.cls.expand(x.shape[0], -1, -1), x], 1) + s.pos
        return s.head(s.norm(s.blocks(x))[:, 0])


def models():
    def setr():
        import torch_setr
        return torch_setr.GarmentSetr()
    return {
        "fashion-vit": (lambda: ViT(28, 4, 1, 64, 4, 4, 128, 10), (1, 28, 28), 10, 128, False),
        "vit-tiny": (lambda: ViT(224, 16, 3, 192, 12, 3, 768, 1000), (3, 224, 224), 1000, 64, False),
        "garment-setr": (setr, (1, 64, 64), 11, 32, True),
    }


def time_steps(make, shape, classes, batch, pixels, device, variant, steps, warmup):
    torch.manual_seed(0)
    model = make().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x = torch.randn(batch, *shape, device=device)
    y = torch.randint(0, classes, (batch, shape[1], shape[2]) if pixels else (batch,), device=device)
    fwd = torch.compile(model) if variant == "compile" else model

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(fwd(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            step()
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), min(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--models", default="fashion-vit,vit-tiny,garment-setr")
    p.add_argument("--variants", default="eager-fp32,eager-tf32,compile")
    a = p.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"impl": "torch", "error": "CUDA is not available to PyTorch"}), flush=True)
        return 1
    name = torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu"
    print(json.dumps({"impl": "torch", "event": "device", "name": name, "torch": torch.__version__}), flush=True)
    table = models()
    for model in a.models.split(","):
        make, shape, classes, batch, pixels = table[model]
        for variant in a.variants.split(","):
            tf32 = variant == "eager-tf32"
            if a.device == "cuda":
                torch.backends.cuda.matmul.allow_tf32 = tf32
                torch.backends.cudnn.allow_tf32 = tf32
            try:
                median, best = time_steps(make, shape, classes, batch, pixels, a.device, variant, a.steps, a.warmup)
                print(json.dumps({"impl": "torch", "model": model, "batch": batch, "variant": variant,
                                  "train_step_ms": round(median, 3), "best_ms": round(best, 3)}), flush=True)
            except Exception as e:  # torch.compile may be unavailable there; the others still run
                print(json.dumps({"impl": "torch", "model": model, "variant": variant, "error": f"{type(e).__name__}: {e}"[:300]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
