# Sourced by the bench scripts. Runs the PyTorch peer (and only the peer) on OpenBLAS with its core type set: OpenBLAS 0.3.21
# takes this virtual CPU for an old one ("Prescott", ~35 GFLOP/s) unless told, and a peer on a slow or reference BLAS is no
# anchor. Install it with `apt-get install libopenblas0-pthread`; OPENBLAS_CORETYPE may be overridden from the environment.
peer_python() {
    OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Cooperlake}" OPENBLAS_NUM_THREADS="${THREADS:-2}" "$PYTHON" "$@"
}

# A line for the report: which BLAS the peer's torch loads, so a table says what its PyTorch numbers stand on.
peer_blas_note() {
    if ldconfig -p 2>/dev/null | grep -q 'libopenblas'; then
        echo "PyTorch peer: OpenBLAS, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Cooperlake}, OPENBLAS_NUM_THREADS=${THREADS:-2}"
    else
        echo "PyTorch peer: OpenBLAS is not installed (apt-get install libopenblas0-pthread), so torch uses the reference BLAS: its numbers are no anchor"
    fi
}
