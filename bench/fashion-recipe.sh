#!/usr/bin/env bash
# Test accuracy of the peer's Fashion-MNIST recipe, ModelGen beside PyTorch, over several seeds (one run's accuracy
# moves by about half a point with the seed, so single runs cannot settle a ±0.5-point comparison).
#
#   bench/fashion-recipe.sh [--seeds "0 1 2"] [--epochs 1] [--threads 2] [--no-torch] [--no-modelgen]
#
# Both sides train the ViT of the peer's `fashion` case (28x28, patch 4, dim 64, depth 4, heads 4, MLP 2x) with its recipe:
# batch 128, AdamW 1e-3 wd 0.05, OneCycleLR (pct_start 0.1, beta1 cycled), no augmentation, no label smoothing, no clipping.
# ModelGen runs examples/FashionMnist with --schedule onecycle --label-smoothing 0 --clip 0 --augment none --seed S; it does
# not decay norms, biases, the class token or positions (PyTorch's recipe decays every parameter). PyTorch runs
# bench/peers/torch_vit_seeded.py, which imports the peer's model and trains it with torch.manual_seed(S).
# Environment: PEER   the peer script, relative to the repo root (default ../shared/peers/torch_vit.py)
#              PYTHON the interpreter for the peer (default /usr/bin/python3, Debian's python3-torch)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/peer-blas.sh"
PEER="${PEER:-../shared/peers/torch_vit.py}"
PYTHON="${PYTHON:-/usr/bin/python3}"
SEEDS="0 1 2" EPOCHS=1 THREADS=2 TORCH=1 MODELGEN=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seeds)       SEEDS="$2"; shift 2 ;;
        --epochs)      EPOCHS="$2"; shift 2 ;;
        --threads)     THREADS="$2"; shift 2 ;;
        --no-torch)    TORCH=0; shift ;;
        --no-modelgen) MODELGEN=0; shift ;;
        -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fashion-recipe.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[[ -d /usr/share/datasets/fashion-mnist ]] || { echo "fashion-recipe.sh: needs the full set (apt-get install dataset-fashion-mnist)" >&2; exit 1; }

LINES=()
OUT="$(mktemp -d -t fashion-recipe.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
echo "# load before: $(uptime)"
if [[ $MODELGEN == 1 ]]; then
    dotnet build examples/FashionMnist -c Release -nologo -v quiet >/dev/null
    for s in $SEEDS; do
        echo "# ModelGen seed $s"
        log="$(DOTNET_PROCESSOR_COUNT="$THREADS" dotnet run -c Release --no-build --project examples/FashionMnist -- --epochs "$EPOCHS" \
            --schedule onecycle --label-smoothing 0 --clip 0 --augment none --seed "$s" --out "$OUT/seed$s" --json 2>&1)"
        while IFS= read -r l; do [[ "$l" == \{* ]] && LINES+=("$l") && echo "$l"; done <<< "$log"
    done
fi
if [[ $TORCH == 1 ]]; then
    for s in $SEEDS; do
        echo "# PyTorch seed $s"
        log="$(peer_python bench/peers/torch_vit_seeded.py --peer "$PEER" --seed "$s" --epochs "$EPOCHS" --threads "$THREADS")"
        while IFS= read -r l; do [[ "$l" == \{* ]] && LINES+=("$l") && echo "$l"; done <<< "$log"
    done
fi
echo "# load after: $(uptime)"
printf '%s\n' "${LINES[@]}" | EPOCHS="$EPOCHS" python3 -c '
import json, os, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
last = int(os.environ["EPOCHS"])
acc = {impl: [100 * r["test_acc"] for r in rows if r["impl"] == impl and r["epoch"] == last] for impl in ("modelgen", "torch")}
print(f"\ntest accuracy after {last} epoch(s), per seed and mean ± sample std:")
for impl, xs in acc.items():
    if xs:
        sd = statistics.stdev(xs) if len(xs) > 1 else float("nan")
        print(f"  {impl:9s} " + "  ".join(f"{x:.2f}" for x in xs) + f"   mean {statistics.mean(xs):.2f} ± {sd:.2f}")
if acc["modelgen"] and acc["torch"]:
    diff = statistics.mean(acc["modelgen"]) - statistics.mean(acc["torch"])
    print(f"  difference of means (ModelGen - PyTorch): {diff:+.2f} points")
'
echo "# $(peer_blas_note)"
