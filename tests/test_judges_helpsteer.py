"HelpSteer2 loader on the stored fixture (real HelpSteer2 file layout and columns)."
from pathlib import Path
import numpy as np
import pytest
from lmpapers.judges.helpsteer import load_helpsteer2, helpsteer_pool, ATTRIBUTES, make_helpsteer2_fixture

DATA = Path(__file__).parent / 'data' / 'helpsteer2'


def test_fixture_layout():
    assert (DATA / 'train.jsonl.gz').exists() and (DATA / 'validation.jsonl.gz').exists()
    assert (DATA / 'disagreements' / 'disagreements.jsonl.gz').exists()


def test_default_config():
    ds = load_helpsteer2(DATA)
    assert set(ds.column_names) == {'prompt', 'response', *ATTRIBUTES}
    assert all(isinstance(v, int) and 0 <= v <= 4 for a in ATTRIBUTES for v in ds[a])


def test_disagreements_config_and_pool():
    ds = load_helpsteer2(DATA, 'disagreements')
    assert len(ds) == 24 and ds[0]['prompt'] == ds[1]['prompt']           # two responses per prompt, consecutive
    assert all(isinstance(r, list) and 2 <= len(r) <= 5 for r in ds['helpfulness'])
    pool, cost = helpsteer_pool(ds, 'correctness')
    assert np.allclose(pool.theta_kj, pool.theta[:, None]) and pool.var.shape == (24, 3)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match='unknown config'): load_helpsteer2(DATA, 'preference')
    with pytest.raises(FileNotFoundError): load_helpsteer2(tmp_path)
    with pytest.raises(ValueError, match='unknown attribute'): helpsteer_pool(load_helpsteer2(DATA, 'disagreements'), 'length')


def test_fixture_maker_round_trip(tmp_path):
    make_helpsteer2_fixture(tmp_path, n_prompts=5, seed=3)
    assert len(load_helpsteer2(tmp_path, 'disagreements')) == 10
