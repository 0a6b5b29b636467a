#!/usr/bin/env bash
# The project's test command (`make test`; .ci/run calls it). Fails if any part fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
t0=$SECONDS
step() { echo; echo "== $1 ($((SECONDS - t0)) s)"; }

# One seed per run of this script, drawn at random unless LMPAPERS_TEST_SEED replays one: the smoke runs, the quick runs
# that train nothing, and pytest (tests/conftest.py) derive their seeds from it, so faults that only some seeds show
# come to light over many runs, and each can be replayed with the seed printed here.
export LMPAPERS_TEST_SEED=${LMPAPERS_TEST_SEED:-$($bin/python -c 'import secrets; print(secrets.randbelow(2**31))')}
if ! [[ $LMPAPERS_TEST_SEED =~ ^[0-9]{1,10}$ ]] || (( 10#$LMPAPERS_TEST_SEED >= 2147483648 )); then
  echo "LMPAPERS_TEST_SEED must be an integer in [0, 2**31), got '$LMPAPERS_TEST_SEED'"; exit 2; fi
echo "test seed: $LMPAPERS_TEST_SEED (replay everything: LMPAPERS_TEST_SEED=$LMPAPERS_TEST_SEED make test)"
derived_seed() { $bin/python -c 'import hashlib, sys; print(int.from_bytes(hashlib.sha256(sys.argv[1].encode()).digest()[:8], "little") % 2**31)' "$LMPAPERS_TEST_SEED|$1"; }

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
in_pytest=" bastion gfa metasd spot "   # their smoke runs are made in-process by tests/test_{bastion,metasd}_reproduce.py, test_spot_smoke.py and test_gfa_smoke.py
# Quick runs of papers whose quick tier trains nothing take a fresh seed; the others read the shipped and cached models
# trained for seed 0 (a fresh seed would train them all: minutes per paper). tools/seed_sweep.py runs those for fresh seeds.
fresh_quick=" judges unisafe "
run_one='d="$0/$1/$2"; mkdir -p "$d"; t=$SECONDS
  if [ "$1" = quick ]; then args=(--scale tiny --quick --seed "$3"); else args=(--scale small --smoke --seed "$3"); fi
  if .venv/bin/lmpapers reproduce "$2" "${args[@]}" --out "$d" >"$d.log" 2>&1; then echo "  ok   $1 $2 seed $3 ($((SECONDS - t)) s)";
  else echo "  FAIL $1 $2 seed $3 ($((SECONDS - t)) s):"; tail -25 "$d.log"
    echo "  replay: OMP_NUM_THREADS=1 .venv/bin/lmpapers reproduce $2 ${args[*]} --out /tmp/replay-$2   (or: LMPAPERS_TEST_SEED=$4 make test)"; exit 1; fi'
{ for p in $papers; do if [[ "$fresh_quick" == *" $p "* ]]; then echo "quick $p $(derived_seed "quick $p") $LMPAPERS_TEST_SEED"; else echo "quick $p 0 $LMPAPERS_TEST_SEED"; fi; done
  for p in $papers; do [[ "$in_pytest" == *" $p "* ]] || echo "smoke $p $(derived_seed "smoke $p") $LMPAPERS_TEST_SEED"; done; } | OMP_NUM_THREADS=1 xargs -P 2 -L 1 bash -c "$run_one" "$runs"
$bin/python tools/check_quick.py "$runs" "$LMPAPERS_CACHE_LOG" $papers
unset LMPAPERS_CACHE_LOG; rm -rf "$runs"   # kept when a run or a check fails (set -e stops before this line)

step "pytest tests/ (kernels under TRITON_INTERPRET=1, CLI, packaging, docs build); two workers, one thread each"
set +e; OMP_NUM_THREADS=1 $bin/pytest tests -q -n 2 --dist loadfile --durations=40; rc=$?; set -e
if [ $rc -ne 0 ]; then echo "pytest failed (exit $rc; 5 means no tests were collected); test seed $LMPAPERS_TEST_SEED, replay: LMPAPERS_TEST_SEED=$LMPAPERS_TEST_SEED make test"; exit 1; fi

echo; echo "== all tests passed in $((SECONDS - t0)) s (test seed $LMPAPERS_TEST_SEED)"
