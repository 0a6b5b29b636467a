#!/usr/bin/env python
"""Shipped cache entries under checkpoints/: add one, list them, or rebuild them all and compare.

  python tools/checkpoints.py ship KIND/KEY --cmd "lmpapers reproduce gfa --scale tiny"
  python tools/checkpoints.py list
  python tools/checkpoints.py verify [--tolerance 1e-3] [KIND/KEY ...]

`ship` copies a verified entry of the local cache into checkpoints/ and records, in checkpoints/INDEX.json,
the command that rebuilds it and the SHA-256 of its MANIFEST.json (the cache refuses a shipped entry whose
manifest does not match it, so a file and its manifest rewritten together are caught); the total size stays
under `SHIPPED_CAP_MB`.
`verify` runs each recorded command with an empty cache and shipped entries off
(LMPAPERS_SHIPPED=off, one torch thread), then compares every rebuilt file with the shipped one (all but
timing.json, which holds a build's wall-clock times). Another CPU computes other floating-point bits, so
a file that is not bit-exact is compared value by value: safetensors and JSON files report the largest
absolute difference of any number, and the entry passes when it is within `--tolerance`. It prints, per
entry, `bit-exact` or the largest difference, and exits 1 unless every entry is within tolerance.
"""
from __future__ import annotations
import argparse, json, os, shlex, shutil, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from lmpapers.core.cache import SHIPPED_CAP_MB, cache_dir, check_entry, manifest_digest

SHIP = REPO/'checkpoints'
INDEX = SHIP/'INDEX.json'


def load_index() -> dict:
    return json.loads(INDEX.read_text()) if INDEX.exists() else {}


def entry_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob('*') if p.is_file())


def total_bytes() -> int:
    return entry_bytes(SHIP) if SHIP.exists() else 0


def ship(name: str, cmd: str) -> None:
    kind, key = name.split('/')
    src = cache_dir()/kind/key
    if not src.is_dir(): sys.exit(f"error: no cache entry {src}; run the command that builds it first")
    if (problem := check_entry(src)): sys.exit(f"error: cache entry {src} is unusable ({problem})")
    if not cmd.split()[0] in ('lmpapers', 'python'): sys.exit("error: --cmd must be an `lmpapers ...` or `python ...` command")
    dest = SHIP/kind/key
    size = entry_bytes(src)
    if (total_bytes() - (entry_bytes(dest) if dest.exists() else 0) + size) / 2**20 > SHIPPED_CAP_MB:
        sys.exit(f"error: shipping {name} ({size / 2**20:.1f} MB) would take checkpoints/ over {SHIPPED_CAP_MB} MB")
    if dest.exists(): shutil.rmtree(dest)
    shutil.copytree(src, dest)
    idx = load_index()
    idx[name] = dict(cmd=cmd, bytes=size, manifest=manifest_digest(dest))
    SHIP.mkdir(exist_ok=True)
    INDEX.write_text(json.dumps(dict(sorted(idx.items())), indent=1) + '\n')
    print(f"shipped {name}: {size / 2**20:.2f} MB; checkpoints/ now {total_bytes() / 2**20:.1f} of {SHIPPED_CAP_MB} MB")


def reindex() -> None:
    "Record each indexed entry's size and manifest SHA-256 again (after its folder was renamed or its manifest rewritten on purpose)."
    idx = load_index()
    for name, info in idx.items():
        if (problem := check_entry(SHIP/name)): sys.exit(f"error: {name}: {problem}")
        info.update(bytes=entry_bytes(SHIP/name), manifest=manifest_digest(SHIP/name))
    INDEX.write_text(json.dumps(dict(sorted(idx.items())), indent=1) + '\n')
    print(f"reindexed {len(idx)} entries")


def show() -> None:
    idx = load_index()
    for name, info in idx.items():
        problem = check_entry(SHIP/name)
        print(f"{name}  {info['bytes'] / 2**20:6.2f} MB  {'ok' if problem is None else problem}  <- {info['cmd']}")
    print(f"{len(idx)} entries, {total_bytes() / 2**20:.1f} of {SHIPPED_CAP_MB} MB")


VOLATILE = {'timing.json'}   # wall-clock times of a build: recorded, never compared


def _numbers(x):
    "Every number in a JSON value, in order."
    if isinstance(x, bool): return
    if isinstance(x, (int, float)): yield float(x)
    elif isinstance(x, dict):
        for k in sorted(x): yield from _numbers(x[k])
    elif isinstance(x, list):
        for v in x: yield from _numbers(v)


