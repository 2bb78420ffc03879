#!/usr/bin/env bash
# Side-by-side training of the garment-segmentation SETR, ModelGen vs the PyTorch peer, in one session:
# the same model (examples/Segmentation/GarmentSetr.cs = bench/peers/torch_setr.py), the same canvases, batch 32,
# AdamW 1e-3 under one-cycle, for --epochs epochs on --train canvases; test pixel accuracy and mean IoU on --test canvases.
#
#   bench/segmentation.sh [--epochs 3] [--train 6000] [--test 1000] [--threads 2] [--no-build] [--no-peer]
# Environment: PYTHON the interpreter for the peer (default /usr/bin/python3, Debian's python3-torch)
# Prints both sides' JSON lines, then a table per epoch with the seconds per epoch, ms per step and the ratio peer/ModelGen.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/peer-blas.sh"
PYTHON="${PYTHON:-/usr/bin/python3}"
PEER=bench/peers/torch_setr.py
EPOCHS=3 TRAIN=6000 TEST=1000 THREADS=2 BUILD=1 RUN_PEER=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --epochs)   EPOCHS="$2"; shift 2 ;;
        --train)    TRAIN="$2"; shift 2 ;;
        --test)     TEST="$2"; shift 2 ;;
        --threads)  THREADS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-peer)  RUN_PEER=0; shift ;;
        -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "segmentation.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done

PROJ=examples/Segmentation/Segmentation.csproj
EXE=examples/Segmentation/bin/Release/net10.0/Segmentation
if [[ $BUILD == 1 ]]; then
    echo "# building $PROJ (Release)"
    if ! log="$(dotnet build "$PROJ" -c Release -nologo 2>&1)"; then echo "$log" >&2; echo "segmentation.sh: build failed" >&2; exit 1; fi
fi
OUT="$(mktemp -d -t segmentation-bench.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
LINES=()
collect() { while IFS= read -r l; do if [[ "$l" == \{* ]]; then LINES+=("$l"); fi; done <<< "$1"; }

echo "# ModelGen: $EXE --epochs $EPOCHS --train $TRAIN --test $TEST ($THREADS threads)   load: $(uptime)"
collect "$(CI=true DOTNET_PROCESSOR_COUNT="$THREADS" "$EXE" --epochs "$EPOCHS" --train "$TRAIN" --test "$TEST" --out "$OUT" --json)"
if [[ $RUN_PEER == 1 ]]; then
    if "$PYTHON" -c 'import torch' 2>/dev/null; then
        echo "# PyTorch: $PYTHON $PEER --epochs $EPOCHS --train $TRAIN --test $TEST --threads $THREADS   load: $(uptime)"
        collect "$(peer_python "$PEER" --epochs "$EPOCHS" --train "$TRAIN" --test "$TEST" --threads "$THREADS")"
    else
        echo "# PyTorch peer skipped: $PYTHON cannot import torch (apt-get install python3-torch)"
    fi
fi
echo "# done   load: $(uptime)"
echo
printf '%s\n' "${LINES[@]}"
echo
printf '%s\n' "${LINES[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
ep = {(r["peer"], r["epoch"]): r for r in rows if r.get("case") == "garment-setr"}
print("%-6s %-10s %10s %10s %10s %10s" % ("epoch", "side", "s/epoch", "ms/step", "pixel acc", "mIoU"))
for e in sorted({k[1] for k in ep}):
    for side in ("modelgen", "torch"):
        r = ep.get((side, e))
        if r: print("%-6d %-10s %10.1f %10.1f %9.2f%% %9.2f%%" % (e, side, r["epoch_s"], r["median_step_ms"], 100 * r["test_pixel_acc"], 100 * r["test_miou"]))
    m, t = ep.get(("modelgen", e)), ep.get(("torch", e))
    if m and t: print("%-6s %-10s %9.1fx %9.1fx %+9.2f  %+9.2f   (peer/ModelGen; points ModelGen - peer)" % ("", "ratio", t["epoch_s"] / m["epoch_s"], t["median_step_ms"] / m["median_step_ms"], 100 * (m["test_pixel_acc"] - t["test_pixel_acc"]), 100 * (m["test_miou"] - t["test_miou"])))
'
echo "# $(peer_blas_note)"
