#!/usr/bin/env bash
# The project's test command (`make test`; .ci/run calls it). Fails if any part fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
t0=$SECONDS
step() { echo; echo "== $1 ($((SECONDS - t0)) s)"; }

step "notebooks and library in sync, notebooks clean"
before=$(git status --porcelain -- lmpapers nbs)
$bin/nbdev-export
$bin/nbdev-clean
after=$(git status --porcelain -- lmpapers nbs)
if [ "$before" != "$after" ]; then
  echo "nbdev-export / nbdev-clean changed the tree; run them and commit:"; git status --porcelain -- lmpapers nbs
  exit 1
fi

step "nbdev-test: every notebook, tiny paths (slow and gpu cells skipped)"
OMP_NUM_THREADS=1 $bin/nbdev-test --n-workers 2 --timing   # two notebooks at once on two cores: one thread each

step "smoke: every paper's small-scale code path on CPU, real architectures cut to two layers (--scale small --smoke, two papers at a time)"
smoke_out=$(mktemp -d)
smoke_one='t=$SECONDS; if "$0" reproduce "$2" --scale small --smoke --out "$1/$2" >"$1/$2.log" 2>&1; then echo "  ok   $2 ($((SECONDS - t)) s)";
  else echo "  FAIL $2 ($((SECONDS - t)) s):"; tail -25 "$1/$2.log"; exit 1; fi'
$bin/lmpapers list | awk '$1 == "✓" {print $2}' | OMP_NUM_THREADS=1 xargs -P 2 -I{} bash -c "$smoke_one" "$bin/lmpapers" "$smoke_out" {}

step "pytest tests/ (kernels under TRITON_INTERPRET=1, CLI, packaging, docs build); two workers, one thread each"
set +e; OMP_NUM_THREADS=1 $bin/pytest tests -q -n 2 --dist loadfile --durations=15; rc=$?; set -e
if [ $rc -ne 0 ]; then echo "pytest failed (exit $rc; 5 means no tests were collected)"; exit 1; fi

echo; echo "== all tests passed in $((SECONDS - t0)) s"
