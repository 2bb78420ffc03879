"""PyTorch peer of bench/scaling.sh: attention over long sequences, B 1, H 4, d 64, one case per process.

    torch_attention_scaling.py --n N --impl manual|sdpa [--runs R] [--threads T]

manual: softmax(q·kᵀ/√d)·v written out (the N² scores and probabilities materialised, as autograd keeps them);
sdpa: torch.nn.functional.scaled_dot_product_attention where this torch has it (2.0 and later).
Prints one JSON line: median forward and forward+backward ms, and the peak resident memory the case added (ru_maxrss).
"""
import argparse
import json
import resource
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--impl", default="manual", choices=["manual", "sdpa"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    H, d, n = 4, 64, a.n
    g = torch.Generator().manual_seed(1234)
    q, k, v, do = (torch.rand(1, H, n, d, generator=g) * 2 - 1 for _ in range(4))
    for t in (q, k, v):
        t.requires_grad_(True)
    if a.impl == "sdpa" and not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        print(json.dumps({"peer": "torch", "impl": "sdpa", "n": n, "error": "torch %s has no scaled_dot_product_attention" % torch.__version__}))
        return 0

    def forward():
        if a.impl == "sdpa":
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, dim=-1) @ v

    def median(body):
        times = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            body()
            times.append((time.perf_counter() - t0) * 1000)
        return sorted(times)[len(times) // 2]

    def both():
        for t in (q, k, v):
            t.grad = None
        forward().backward(do)

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with torch.no_grad():
            forward()
        both()
        fwd = median(lambda: forward().detach())
        total = median(both)
    except RuntimeError as e:  # out of memory
        print(json.dumps({"peer": "torch", "impl": a.impl, "n": n, "error": str(e).splitlines()[0]}))
        return 0
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024.0
    flops = 4.0 * H * n * n * d
    print(json.dumps({"peer": "torch", "impl": a.impl, "variant": a.impl, "n": n, "forward_ms": round(fwd, 3), "forward_backward_ms": round(total, 3),
                      "peak_mib": round(peak, 1), "forward_gflops": round(flops / fwd / 1e6, 1), "torch": torch.__version__, "threads": a.threads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
