"""The recorded runs the experiment pages show (`nbs/_results/`, written by tools/record_pages.py):
one per paper, in the current result schema, with every figure they name and no stray file, small
enough to commit, and shown by each paper's experiment notebook. Reads files only (no run, no build).
"""
from __future__ import annotations

import importlib.metadata as md
import json
import re
from pathlib import Path

import pytest

from lmpapers.core.pages import run_markdown
from lmpapers.core.results import VERDICTS, claim_verdicts

ROOT = Path(__file__).resolve().parents[1]
REC = ROOT/'nbs'/'_results'
VERDICT_KEYS = {'claim', 'measured', 'interval', 'scale', 'verdict', 'reason'}
MAX_BYTES = 3_000_000


def papers() -> dict[str, str]:
    "Paper name -> module of its `reproduce`, from the package's entry points."
    eps = md.entry_points(group='lmpapers.papers')
    return {ep.name: ep.value.split(':')[0] for ep in eps}


def experiment_notebook(module: str) -> Path:
    "The notebook a generated module says it is made from."
    py = ROOT/(module.replace('.', '/') + '.py')
    m = re.search(r'File to edit: (\S+\.ipynb)', py.read_text(encoding='utf-8'))
    assert m, f'{py} names no notebook'
    return (py.parent/m.group(1)).resolve()


def load(paper: str) -> dict:
    f = REC/f'{paper}.json'
    assert f.exists(), f'no recorded run {f.relative_to(ROOT)}; run `make pages` (python tools/record_pages.py {paper})'
    return json.loads(f.read_text(encoding='utf-8'))


def test_every_paper_is_recorded():
    assert len(papers()) == 9, papers()
    missing = [p for p in papers() if not (REC/f'{p}.json').exists()]
    assert not missing, f'papers without a recorded run: {missing}; run `python tools/record_pages.py {" ".join(missing)}`'


@pytest.mark.parametrize('paper', sorted(papers()))
def test_recorded_run_matches_the_schema(paper):
    d = load(paper)
    stale = f'; record it again: python tools/record_pages.py {paper}'
    assert d['paper'] == paper and d['status'] == 'ok', f"{paper}: status {d.get('status')}: {d.get('error', '')}"
    assert d['scale'] == 'tiny' and d['config'].get('quick') and not d['smoke'], f'{paper}: not a tiny quick run' + stale
    assert isinstance(d.get('verdicts'), list) and d['verdicts'], f'{paper}: no verdicts list' + stale
    for v in d['verdicts']:
        assert VERDICT_KEYS <= set(v), f'{paper}: verdict lacks {VERDICT_KEYS - set(v)}' + stale
        assert v['verdict'] in VERDICTS, f"{paper}: unknown verdict {v['verdict']!r}"
    # the verdicts are the rule's on the recorded metrics, as the rule stands today
    now = [(v['claim'], v['verdict']) for v in claim_verdicts(d)]
    assert [(v['claim'], v['verdict']) for v in d['verdicts']] == now, f'{paper}: the recorded verdicts are not the current rule\'s' + stale
    assert not d.get('figure_errors') and not d.get('figures_pending'), f"{paper}: figures failed: {d.get('figure_errors')}" + stale
    for name, rel in d['figures'].items():
        png = REC/rel
        assert png.is_file(), f'{paper}: figure {name} ({rel}) is missing' + stale
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', f'{rel} is not a PNG'
    md_text = run_markdown(d)
    assert '| claim | measured |' in md_text and md_text.count('](../_results/figures/') == len(d['figures'])


def test_no_stray_files_and_small():
    named = {(REC/rel).resolve() for p in papers() if (REC/f'{p}.json').exists() for rel in load(p)['figures'].values()}
    files = [f for f in REC.rglob('*') if f.is_file()]
    stray = [str(f.relative_to(REC)) for f in files if f.suffix == '.png' and f.resolve() not in named]
    stray += [str(f.relative_to(REC)) for f in files if f.suffix not in ('.png', '.json')]
    stray += [str(f.relative_to(REC)) for f in files if f.suffix == '.json' and f.stem not in papers()]
    assert not stray, f'files no recorded run names: {stray}'
    size = sum(f.stat().st_size for f in files)
    assert size < MAX_BYTES, f'nbs/_results holds {size / 1e6:.2f} MB (limit {MAX_BYTES / 1e6:.0f} MB)'


@pytest.mark.parametrize('paper', sorted(papers()))
def test_experiment_notebook_shows_the_run(paper):
    nb = experiment_notebook(papers()[paper])
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    srcs = [''.join(c['source']) for c in cells if c['cell_type'] == 'code']
    show = [s for s in srcs if re.search(rf"^show_run\('{paper}'\)\s*$", s, re.M)]
    assert show, f'{nb.relative_to(ROOT)} has no cell `show_run({paper!r})`'
    assert re.search(r'^#\|\s*exec_doc\b', show[0], re.M), f'{nb.relative_to(ROOT)}: the show_run cell needs `#| exec_doc` (the docs build runs it)'
    assert any('from lmpapers.core.pages import show_run' in s for s in srcs), f'{nb.relative_to(ROOT)} does not import show_run'
