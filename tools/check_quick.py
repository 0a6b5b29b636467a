"""Check what `make test`'s quick tier wrote: every paper's results, report and figures, quiet logs, and shipped
cache entries used rather than rebuilt.

    python tools/check_quick.py RUNS_DIR CACHE_LOG PAPER...

RUNS_DIR/quick/PAPER/ holds one `lmpapers reproduce PAPER --scale tiny --quick` run and RUNS_DIR/quick/PAPER.log its
output; CACHE_LOG is the `$LMPAPERS_CACHE_LOG` those runs appended to. Prints one line per problem and exits 1 if there
is any."""
import json, shutil, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def check_paper(runs: Path, p: str) -> list[str]:
    "Problems with paper `p`'s quick run: its results file, report, figures and log."
    d, bad = runs/'quick'/p, []
    f = d/f'{p}.json'
    if not f.exists(): return [f'{p}: no results file {f}']
    r = json.loads(f.read_text())
    if r.get('status') != 'ok': bad.append(f"{p}: status {r.get('status')!r}: {r.get('error', '')[:300]}")
    if r.get('scale') != 'tiny' or r.get('smoke'): bad.append(f"{p}: scale {r.get('scale')!r}, smoke {r.get('smoke')!r}; expected a tiny run")
    if (r.get('config') or {}).get('quick') is not True: bad.append(f'{p}: the config does not record quick: true')
    if not any('quick tier' in n and 'not results' in n for n in r.get('notes', [])): bad.append(f'{p}: no note that quick numbers are not results')
    if not r.get('metrics'): bad.append(f'{p}: no metrics')
    if 'torch' not in r.get('versions', {}): bad.append(f'{p}: no library versions recorded')
    if not r.get('figures'): bad.append(f'{p}: no figures')
    for name, err in (r.get('figure_errors') or {}).items(): bad.append(f'{p}: figure {name} failed: {err[:300]}')
    if not isinstance(r.get('verdicts'), list): bad.append(f'{p}: no verdicts list in the results file')
    for name, rel in r.get('figures', {}).items():
        if not (d/rel).exists() or (d/rel).stat().st_size < 1000: bad.append(f'{p}: figure {name} ({rel}) missing or empty')
    md, html = d/'report.md', d/'report.html'
    if not md.exists() or f'## {p}' not in md.read_text(): bad.append(f'{p}: report.md missing or without the paper')
    if not html.exists() or not html.read_text().startswith('<!doctype html>'): bad.append(f'{p}: report.html missing or not HTML')
    log = (runs/'quick'/f'{p}.log').read_text(errors='replace')
    if 'it/s' in log or '\r' in log: bad.append(f'{p}: progress bars in a non-terminal log (quiet by default)')
    stages = [l for l in log.splitlines() if l.startswith('   · ')]
    if not 0 < len(stages) < 40: bad.append(f'{p}: {len(stages)} stage lines (one line per stage expected)')
    return bad

def check_report(runs: Path, papers: list[str]) -> list[str]:
    "Every paper's results in one folder, as `reproduce all` leaves them: the combined report must name each."
    from lmpapers.core.results import write_report
    all_ = runs/'all'; all_.mkdir(parents=True, exist_ok=True)
    for p in papers:
        d = runs/'quick'/p
        if not (d/f'{p}.json').exists(): continue
        shutil.copy(d/f'{p}.json', all_/f'{p}.json')
        if (d/'figures').exists(): shutil.copytree(d/'figures', all_/'figures', dirs_exist_ok=True)
    if not list(all_.glob('*.json')): return ['no results to report']
    text = write_report(all_).read_text()
    return [f'combined report: no section for {p}' for p in papers if f'## {p}' not in text]

def check_cache(log: Path) -> list[str]:
    "Shipped entries (checkpoints/INDEX.json) must be copied or hit, never built; the log must show them read at all."
    index = set(json.loads((ROOT/'checkpoints'/'INDEX.json').read_text()))
    if not log.exists(): return [f'no cache log at {log}: was LMPAPERS_CACHE_LOG set for the runs?']
    events = [json.loads(l) for l in log.read_text().splitlines() if l.strip()]
    built = sorted({e['entry'] for e in events if e['how'] == 'built' and e['entry'] in index})
    bad = [f'shipped entry {e} was built, not copied from checkpoints/ (is it shipped under the key the run asks for?)' for e in built]
    if not any(e['entry'] in index for e in events): bad.append(f'no shipped entry was read in {len(events)} cache events: the quick tier should load them')
    kinds = {e.split('/')[0] for e in index}
    for e in sorted({e['entry'] for e in events if e['how'] == 'built' and e['entry'] not in index and e['entry'].split('/')[0] in kinds}):
        print(f'  note {e} was built: a kind that has shipped entries, under a key none of them has (a cold cache, or a key that drifted?)')
    return bad

def main(argv):
    runs, log, papers = Path(argv[0]), Path(argv[1]), argv[2:]
    bad = [b for p in papers for b in check_paper(runs, p)] + check_report(runs, papers) + check_cache(log)
    for b in bad: print(f'  FAIL {b}')
    if not bad: print(f'  ok   {len(papers)} quick runs: results, reports, figures, quiet logs; shipped entries used, none rebuilt')
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
