#!/usr/bin/env bash
# One prepared GPU run: the kernel and method tests natively on CUDA (bf16, fp16), the kernel benchmark
# (ours vs SDPA flash vs FlexAttention, random and the methods' layouts, Wan 2.1 480p and 720p shapes),
# planning time vs one dense call, and one Wan 2.1 1.3B transformer forward per method. About 7 minutes
# on an H100 / H200; each part has its own time limit and a failed part does not stop the others.
#
#   bash benchmarks/gpu.sh              # results under $OUT if set, else benchmarks/results/
#   bash benchmarks/gpu.sh --dry-run    # tiny shapes on the CPU, tests in the Triton interpreter (~30 s)
#
# Writes attention-*, planning-*, pipeline-* (.json + .md), gpu-tests.log and gpu-run.md (each part's
# status and seconds, GPU, torch/triton versions, date, the tail of a failed part's log); 8 files.
# Installs nothing, except the project's own dependencies from wheels in $WHEELS (default .whl/) when
# diffusers is missing and such wheels are there; fetch them on a machine with a package index, e.g.
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 importlib_metadata
set -uo pipefail
cd "$(dirname "$0")/.."

dry_run=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry_run=1 ;;
        *) echo "usage: bash benchmarks/gpu.sh [--dry-run]  (unknown argument: $arg)" >&2; exit 2 ;;
    esac
done

out="${OUT:-benchmarks/results}"
mkdir -p "$out"
logs="$(mktemp -d)"
python="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
wheels="${WHEELS:-.whl}"
if ! "$python" -c "import diffusers" 2>/dev/null && compgen -G "$wheels/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --target "$logs/site" "$wheels"/*.whl \
        && export PYTHONPATH="$PYTHONPATH:$logs/site"
fi

if [ "$dry_run" = 1 ]; then
    # The interpreter runs the same test files on a few cases; benchmarks get their tiny --dry-run sets.
    test_env=(TRITON_INTERPRET=1)
    tests=(tests/test_triton_kernel.py::test_public_entry_point "tests/test_methods_triton.py::test_method_on_triton_matches_masked_reference[draft-2x8x8+text8-b32-d64-bf16]")
    attention=(--dry-run)
    planning=(--dry-run)
    pipeline=(--dry-run)
    limits=(240 240 240 240)  # guards only: a loaded CI machine is slow
else
    unset TRITON_INTERPRET
    # Native kernels only, one autotune config per kernel key (a compile each, not eight).
    test_env=(DIT_ACCEL_TEST_CUDA=1 DIT_ACCEL_AUTOTUNE=0)
    tests=(tests/test_triton_kernel.py tests/test_block_mass.py tests/test_methods_triton.py)
    attention=(--shapes wan2.1-1.3b-480p,wan2.1-14b-720p --densities 1,0.5,0.2,0.1 --repeats 5)
    planning=(--heads 12)
    pipeline=(--models wan2.1-1.3b-480p --repeats 2)
    limits=(90 200 45 135)  # 470 s in all: inside 8 minutes
fi

summary="$out/gpu-run.md"
{
    echo "# GPU run ($( [ "$dry_run" = 1 ] && echo "dry run, CPU" || echo "CUDA"))"
    echo
    "$python" - <<'EOF'
import datetime, platform, torch
try:
    import triton; triton_version = triton.__version__
except ImportError:
    triton_version = None
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else f"none (cpu {platform.machine()})"
print(f"device: {gpu}, torch {torch.__version__} (CUDA {torch.version.cuda}), triton {triton_version}, "
      f"python {platform.python_version()}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
EOF
    echo
    echo "| part | status | seconds | limit s |"
    echo "|---|---|--:|--:|"
} >"$summary"

failed=0
part() {  # part NAME LIMIT_S COMMAND...: run with a time limit, log to $logs/NAME.log, one summary row
    local name="$1" limit="$2" start status
    shift 2
    start=$SECONDS
    echo "== $name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@" >"$logs/$name.log" 2>&1
    status=$?
    if [ "$status" = 0 ]; then
        status=ok
    else
        [ "$status" = 124 ] && status="timed out" || status="failed (exit $status)"
        failed=1
        tail -n 30 "$logs/$name.log"
        {
            echo "<!-- $name: $status; last lines of its log -->"
            echo '```'
            tail -n 30 "$logs/$name.log"
            echo '```'
        } >>"$logs/failures.md"
    fi
    echo "| $name | $status | $((SECONDS - start)) | $limit |" >>"$summary"
    echo "== $name: $status in $((SECONDS - start)) s"
}

part tests "${limits[0]}" env "${test_env[@]}" "$python" -m pytest -q -rfE -p no:cacheprovider "${tests[@]}"
cp "$logs/tests.log" "$out/gpu-tests.log"
part attention "${limits[1]}" "$python" benchmarks/attention.py "${attention[@]}" --out "$out"
part planning "${limits[2]}" "$python" benchmarks/planning.py "${planning[@]}" --out "$out"
part pipeline "${limits[3]}" "$python" benchmarks/pipeline.py "${pipeline[@]}" --out "$out"

if [ -f "$logs/failures.md" ]; then
    { echo; cat "$logs/failures.md"; } >>"$summary"
fi
rm -rf "$logs"
echo "wrote $summary"
exit "$failed"
