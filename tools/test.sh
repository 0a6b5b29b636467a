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

step "smoke and quick, two runs at a time: every paper's tiny quick tier end to end (--scale tiny --quick: the full run's models, results, report, figures) and its small-scale code path on CPU (--scale small --smoke, real architectures cut to two layers)"
runs=$(mktemp -d)
export LMPAPERS_CACHE_LOG="$runs/cache.jsonl"   # each cache read or build, one JSON line: shipped entries must never be built
papers=$($bin/lmpapers list | awk '$1 == "✓" {print $2}')
in_pytest=" bastion gfa metasd spot "   # their smoke runs are made in-process by tests/test_{bastion,metasd,spot}_reproduce.py and test_gfa_smoke.py
run_one='d="$0/$1/$2"; mkdir -p "$d"; t=$SECONDS
  if [ "$1" = quick ]; then args=(--scale tiny --quick); else args=(--scale small --smoke); fi
  if .venv/bin/lmpapers reproduce "$2" "${args[@]}" --out "$d" >"$d.log" 2>&1; then echo "  ok   $1 $2 ($((SECONDS - t)) s)";
  else echo "  FAIL $1 $2 ($((SECONDS - t)) s):"; tail -25 "$d.log"; exit 1; fi'
{ for p in $papers; do echo "quick $p"; done
  for p in $papers; do [[ "$in_pytest" == *" $p "* ]] || echo "smoke $p"; done; } | OMP_NUM_THREADS=1 xargs -P 2 -L 1 bash -c "$run_one" "$runs"
$bin/python tools/check_quick.py "$runs" "$LMPAPERS_CACHE_LOG" $papers
unset LMPAPERS_CACHE_LOG; rm -rf "$runs"   # kept when a run or a check fails (set -e stops before this line)

step "pytest tests/ (kernels under TRITON_INTERPRET=1, CLI, packaging, docs build); two workers, one thread each"
set +e; OMP_NUM_THREADS=1 $bin/pytest tests -q -n 2 --dist loadfile --durations=40; rc=$?; set -e
if [ $rc -ne 0 ]; then echo "pytest failed (exit $rc; 5 means no tests were collected)"; exit 1; fi

echo; echo "== all tests passed in $((SECONDS - t0)) s"
