#!/usr/bin/env bash
# The generator fuzzer's longer run: random model declarations through the generator, the compiler and the CPU backend,
# with finite-difference gradient checks (tests/ModelGen.Generators.Tests/Fuzzing). The test suite runs the default budget
# (300 seeds, about a minute and a half); this runs a longer one.
#
#   bench/fuzz.sh                 3000 seeds from 0
#   bench/fuzz.sh SEEDS [START]   SEEDS seeds from START (a failure's seed reproduces its model: bench/fuzz.sh 1 SEED)
#
# Prints the figures at the end; every failure, with its source, is in fuzz-failures.txt beside the test assembly, and the
# models the grammar expected to pass but the generator rejected (not failures) in fuzz-unexpected-rejections.txt.
# About 0.2 s a model on two cores, so 3000 seeds take ~10 minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SEEDS="${1:-3000}"
START="${2:-0}"
OUT=tests/ModelGen.Generators.Tests/bin/Release/net10.0

status=0
MODELGEN_FUZZ_SEEDS="$SEEDS" MODELGEN_FUZZ_START="$START" \
    dotnet test tests/ModelGen.Generators.Tests -c Release --filter "FullyQualifiedName~FuzzedModels" || status=$?
echo
cat "$OUT/fuzz-figures.txt"
echo "failures: $ROOT/$OUT/fuzz-failures.txt"
exit "$status"
