"""Record the runs the experiment pages show: `nbs/_results/<paper>.json` and its figures in `nbs/_results/figures/`.

Usage: .venv/bin/python tools/record_pages.py [PAPER ...]    (default: every paper; `make pages` runs it)

Each paper runs `lmpapers reproduce PAPER --scale tiny --quick` into a scratch folder, one paper at a
time and single-threaded; its result file and figures then replace the paper's recorded ones. The
figures are stored as 256-colour PNGs to keep the committed files small. A paper whose run fails
keeps its previous recording and the command exits with status 1 after the other papers.
The experiment notebooks render these files (`lmpapers.core.pages.show_run`) when the docs are built,
and tests/test_pages.py checks them against the current result schema.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT/'nbs'/'_results'
PAPERS = ('gfa', 'spot', 'leanrl', 'bastion', 'judges', 'permix', 'metasd', 'msft', 'unisafe')


def lmpapers_cli() -> str:
    local = Path(sys.executable).parent/'lmpapers'
    return str(local) if local.exists() else (shutil.which('lmpapers') or sys.exit('error: the lmpapers command is not installed (pip install -e .)'))


def small_png(src: Path, dest: Path):
    "Copy a PNG as a 256-colour (palette) PNG; copy it as it is if Pillow can't read it."
    try:
        from PIL import Image
        with Image.open(src) as im:
            im.convert('RGB').quantize(256, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
    except Exception:
        shutil.copy2(src, dest)


def record(paper: str, timeout: float) -> str:
    "Run `paper`'s tiny quick experiment and store its result file and figures under `nbs/_results/`; '' or the error."
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [lmpapers_cli(), 'reproduce', paper, '--scale', 'tiny', '--quick', '--out', tmp]
        t0 = time.perf_counter()
        try: p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired: return f'ran longer than {timeout:.0f} s'
        res = Path(tmp)/f'{paper}.json'
        if not res.exists(): return f'wrote no {paper}.json (exit {p.returncode}): {(p.stdout + p.stderr)[-1500:]}'
        d = json.loads(res.read_text())
        if d.get('status') != 'ok': return f"status {d.get('status')}: {d.get('error', '')}"
        (DEST/'figures').mkdir(parents=True, exist_ok=True)
        for old in (DEST/'figures').glob(f'{paper}_*.png'): old.unlink()
        for name, rel in d.get('figures', {}).items():
            small_png(Path(tmp)/rel, DEST/rel)
        d['config'] = {k: v for k, v in (d.get('config') or {}).items() if k != 'out'}  # the scratch folder means nothing here
        (DEST/f'{paper}.json').write_text(json.dumps(d, indent=1, default=str) + '\n')
        print(f'{paper}: {len(d.get("verdicts", []))} verdicts, {len(d.get("figures", {}))} figures, '
              f'{len(d.get("figure_errors") or {})} failed figures ({time.perf_counter() - t0:.0f} s)', flush=True)
    return ''


def main(argv=None):
    ap = argparse.ArgumentParser(description='Record the tiny quick runs that the experiment pages show.')
    ap.add_argument('papers', nargs='*', help=f'papers to record (default: all of {", ".join(PAPERS)})')
    ap.add_argument('--timeout', type=float, default=900, help='seconds one paper may run (default: 900)')
    args = ap.parse_args(argv)
    bad = [p for p in args.papers if p not in PAPERS]
    if bad: ap.error(f'unknown paper(s) {bad}; choose from {list(PAPERS)}')
    failed = {}
    for paper in args.papers or PAPERS:
        if err := record(paper, args.timeout):
            failed[paper] = err
            print(f'{paper}: FAILED, its previous recording is kept: {err}', flush=True)
    size = sum(f.stat().st_size for f in DEST.rglob('*') if f.is_file()) if DEST.exists() else 0
    print(f'{DEST.relative_to(ROOT)}: {size / 1e6:.2f} MB')
    if failed: sys.exit(1)


if __name__ == '__main__':
    main()
