#!/usr/bin/env bash
# Side-by-side timing of the attention core (B 8, H 3, N 197, d 64: ViT-Tiny/16 at 224x224), ModelGen vs the PyTorch peer.
#
#   bench/attention.sh                 quick: ModelGen's Stopwatch JSON mode (Release), then the PyTorch peer, then a table
#   bench/attention.sh --full [ARGS]   the full BenchmarkDotNet run of AttentionBenchmarks (ARGS go to BenchmarkDotNet)
#
# Quick-mode options: --threads N (default 2; both sides), --no-build (use the existing Release build),
#                     --warmup W / --warmup-ms T / --runs N (ModelGen: >= W warmups and >= T ms of them, then median of N).
# Environment: PEER   the peer script, relative to the repo root (default ../shared/peers/torch_vit.py)
#              PYTHON the interpreter for the peer (default /usr/bin/python3, Debian's python3-torch)
# ModelGen's number is the median of N runs after a time-based warmup (tiered JIT needs ~1 s to reach steady state);
# the peer's is its own mean after one warmup call (20 forward reps, 10 forward+backward).
# Ratio = PyTorch ms / ModelGen ms, so > 1 means ModelGen is faster.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/peer-blas.sh"
PROJ=tests/ModelGen.Benchmarks/ModelGen.Benchmarks.csproj
DLL=tests/ModelGen.Benchmarks/bin/Release/net10.0/ModelGen.Benchmarks.dll
PEER="${PEER:-../shared/peers/torch_vit.py}"
PYTHON="${PYTHON:-/usr/bin/python3}"

if [[ "${1:-}" == "--full" ]]; then
    shift
    [[ $# -gt 0 ]] || set -- --filter '*AttentionBenchmarks*'
    echo "# load before: $(uptime)"
    dotnet run -c Release --project "$PROJ" -- "$@"
    echo "# load after:  $(uptime)"
    exit 0
fi

THREADS=2 WARMUP=10 WARMUP_MS=2000 RUNS=31 BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --threads) THREADS="$2"; shift 2 ;;
        --warmup)  WARMUP="$2"; shift 2 ;;
        --warmup-ms) WARMUP_MS="$2"; shift 2 ;;
        --runs)    RUNS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "attention.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done

if [[ $BUILD == 1 ]]; then
    echo "# building $PROJ (Release)"
    if ! log="$(dotnet build "$PROJ" -c Release -nologo 2>&1)"; then echo "$log" >&2; echo "attention.sh: build failed" >&2; exit 1; fi
fi

