"Shipped cache entries (checkpoints/): every one indexed, intact, found by `cached`, and under the size cap."
import json, os, shlex
from pathlib import Path
import pytest
from lmpapers.core.cache import SHIPPED_CAP_MB, cached, check_entry, shipped_dir, shipped_entry

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
