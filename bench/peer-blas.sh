# Sourced by the bench scripts. Runs the PyTorch peer (and only the peer) on OpenBLAS with its core type set: OpenBLAS 0.3.21
# takes this virtual CPU for an old one ("Prescott", ~35 GFLOP/s) unless told, and a peer on a slow or reference BLAS is no
# anchor. Install it with `apt-get install libopenblas0-pthread`; OPENBLAS_CORETYPE may be overridden from the environment.
# The core type this CPU supports: AVX-512 -> Cooperlake, AVX2 -> Zen on AMD and Haswell elsewhere (OpenBLAS falls back to
# Haswell when told a core type the CPU cannot run, so naming one it lacks would only mislabel the report).
peer_coretype() {
    if [[ -n "${OPENBLAS_CORETYPE:-}" ]]; then echo "$OPENBLAS_CORETYPE"
    elif grep -qw avx512f /proc/cpuinfo 2>/dev/null; then echo Cooperlake
    elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then grep -q AuthenticAMD /proc/cpuinfo && echo Zen || echo Haswell
    else echo Prescott; fi
}
peer_python() {
    OPENBLAS_CORETYPE="$(peer_coretype)" OPENBLAS_NUM_THREADS="${THREADS:-2}" "$PYTHON" "$@"
}

# A line for the report: which BLAS the peer's torch loads, so a table says what its PyTorch numbers stand on.
peer_blas_note() {
    if ldconfig -p 2>/dev/null | grep -q 'libopenblas'; then
        echo "PyTorch peer: OpenBLAS, OPENBLAS_CORETYPE=$(peer_coretype), OPENBLAS_NUM_THREADS=${THREADS:-2}"
    else
        echo "PyTorch peer: OpenBLAS is not installed (apt-get install libopenblas0-pthread), so torch uses the reference BLAS: its numbers are no anchor"
    fi
}