LINES=()
echo "# running ModelGen quick mode (--json --warmup $WARMUP --warmup-ms $WARMUP_MS --runs $RUNS, $THREADS threads)"
LOAD_MG_BEFORE="$(uptime)"
# DOTNET_PROCESSOR_COUNT caps the thread pool / Parallel.For to the same core count the peer gets.
mg_out="$(DOTNET_PROCESSOR_COUNT="$THREADS" dotnet "$DLL" --json --warmup "$WARMUP" --warmup-ms "$WARMUP_MS" --runs "$RUNS")"
LOAD_MG_AFTER="$(uptime)"
while IFS= read -r l; do [[ "$l" == \{* ]] && LINES+=("$l"); done <<< "$mg_out"

PEER_NOTE=""
if [[ ! -f "$PEER" ]]; then
    PEER_NOTE="PyTorch peer skipped: $PEER not found (set PEER=path/to/torch_vit.py, relative to $ROOT)"
elif [[ ! -x "$PYTHON" ]] || ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    PEER_NOTE="PyTorch peer skipped: $PYTHON cannot import torch (apt-get install python3-torch, or set PYTHON=...)"
else
    echo "# running $PYTHON $PEER attention --threads $THREADS"
    peer_out="$(peer_python "$PEER" attention --threads "$THREADS")" || PEER_NOTE="PyTorch peer failed (exit $?)"
    while IFS= read -r l; do [[ "$l" == \{* ]] && LINES+=("$l"); done <<< "${peer_out:-}"
fi
LOAD_PEER_AFTER="$(uptime)"

echo
echo "# raw results (JSON lines)"
printf '%s\n' "${LINES[@]}"
echo

if command -v python3 >/dev/null 2>&1; then
    printf '%s\n' "${LINES[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
mg = next((r for r in rows if r.get("impl") == "modelgen"), None)
peers = [r for r in rows if r.get("peer") == "torch"]
def f(x): return "-" if x is None else "%.2f" % x
def ratio(p, m): return "-" if p is None or not m else "%.2fx" % (p / m)
hdr = ("case", "impl", "ModelGen ms", "(min)", "PyTorch ms", "PyTorch/ModelGen", "ModelGen GFLOP/s", "PyTorch GFLOP/s")
out = []
for phase, key, gkey in (("forward", "forward_ms", "forward_gflops"), ("forward+backward", "forward_backward_ms", "forward_backward_gflops")):
    m = mg.get(key) if mg else None
    mmin = mg.get(key.replace("_ms", "_min_ms")) if mg else None
    mgf = mg.get(gkey) if mg else None
    case = (mg or (peers[0] if peers else {})).get("case", "attention-core") + " " + phase
    if not peers:
        out.append((case, "-", f(m), f(mmin), "-", "-", f(mgf), "-"))
    for p in peers:
        pf = p.get(key)
        pg = p.get(gkey)
        if pg is None and pf and key == "forward_backward_ms" and p.get("forward_gflops") and p.get("forward_ms"):
            pg = p["forward_gflops"] * p["forward_ms"] * 3 / pf   # same 12*B*H*N^2*d convention as ModelGen
        out.append((case, p.get("impl", "?"), f(m), f(mmin), f(pf), ratio(pf, m), f(mgf), f(pg)))
w = [max(len(str(r[i])) for r in [hdr] + out) for i in range(len(hdr))]
line = lambda r: "  ".join(str(c).ljust(w[i]) if i < 2 else str(c).rjust(w[i]) for i, c in enumerate(r))
print(line(hdr)); print("  ".join("-" * x for x in w))
for r in out: print(line(r))
'
elif command -v jq >/dev/null 2>&1; then
    tab() { if command -v column >/dev/null 2>&1; then column -t -s $'\t'; else cat; fi; }
    printf '%s\n' "${LINES[@]}" | jq -rs '
      (map(select(.impl == "modelgen"))[0]) as $m | map(select(.peer == "torch")) as $p |
      (["case", "impl", "ModelGen ms", "PyTorch ms", "PyTorch/ModelGen"],
      ((["forward", "forward_ms"], ["forward+backward", "forward_backward_ms"]) as [$ph, $k] |
      (if ($p | length) == 0 then [["attention-core " + $ph, "-", ($m[$k] // "-"), "-", "-"]]
       else $p | map(["attention-core " + $ph, .impl, ($m[$k] // "-"), .[$k],
                      (if $m[$k] then ((.[$k] / $m[$k] * 100 | round) / 100 | tostring) + "x" else "-" end)]) end)[]))
      | @tsv' | tab
else
    echo "(neither python3 nor jq found: the table is the raw JSON above)"
fi

echo
[[ -n "$PEER_NOTE" ]] && echo "# $PEER_NOTE"
echo "# threads: $THREADS per side; ModelGen median of $RUNS runs after >= $WARMUP warmups and >= $WARMUP_MS ms; ratio (of medians) > 1 means ModelGen is faster"
echo "# $(peer_blas_note)"
echo "# flops: forward 4*B*H*N^2*d, forward+backward 12*B*H*N^2*d"
echo "# load before ModelGen: $LOAD_MG_BEFORE"
echo "# load after ModelGen:  $LOAD_MG_AFTER"
echo "# load after PyTorch:   $LOAD_PEER_AFTER"
