#!/usr/bin/env bash
# GPU readiness on one CUDA GPU, in at most 8 minutes: every Triton kernel against its torch reference (outputs
# and gradients), the speculative-decoding drafters on the GPU, every paper's `--scale small --smoke` on CUDA, and the paper-level GPU timings (Spot decode
# against SDPA/FlashAttention, the speculative-decoding verify profile). Ends with one summary table, also
# written to $OUT/gpu_check.md (OUT defaults to a new temporary folder).
#
#   tools/gpu_check.sh --fetch-wheels   # once, on a machine with PyPI access: the packages a bare CUDA image lacks, into .whl/
#                                     # (transformers' wheel, 13.5 MB, may not fit beside checkpoints/ where the tree that travels is capped: then the image's own transformers is used)
#   tools/gpu_check.sh                  # on the GPU machine (carry .whl/ there if it has no network)
#   GPU_CHECK_DRY=1 tools/gpu_check.sh  # the same steps on this CPU, to check the script itself (times mean nothing)
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS="datasets==5.2.0 transformers==5.24.0 fastcore==2.2.41 dill==0.4.1 multiprocess==0.70.19"
if [ "${1:-}" = --fetch-wheels ]; then
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $WHEELS
  exit $?
fi
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"
export LMPAPERS_CACHE=${LMPAPERS_CACHE:-/tmp/lmpapers-cache} PYTHONUNBUFFERED=1
if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then
  PY=.venv/bin/python; export TRITON_INTERPRET=1 LMPAPERS_SMOKE_DEVICE=cpu; BENCH_ARGS=--dry-run
else
  PY=${PYTHON:-python3}; export TRITON_INTERPRET=0 LMPAPERS_SMOKE_DEVICE=cuda; BENCH_ARGS=
  $PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || { echo "error: no CUDA GPU visible"; exit 2; }
  if [ -d .whl ]; then $PY -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || exit 2; fi
  $PY -m pip install -q --no-index --no-deps --no-build-isolation --upgrade --target /tmp/lmpapers-site . || exit 2
  export PYTHONPATH=/tmp/lmpapers-site:/tmp/site:${PYTHONPATH:-}
  # Run from the repository root, `python -c` and `python -m` would put it first on sys.path, so `import lmpapers` would
  # find the notebooks' export folder, which lacks `lmpapers.kernels` (installed from kernels/): keep the cwd off sys.path.
  export PYTHONSAFEPATH=1
  $PY -c 'import lmpapers.kernels, sys; sys.exit(0 if lmpapers.kernels.__file__.startswith("/tmp/lmpapers-site/") else 1)' \
    || { echo "error: 'import lmpapers' does not find the package installed in /tmp/lmpapers-site"; exit 2; }
fi
LMP=("$PY" -c 'import sys; from lmpapers.core.cli import main; sys.exit(main())')
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 |"); echo "[$2] $1 ($3 s) $4"; }

t0=$SECONDS
timeout 180 $PY -m pytest tests/test_kernels_cross_entropy.py tests/test_kernels_spot.py -q -p no:cacheprovider >"$OUT/kernels.log" 2>&1
rc=$?; summary=$(tail -1 "$OUT/kernels.log")
row "Triton kernels vs references (outputs, gradients)" "$([ $rc = 0 ] && echo ok || echo FAIL)" $((SECONDS - t0)) "$summary"

t0=$SECONDS   # drafters on the GPU under a CPU target: every tensor reaching a drafter on its device and dtype (forward pre-hooks)
timeout 120 $PY -m pytest tests/test_specdec_setup.py -q -p no:cacheprovider -k "device or dtype" >"$OUT/devices.log" 2>&1
rc=$?; summary=$(tail -1 "$OUT/devices.log")
row "drafters follow their model's device and dtype" "$([ $rc = 0 ] && echo ok || echo FAIL)" $((SECONDS - t0)) "$summary"

for paper in $("${LMP[@]}" list | awk '$1 == "✓" {print $2}'); do
  t0=$SECONDS
  timeout 120 "${LMP[@]}" reproduce "$paper" --scale small --smoke --out "$OUT/smoke" >"$OUT/smoke_$paper.log" 2>&1
  rc=$?; detail=$(grep -m1 -E '^error:|Error' "$OUT/smoke_$paper.log" | cut -c1-120)
  row "$paper --scale small --smoke on $LMPAPERS_SMOKE_DEVICE" "$([ $rc = 0 ] && echo ok || echo "FAIL ($rc)")" $((SECONDS - t0)) "${detail:-wrote smoke/$paper.json}"
done

t0=$SECONDS
timeout 240 $PY tools/gpu_bench.py $BENCH_ARGS --out "$OUT/gpu_bench.md" >"$OUT/bench.log" 2>&1
rc=$?
row "timings: Spot decode vs SDPA/flash, verify profile" "$([ $rc = 0 ] && echo ok || echo "FAIL ($rc)")" $((SECONDS - t0)) "tables in gpu_bench.md"

{
  echo "# GPU check: $($PY -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (dry run)")'), torch $($PY -c 'import torch; print(torch.__version__)')"
  echo; echo "| check | status | s | detail |"; echo "| --- | --- | --- | --- |"; printf '%s\n' "${ROWS[@]}"
  echo; [ -f "$OUT/gpu_bench.md" ] && cat "$OUT/gpu_bench.md"
} >"$OUT/gpu_check.md"
echo; cat "$OUT/gpu_check.md"
printf '%s\n' "${ROWS[@]}" | grep -q FAIL && exit 1 || exit 0
