#!/usr/bin/env bash
# Side-by-side timing of the Vision Transformer cases, ModelGen vs ONNX Runtime vs the PyTorch peer, in one session:
#   fashion-vit-train-step  b128  Fashion-MNIST ViT: forward + cross-entropy + backward + AdamW
#   fashion-vit-forward     b128  the same model, inference
#   vit-tiny-forward        b1/b8 ViT-Tiny/16 at 3x224x224, inference
#
#   bench/vit.sh            build (Release), export the peer's models to ONNX, then ModelGen (quick JSON mode), ONNX Runtime
#                           on the exported files, the PyTorch peer's vit-tiny and one fashion epoch; then a table
#   bench/vit.sh --full [ARGS]   the full BenchmarkDotNet run of FashionVitBenchmarks and VitTinyBenchmarks
#
# Options: --threads N (default 2; every side), --no-build (use the existing Release build),
#          --no-train (skip the peer's fashion epoch, ~2.5 min on 2 cores: no PyTorch number for the train step),
#          --no-onnx (skip the export and ONNX Runtime), --onnx-dir DIR (export into DIR and keep it; default a temp dir),
#          --warmup W / --warmup-ms T / --runs N (ModelGen and ONNX Runtime: >= W warmups and >= T ms of them, then median of N).
# Environment: PEER   the peer script, relative to the repo root (default ../shared/peers/torch_vit.py)
#              PYTHON the interpreter for the peer (default /usr/bin/python3, Debian's python3-torch)
# ModelGen's and ONNX Runtime's numbers are medians of N runs after a time-based warmup; the peer's vit-tiny numbers are
# its own means of 5 calls after one warmup, its train step the median step of one epoch on the real data (the step it
# times also normalizes the batch and steps a OneCycle schedule).
# Ratios are peer ms / ModelGen ms, so > 1 means ModelGen is faster.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/peer-blas.sh"
PROJ=tests/ModelGen.Benchmarks/ModelGen.Benchmarks.csproj
DLL=tests/ModelGen.Benchmarks/bin/Release/net10.0/ModelGen.Benchmarks.dll
PEER="${PEER:-../shared/peers/torch_vit.py}"
PYTHON="${PYTHON:-/usr/bin/python3}"
CASES="fashion-vit-train-step,fashion-vit-forward,vit-tiny-forward"

if [[ "${1:-}" == "--full" ]]; then
    shift
    [[ $# -gt 0 ]] || set -- --filter '*FashionVitBenchmarks*' '*VitTinyBenchmarks*'
    echo "# load before: $(uptime)"
    dotnet run -c Release --project "$PROJ" -- "$@"
    echo "# load after:  $(uptime)"
    exit 0
fi

THREADS=2 WARMUP=10 WARMUP_MS=2000 RUNS=21 BUILD=1 TRAIN=1 ONNX=1 ONNX_DIR=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --threads)   THREADS="$2"; shift 2 ;;
        --warmup)    WARMUP="$2"; shift 2 ;;
        --warmup-ms) WARMUP_MS="$2"; shift 2 ;;
        --runs)      RUNS="$2"; shift 2 ;;
        --no-build)  BUILD=0; shift ;;
        --no-train)  TRAIN=0; shift ;;
        --no-onnx)   ONNX=0; shift ;;
        --onnx-dir)  ONNX_DIR="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "vit.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done

if [[ $BUILD == 1 ]]; then
    echo "# building $PROJ (Release)"
    if ! log="$(dotnet build "$PROJ" -c Release -nologo 2>&1)"; then echo "$log" >&2; echo "vit.sh: build failed" >&2; exit 1; fi
fi