def file_difference(a: Path, b: Path) -> float:
    "Largest absolute difference between two files' numbers (safetensors tensors or JSON values); inf when they cannot be compared."
    import math
    if a.suffix == '.safetensors':
        from safetensors.torch import load_file
        ta, tb = load_file(a), load_file(b)
        if set(ta) != set(tb) or any(ta[k].shape != tb[k].shape for k in ta): return math.inf
        return max(((ta[k].double() - tb[k].double()).abs().max().item() for k in ta if ta[k].numel()), default=0.0)
    if a.suffix == '.json':
        try: na, nb = list(_numbers(json.loads(a.read_text()))), list(_numbers(json.loads(b.read_text())))
        except ValueError: return math.inf
        if len(na) != len(nb): return math.inf
        return max((abs(x - y) for x, y in zip(na, nb)), default=0.0)
    return math.inf


def compare(shipped: Path, rebuilt: Path, tolerance: float) -> tuple[bool, str]:
    "(within tolerance, 'bit-exact' or the largest difference per file) for a shipped entry and its rebuild."
    if not rebuilt.is_dir(): return False, 'not rebuilt by its command (its config key changed?)'
    want = json.loads((shipped/'MANIFEST.json').read_text())['files']
    got = json.loads((rebuilt/'MANIFEST.json').read_text())['files']
    extra = {f for f in set(want) ^ set(got) if Path(f).name not in VOLATILE}   # a build's timing.json, present or not, is never compared
    if extra: return False, f"different files: {sorted(extra)}"
    diff = [f for f in want if f in got and want[f]['sha256'] != got[f]['sha256'] and Path(f).name not in VOLATILE]
    if not diff: return True, 'bit-exact'
    gaps = {f: file_difference(shipped/f, rebuilt/f) for f in diff}
    worst = max(gaps.values())
    return worst <= tolerance, (f"largest difference {worst:.3g} ({'within' if worst <= tolerance else 'above'} tolerance {tolerance:g}): "
                                + ', '.join(f'{f} {g:.3g}' for f, g in gaps.items()))


def verify(names: list[str], tolerance: float = 1e-3) -> int:
    idx = load_index()
    names = names or list(idx)
    unknown = [n for n in names if n not in idx]
    if unknown: sys.exit(f"error: not shipped: {unknown}")
    by_cmd: dict[str, list[str]] = {}
    for n in names: by_cmd.setdefault(idx[n]['cmd'], []).append(n)
    bad = 0
    for cmd, entries in by_cmd.items():
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
            env = dict(os.environ, LMPAPERS_CACHE=cache, LMPAPERS_SHIPPED='off', OMP_NUM_THREADS='1')
            argv = shlex.split(cmd)
            if argv[0] == 'lmpapers': argv[0] = str(REPO/'.venv'/'bin'/'lmpapers')
            if argv[0] == 'python': argv[0] = sys.executable
            if '--out' not in argv and 'reproduce' in argv: argv += ['--out', out]
            t = time.time(); print(f"rebuilding {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}: {cmd}", flush=True)
            run = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
            if run.returncode: print(run.stdout[-2000:], run.stderr[-2000:]); bad += len(entries); continue
            for n in entries:
                ok, verdict = compare(SHIP/n, Path(cache)/n, tolerance)
                bad += not ok
                print(f"  {n}: {verdict} ({time.time() - t:.0f} s)")
    print(f'all shipped entries rebuilt within tolerance {tolerance:g}' if not bad else f'{bad} shipped entries were not rebuilt within tolerance {tolerance:g}')
    return int(bad > 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='what', required=True)
    s = sub.add_parser('ship'); s.add_argument('entry'); s.add_argument('--cmd', required=True)
    sub.add_parser('list')
    v = sub.add_parser('verify'); v.add_argument('entries', nargs='*')
    v.add_argument('--tolerance', type=float, default=1e-3, help='largest absolute difference accepted in a file that is not bit-exact (default 1e-3)')
    sub.add_parser('reindex', help="record every shipped entry's size and manifest SHA-256 in INDEX.json again")
    a = ap.parse_args()
    if a.what == 'ship': ship(a.entry, a.cmd); return 0
    if a.what == 'list': show(); return 0
    if a.what == 'reindex': reindex(); return 0
    return verify(a.entries, a.tolerance)


if __name__ == '__main__':
    sys.exit(main())
