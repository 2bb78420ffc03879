#!/usr/bin/env bash
# Attention over long sequences, ModelGen beside PyTorch in one run: forward and forward+backward time and the peak memory
# each case adds, for N = 512 ... 16384 (B 1, H 4, d 64), each case in its own process.
#
#   bench/scaling.sh [--max N] [--runs R] [--threads T] [--out DIR] [--no-build]
#
# ModelGen: memory-efficient (what long sequences run: the row log-sum-exp kept), probabilities (the N² kept, up to 4096),
# linformer (k = 256), performer (FAVOR+, m = 256), reformer (LSH: 2 rounds, 64 buckets, chunks of 64), bigbird and sliding-window (blocks of 64: a window of ±1 block, plus 2
# global and 3 random blocks for BigBird); then Performer's error against exact softmax attention as m grows (N 512).
# PyTorch: manual softmax attention (N² materialised) and SDPA where its torch has it. The peer runs on
# OpenBLAS with its core type set (bench/peer-blas.sh). Writes DIR/scaling.jsonl, DIR/scaling.png (time) and
# DIR/scaling-memory.png (peak memory), log-log; prints a table. Defaults: --max 16384 --runs 3 --threads 2 --out out/scaling.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/peer-blas.sh"
PROJ=tests/ModelGen.Benchmarks/ModelGen.Benchmarks.csproj
DLL=tests/ModelGen.Benchmarks/bin/Release/net10.0/ModelGen.Benchmarks.dll
PYTHON="${PYTHON:-/usr/bin/python3}"
MAX=16384 RUNS=3 THREADS=2 OUT=out/scaling BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --max) MAX="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "scaling.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[[ $BUILD == 1 ]] && dotnet build "$PROJ" -c Release -nologo -v q >/dev/null
mkdir -p "$OUT"
JSONL="$OUT/scaling.jsonl"
: > "$JSONL"
echo "# load before: $(uptime)"
for n in 512 1024 2048 4096 8192 16384; do
    (( n > MAX )) && break
    for variant in memory-efficient probabilities linformer performer reformer bigbird sliding-window; do
        [[ $variant == probabilities && $n -gt 4096 ]] && continue
        DOTNET_PROCESSOR_COUNT="$THREADS" dotnet "$DLL" --scaling "$n" --variant "$variant" --runs "$RUNS" | tee -a "$JSONL"
    done
    for impl in manual sdpa; do
        if "$PYTHON" -c 'import torch' 2>/dev/null; then
            peer_python bench/peers/torch_attention_scaling.py --n "$n" --impl "$impl" --runs "$RUNS" --threads "$THREADS" | tee -a "$JSONL" || true
        fi
    done
done
echo "# load after: $(uptime)"
dotnet "$DLL" --performer-error 512 | tee "$OUT/performer-error.jsonl"
dotnet "$DLL" --plot-scaling "$JSONL" "$OUT/scaling.png"
python3 - "$JSONL" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def name(r): return ("ModelGen " if r.get("impl") == "modelgen" else "PyTorch ") + r.get("variant", r.get("impl"))
ns = sorted({r["n"] for r in rows})
me = {r["n"]: r for r in rows if r.get("impl") == "modelgen" and r.get("variant") == "memory-efficient" and "forward_ms" in r}
print("%-28s %6s %10s %12s %10s %14s %12s" % ("implementation", "N", "fwd ms", "fwd+bwd ms", "peak MiB", "vs ModelGen", "mem ratio"))
for n in ns:
    for r in (r for r in rows if r["n"] == n):
        if "error" in r:
            print("%-28s %6d %s" % (name(r), n, r["error"][:60])); continue
        m = me.get(n)
        speed = "%.2fx" % (r["forward_backward_ms"] / m["forward_backward_ms"]) if m and r is not m else ""
        mem = "%.1f" % (r["peak_mib"] / m["peak_mib"]) if m and r is not m and m["peak_mib"] > 0 else ""
        print("%-28s %6d %10.1f %12.1f %10.1f %14s %12s" % (name(r), n, r["forward_ms"], r["forward_backward_ms"], r["peak_mib"], speed, mem))
print("# vs ModelGen: the row's forward+backward time over ModelGen memory-efficient's (> 1: ModelGen is faster); mem ratio likewise for peak memory")
PY
python3 - "$OUT/performer-error.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("%-10s %10s %14s %20s" % ("features", "|q|,|k| ~", "mean rel err", "min .. max (5 draws)"))
for r in rows:
    print("%-10d U(±%-5g) %14.4f %9.4f .. %-9.4f" % (r["features"], r["query_key_scale"], r["mean_relative_error"], r["min"], r["max"]))
print("# Performer's implied attention matrix against exact softmax attention, relative Frobenius error (N 512, d 64)")
PY
echo "# $(peer_blas_note)"