LINES=() NOTES=() LOADS=()
collect() { while IFS= read -r l; do if [[ "$l" == \{* ]]; then LINES+=("$l"); fi; done <<< "$1"; }
load() { LOADS+=("$(printf '%-28s' "$1")$(uptime)"); }

# Can the peer run at all? (file present, interpreter imports torch)
HAVE_TORCH=1
if [[ ! -f "$PEER" ]]; then
    HAVE_TORCH=0; NOTES+=("PyTorch peer skipped: $PEER not found (set PEER=path/to/torch_vit.py, relative to $ROOT); no ONNX files either")
elif [[ ! -x "$PYTHON" ]] || ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    HAVE_TORCH=0; NOTES+=("PyTorch peer skipped: $PYTHON cannot import torch (apt-get install python3-torch, or set PYTHON=...); no ONNX files either")
fi

# (0) ONNX export, before any timing so it does not load the machine during one.
RUN_ORT=0
if [[ $ONNX == 0 ]]; then
    NOTES+=("ONNX Runtime skipped: --no-onnx")
elif [[ $HAVE_TORCH == 0 ]]; then
    NOTES+=("ONNX Runtime skipped: the ONNX files come from the PyTorch peer, which cannot run")
else
    if [[ -z "$ONNX_DIR" ]]; then ONNX_DIR="$(mktemp -d -t vit-onnx.XXXXXX)"; trap 'rm -rf "$ONNX_DIR"' EXIT; fi
    echo "# exporting ONNX: $PYTHON $PEER export-onnx --out $ONNX_DIR"
    if export_log="$(peer_python "$PEER" export-onnx --out "$ONNX_DIR" 2>&1)"; then
        RUN_ORT=1
    else
        NOTES+=("ONNX Runtime skipped: torch.onnx.export failed: $(printf '%s\n' "$export_log" | grep -v '^\s*$' | tail -n 1)")
        printf '%s\n' "$export_log" | tail -n 20 >&2
    fi
fi

# (a) ModelGen. DOTNET_PROCESSOR_COUNT caps the thread pool / Parallel.For to the core count the peers get.
echo "# running ModelGen quick mode (--json --case $CASES --warmup $WARMUP --warmup-ms $WARMUP_MS --runs $RUNS, $THREADS threads)"
load "before ModelGen:"
if mg_out="$(DOTNET_PROCESSOR_COUNT="$THREADS" dotnet "$DLL" --json --case "$CASES" --warmup "$WARMUP" --warmup-ms "$WARMUP_MS" --runs "$RUNS")"; then
    collect "$mg_out"
else
    collect "${mg_out:-}"; NOTES+=("ModelGen quick mode failed (exit code above)")
fi
load "after ModelGen:"

# (b) ONNX Runtime on the exported files.
if [[ $RUN_ORT == 1 ]]; then
    echo "# running ONNX Runtime (--json --onnx $ONNX_DIR, $THREADS intra-op threads)"
    if ort_out="$(dotnet "$DLL" --json --case "$CASES" --onnx "$ONNX_DIR" --threads "$THREADS" --warmup "$WARMUP" --warmup-ms "$WARMUP_MS" --runs "$RUNS")"; then
        collect "$ort_out"
    else
        collect "${ort_out:-}"; NOTES+=("ONNX Runtime run failed (see its error above)")
    fi
    load "after ONNX Runtime:"
fi

# (c) The PyTorch peer: vit-tiny, then (unless --no-train) one fashion epoch for its median step.
if [[ $HAVE_TORCH == 1 ]]; then
    echo "# running $PYTHON $PEER vit-tiny --threads $THREADS"
    if peer_out="$(peer_python "$PEER" vit-tiny --threads "$THREADS")"; then collect "$peer_out"; else collect "${peer_out:-}"; NOTES+=("PyTorch vit-tiny failed"); fi
    load "after PyTorch vit-tiny:"
    if [[ $TRAIN == 0 ]]; then
        NOTES+=("PyTorch train step skipped: --no-train")
    else
        echo "# running $PYTHON $PEER fashion --epochs 1 --threads $THREADS (one epoch, ~2.5 min on 2 cores; --no-train skips it)"
        if peer_out="$(peer_python "$PEER" fashion --epochs 1 --threads "$THREADS")"; then collect "$peer_out"; else collect "${peer_out:-}"; NOTES+=("PyTorch fashion epoch failed (is dataset-fashion-mnist installed?)"); fi
        load "after PyTorch fashion:"
    fi
fi

echo
echo "# raw results (JSON lines)"
printf '%s\n' "${LINES[@]}"
echo

if command -v python3 >/dev/null 2>&1; then
    printf '%s\n' "${LINES[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
def pick(pred, key="ms"):
    r = next((r for r in rows if pred(r)), None)
    return None if r is None else r.get(key)
cases = [("fashion-vit-train-step", 128), ("fashion-vit-forward", 128), ("vit-tiny-forward", 1), ("vit-tiny-forward", 8)]
def f(x): return "-" if x is None else "%.2f" % x
def ratio(p, m): return "-" if p is None or not m else "%.2fx" % (p / m)
hdr = ("case", "batch", "ModelGen ms", "(min)", "ONNX Runtime ms", "(min)", "PyTorch ms", "ORT/ModelGen", "PyTorch/ModelGen")
out = []
for case, b in cases:
    mine = lambda impl: (lambda r: r.get("impl") == impl and r.get("case") == case and r.get("batch") == b)
    m, mmin = pick(mine("modelgen")), pick(mine("modelgen"), "min_ms")
    o, omin = pick(mine("onnxruntime")), pick(mine("onnxruntime"), "min_ms")
    if case == "fashion-vit-train-step":
        p = pick(lambda r: r.get("peer") == "torch" and r.get("case") == "fashion-vit", "median_step_ms")
    else:
        p = pick(lambda r: r.get("peer") == "torch" and r.get("case") == case and r.get("batch") == b)
    out.append((case, b, f(m), f(mmin), f(o), f(omin), f(p), ratio(o, m), ratio(p, m)))
w = [max(len(str(r[i])) for r in [hdr] + out) for i in range(len(hdr))]
line = lambda r: "  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i]) for i, c in enumerate(r))
print(line(hdr)); print("  ".join("-" * x for x in w))
for r in out: print(line(r))
extra = [r for r in rows if r.get("peer") == "torch" and r.get("case") in ("vit-tiny-train-step", "fashion-vit")]
for r in extra:
    if r["case"] == "vit-tiny-train-step": print("(PyTorch only: vit-tiny-train-step b%d %.2f ms)" % (r["batch"], r["ms"]))
    else: print("(PyTorch fashion epoch: test accuracy %.4f, %.0f s)" % (r["test_acc"], r["train_s"]))
'
else
    echo "(python3 not found: the table is the raw JSON above)"
fi

echo
for n in "${NOTES[@]}"; do echo "# $n"; done
echo "# threads: $THREADS per side; ModelGen and ONNX Runtime: median of $RUNS runs after >= $WARMUP warmups and >= $WARMUP_MS ms"
echo "# $(peer_blas_note)"
echo "# PyTorch: vit-tiny = mean of 5 calls after one warmup; train step = median step of one fashion epoch on the real data"
echo "# ratio (of medians: peer ms / ModelGen ms) > 1 means ModelGen is faster; (min) is the fastest of the runs"
for l in "${LOADS[@]}"; do echo "# load $l"; done
