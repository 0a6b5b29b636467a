"Shipped cache entries (checkpoints/): every one indexed, intact, found by `cached`, and under the size cap."
import json, os, shlex
from pathlib import Path
import pytest
from lmpapers.core.cache import SHIPPED_CAP_MB, cached, check_entry, manifest_digest, shipped_dir, shipped_entry

REPO = Path(__file__).resolve().parents[1]
SHIP = REPO/'checkpoints'
INDEX = json.loads((SHIP/'INDEX.json').read_text()) if (SHIP/'INDEX.json').exists() else {}


def test_index_lists_exactly_the_shipped_folders():
    on_disk = {f'{k.name}/{e.name}' for k in SHIP.iterdir() if k.is_dir() for e in k.iterdir() if e.is_dir()} if SHIP.exists() else set()
    assert on_disk == set(INDEX), f"checkpoints/ and INDEX.json disagree: {sorted(on_disk ^ set(INDEX))}"


def test_total_size_under_cap():
    total = sum(p.stat().st_size for p in SHIP.rglob('*') if p.is_file()) if SHIP.exists() else 0
    assert total <= SHIPPED_CAP_MB * 2**20, f"checkpoints/ holds {total / 2**20:.1f} MB > {SHIPPED_CAP_MB} MB"


@pytest.mark.parametrize('name', sorted(INDEX))
def test_shipped_entry_is_intact_and_found(name, monkeypatch):
    monkeypatch.delenv('LMPAPERS_SHIPPED', raising=False)
    kind, key = name.split('/')
    assert check_entry(SHIP/name) is None
    assert shipped_dir() == SHIP and shipped_entry(kind, key) == SHIP/name
    info = INDEX[name]
    assert shlex.split(info['cmd'])[0] in ('lmpapers', 'python'), info['cmd']
    assert info['bytes'] == sum(p.stat().st_size for p in (SHIP/name).rglob('*') if p.is_file())
    assert info['manifest'] == manifest_digest(SHIP/name), 'INDEX.json must hold the SHA-256 of the manifest'


@pytest.mark.parametrize('name', sorted(INDEX)[:1])
def test_cached_copies_a_shipped_entry_instead_of_building(name, tmp_path, monkeypatch):
    monkeypatch.delenv('LMPAPERS_SHIPPED', raising=False)
    kind, key = name.split('/')
    config = json.loads((SHIP/name/'MANIFEST.json').read_text())['config']
    def build(folder): raise AssertionError('built although shipped')
    got = cached(kind, config, build, root=tmp_path)
    assert got == tmp_path/kind/key and check_entry(got) is None


def test_shipped_entries_can_be_turned_off(monkeypatch):
    monkeypatch.setenv('LMPAPERS_SHIPPED', 'off')
    assert shipped_dir() is None and shipped_entry('any', 'key') is None


def test_a_shipped_entry_rewritten_with_its_manifest_is_refused(tmp_path, monkeypatch):
    name = sorted(INDEX)[0]
    ship = tmp_path/'ship'; (ship/name).parent.mkdir(parents=True)
    import shutil; shutil.copytree(SHIP/name, ship/name); (ship/'INDEX.json').write_text(json.dumps({name: INDEX[name]}))
    monkeypatch.setenv('LMPAPERS_SHIPPED', str(ship))
    kind, key = name.split('/')
    assert shipped_entry(kind, key) == ship/name
    victim = next(p for p in sorted((ship/name).rglob('*')) if p.is_file() and p.name != 'MANIFEST.json')
    victim.write_bytes(victim.read_bytes()[::-1])                      # a file changed...
    man = json.loads((ship/name/'MANIFEST.json').read_text())          # ...and its manifest rewritten to match
    from lmpapers.core.cache import write_manifest
    write_manifest(ship/name, man['config'])
    assert check_entry(ship/name) is None and shipped_entry(kind, key, verbose=False) is None


def test_verify_reports_the_largest_difference(tmp_path):
    import importlib.util, torch
    from safetensors.torch import save_file
    spec = importlib.util.spec_from_file_location('checkpoints_tool', REPO/'tools'/'checkpoints.py')
    tool = importlib.util.module_from_spec(spec); spec.loader.exec_module(tool)
    a, b = tmp_path/'a.safetensors', tmp_path/'b.safetensors'
    w = torch.randn(4, 4)
    save_file({'w': w}, a); save_file({'w': w + 2e-5}, b)
    assert abs(tool.file_difference(a, b) - 2e-5) < 1e-6
    (tmp_path/'a.json').write_text(json.dumps(dict(loss=[1.0, 2.0]))); (tmp_path/'b.json').write_text(json.dumps(dict(loss=[1.0, 2.5])))
    assert tool.file_difference(tmp_path/'a.json', tmp_path/'b.json') == 0.5


def test_a_root_with_other_bits_still_finds_the_shipped_entries_built_from_it(tmp_path, monkeypatch):
    "Another CPU trains the tiny LM with other bits: the shipped fine-tunes built from it are still found, none is built."
    import torch
    from safetensors.torch import load_file, save_file
    from lmpapers.core import cache as C
    from lmpapers.core.train import pretrained_lm
    import lmpapers.spot.selector as S
    monkeypatch.delenv('LMPAPERS_SHIPPED', raising=False)
    monkeypatch.setenv('LMPAPERS_CACHE', str(tmp_path))
    root = next(n for n in INDEX if n.startswith('lm/'))
    entry = tmp_path/root; __import__('shutil').copytree(SHIP/root, entry)
    before = load_file(entry/'model.safetensors')
    w = load_file(entry/'model.safetensors')
    w = {k: torch.nextafter(v, torch.full_like(v, float('inf'))) if v.is_floating_point() else v for k, v in w.items()}   # one ulp up
    save_file(w, entry/'model.safetensors', metadata={'format': 'pt'})
    C.write_manifest(entry, json.loads((SHIP/root/'MANIFEST.json').read_text())['config'])
    base, tok = pretrained_lm(progress=False)
    assert any(not torch.equal(p.detach(), before[n]) for n, p in base.named_parameters() if n in before)   # other bits than shipped
    assert C.source_key(base) == f'entry:{root}'
    real = S.cached
    def no_build(kind, config, build, **kw): return real(kind, config, lambda f: (_ for _ in ()).throw(AssertionError(f'{kind} was built')), **kw)
    monkeypatch.setattr(S, 'cached', no_build)
    m, _ = S.passkey_lm()                                              # the first shipped fine-tune of the chain
    assert C.source_key(m).startswith('entry:spot_passkey_lm/')
    assert (tmp_path/C.source_key(m)[len('entry:'):]).is_dir()


def _strings(x):
    if isinstance(x, str): yield x
    elif isinstance(x, dict):
        for k, v in x.items(): yield str(k); yield from _strings(v)
    elif isinstance(x, list):
        for v in x: yield from _strings(v)


@pytest.mark.parametrize('name', sorted(INDEX))
def test_no_shipped_key_holds_a_path_or_a_weights_digest_of_an_entry(name):
    "A key that names an absolute path or a cache folder moves with the machine; entries built from entries name the recipe."
    config = json.loads((SHIP/name/'MANIFEST.json').read_text())['config']
    bad = [s for s in _strings(config) if s.startswith(('/', '~')) or '/.cache/' in s or 'lmpapers/' in s]
    assert not bad, f'{name}: its key holds paths {bad}'
