"""Run papers' quick tier for seeds nobody chose: `lmpapers reproduce P --scale tiny --quick --seed S` for fresh
random seeds in [0, 2**31), one process at a time, each on one thread.

    python tools/seed_sweep.py [PAPER ...] [--count N] [--seeds S,S,...] [--json FILE] [--out DIR] [--timeout SEC]

PAPER: names from `lmpapers list`, or `all` (the default). Each (paper, seed) gets its own results folder under DIR;
its status (the results file's `status`, or why there is none) and wall seconds go to FILE as JSON after every run, so
a sweep cut short keeps what it measured. A seed not in the shipped checkpoints trains every model of the quick tier:
minutes per paper. Prints a table and, for each run that is not `ok`, the tail of its log and the command that replays
it; exits 1 if any run is not `ok`."""
import argparse, json, os, secrets, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LMPAPERS = ROOT/'.venv'/'bin'/'lmpapers'

def papers_listed() -> list[str]:
    "The implemented papers, in `lmpapers list` order."
    out = subprocess.run([str(LMPAPERS), 'list'], capture_output=True, text=True, check=True).stdout
    return [l.split()[1] for l in out.splitlines() if l.startswith('✓')]

def draw_seeds(k: int) -> list[int]:
    "`k` distinct seeds drawn from the OS's randomness, in [0, 2**31): what `--seed` accepts."
    seeds = []
    while len(seeds) < k:
        s = secrets.randbelow(2**31)
        if s not in seeds: seeds.append(s)
    return seeds

def command(paper: str, seed: int, out: Path) -> list[str]:
    return [str(LMPAPERS), 'reproduce', paper, '--scale', 'tiny', '--quick', '--seed', str(seed), '--out', str(out)]

def run_one(paper: str, seed: int, out: Path, timeout: float) -> dict:
    "One quick run in its own process with OMP_NUM_THREADS=1: status, seconds, the log's tail."
    out.mkdir(parents=True, exist_ok=True); log = out.with_suffix('.log')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    t0 = time.time()
    try:
        with open(log, 'w') as f: rc = subprocess.run(command(paper, seed, out), stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout, cwd=ROOT).returncode
    except subprocess.TimeoutExpired: rc = 'timeout'
    secs = time.time() - t0
    res = out/f'{paper}.json'
    if rc == 'timeout': status = f'timeout after {timeout:g} s'
    elif not res.exists(): status = f'no results file (exit {rc})'
    else:
        r = json.loads(res.read_text()); status = r.get('status', 'no status')
        if status == 'ok' and rc != 0: status = f'ok in the results file but exit {rc}'
        if status != 'ok' and r.get('error'): status += f": {str(r['error'])[:200]}"
    tail = log.read_text(errors='replace').splitlines()[-25:] if log.exists() else []
    return dict(paper=paper, seed=seed, status=status, seconds=round(secs, 1), exit=rc, log=str(log),
                replay=' '.join(['OMP_NUM_THREADS=1'] + command(paper, seed, out)), tail=tail if status != 'ok' else [])

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('papers', nargs='*', default=['all'])
    ap.add_argument('--count', type=int, default=1, help='fresh seeds per paper (default 1)')
    ap.add_argument('--seeds', default=None, help='comma-separated seeds to run instead of fresh ones (a replay)')
    ap.add_argument('--json', default='seed_sweep.json', help='where the per-run records go (default seed_sweep.json)')
    ap.add_argument('--out', default=None, help='results folders (default: a new folder under /tmp)')
    ap.add_argument('--timeout', type=float, default=3600, help='seconds one run may take (default 3600)')
    a = ap.parse_args(argv)
    known = papers_listed()
    papers = known if a.papers == ['all'] else a.papers
    if bad := [p for p in papers if p not in known]: ap.error(f"unknown paper(s) {', '.join(bad)}; one of {', '.join(known)} or all")
    if a.count < 1: ap.error(f'--count must be at least 1, got {a.count}')
    if a.seeds is not None:
        try: fixed = [int(s) for s in a.seeds.split(',')]
        except ValueError: ap.error(f'--seeds must be comma-separated integers, got {a.seeds!r}')
        if bad := [s for s in fixed if not 0 <= s < 2**31]: ap.error(f'seeds must be in [0, 2**31), got {bad}')
    out = Path(a.out) if a.out else Path(os.environ.get('TMPDIR', '/tmp'))/f'seed-sweep-{int(time.time())}'
    plan = [(p, s) for p in papers for s in (fixed if a.seeds is not None else draw_seeds(a.count))]
    print(f"seed sweep: {len(plan)} quick runs, one at a time: " + ', '.join(f'{p} {s}' for p, s in plan), flush=True)
    print(f"results under {out}; records in {a.json}", flush=True)
    records = []
    for p, s in plan:
        r = run_one(p, s, out/f'{p}-{s}', a.timeout); records.append(r)
        Path(a.json).write_text(json.dumps(dict(runs=records), indent=1) + '\n')
        print(f"  {'ok  ' if r['status'] == 'ok' else 'FAIL'} {p:<8} seed {s:<10} {r['seconds']:>8.1f} s  {r['status'] if r['status'] != 'ok' else ''}", flush=True)
    failed = [r for r in records if r['status'] != 'ok']
    print(f"\n{'paper':<8} {'seed':>10} {'seconds':>8}  status")
    for r in records: print(f"{r['paper']:<8} {r['seed']:>10} {r['seconds']:>8.1f}  {r['status']}")
    for r in failed:
        print(f"\nFAILED: {r['paper']} with seed {r['seed']}: {r['status']}\n" + '\n'.join('  | ' + l for l in r['tail']) +
              f"\nreplay: {r['replay']}\n    or: python tools/seed_sweep.py {r['paper']} --seeds {r['seed']}")
    if failed: print(f"\nseed sweep FAILED: {len(failed)} of {len(records)} runs not ok", file=sys.stderr); return 1
    print(f'\nseed sweep: all {len(records)} runs ok'); return 0

if __name__ == '__main__': sys.exit(main())
