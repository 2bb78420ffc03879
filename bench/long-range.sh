#!/usr/bin/env bash
# Fashion-MNIST as a sequence of 784 pixels (Long Range Arena's image task on Fashion-MNIST): one pre-norm Transformer block of
# width 32 trained with each attention variant (full, memory-efficient on the CPU; linformer k = 64; performer m = 64; reformer: 2 hash rounds, chunks of 28; bigbird
# and local over blocks of 28 pixels), each in its own process, then a table of test accuracy, seconds per epoch and peak memory.
#
#   bench/long-range.sh [--train N] [--test N] [--epochs E] [--threads T] [--out DIR] [--no-build]
#
# Defaults: --train 6000 --test 2000 --epochs 2 --threads 2 --out out/long-range (about 8 minutes on two cores). Reads the
# installed Fashion-MNIST (/usr/share/datasets/fashion-mnist, apt install dataset-fashion-mnist), else the embedded subset.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TRAIN=6000 TEST=2000 EPOCHS=2 THREADS=2 OUT=out/long-range BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --train) TRAIN="$2"; shift 2 ;;
        --test) TEST="$2"; shift 2 ;;
        --epochs) EPOCHS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "long-range.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[[ $BUILD == 1 ]] && dotnet build examples/LongRange -c Release -nologo -v q >/dev/null
mkdir -p "$OUT"
JSONL="$OUT/long-range.jsonl"
: > "$JSONL"
echo "# load before: $(uptime)"
for variant in full linformer performer reformer bigbird local; do
    DOTNET_PROCESSOR_COUNT="$THREADS" dotnet examples/LongRange/bin/Release/net10.0/LongRange.dll --variant "$variant" \
        --train "$TRAIN" --test "$TEST" --epochs "$EPOCHS" | tee -a "$JSONL"
done
echo "# load after: $(uptime)"
python3 - "$JSONL" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("%-12s %10s %10s %10s %12s %10s" % ("attention", "test acc", "train acc", "s/epoch", "peak MiB", "params"))
for r in rows:
    print("%-12s %10.4f %10.4f %10.1f %12.1f %10d" % (r["variant"], r["test_acc"], r["train_acc"], r["seconds_per_epoch"], r["peak_mib"], r["parameters"]))
r = rows[0]
print("# %d train / %d test images of %s, %d epochs, batch 32, AdamW lr 0.002; 784 tokens of one pixel each" % (r["train"], r["test"], r["data"], r["epochs"]))
PY
