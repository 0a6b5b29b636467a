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


PARQUET = Path(__file__).parent / 'data' / 'judges' / 'helpsteer2_parquet'


def test_parquet_layout_of_the_hub_export():
    "The hub's parquet export (disagreements/train/0000.parquet, default/{train,validation}/0000.parquet) reads the same rows."
    ds = load_helpsteer2(PARQUET, 'disagreements')
    ref = load_helpsteer2(DATA, 'disagreements')
    assert ds['helpfulness'] == ref['helpfulness'] and ds['prompt'] == ref['prompt']
    assert len(load_helpsteer2(PARQUET)) + len(load_helpsteer2(PARQUET, split='validation')) == 24
    pool, _ = helpsteer_pool(ds)
    assert np.allclose(pool.theta, np.clip([np.mean(r) for r in ref['helpfulness']], 0.1, 3.9))


def test_hub_name_goes_through_datasets(monkeypatch):
    "A hub name is loaded with datasets.load_dataset(name, data_dir='disagreements') and checked like a local copy."
    import datasets
    calls = []
    ref = load_helpsteer2(DATA, 'disagreements')
    def fake(name, data_dir=None, split=None, **kw):
        calls.append((name, data_dir, split)); return ref
    monkeypatch.setattr(datasets, 'load_dataset', fake)
    ds = load_helpsteer2('nvidia/HelpSteer2', 'disagreements')
    assert calls == [('nvidia/HelpSteer2', 'disagreements', 'train')] and len(ds) == 24
    bad = ref.map(lambda r: dict(helpfulness=[9]))
    monkeypatch.setattr(datasets, 'load_dataset', lambda *a, **k: bad)
    with pytest.raises(ValueError, match='integers 0-4'): load_helpsteer2('nvidia/HelpSteer2', 'disagreements')


def test_real_rows_with_float_ratings_and_extra_columns(tmp_path):
    "Ratings stored as integral floats and extra columns (as parquet exports may have) are accepted."
    import datasets
    rows = [dict(prompt='p', response=f'r{i}', helpfulness=[3.0, 4.0], correctness=[2.0, 2.0], coherence=[4.0, 4.0],
                 complexity=[1.0, 2.0], verbosity=[2.0, 1.0], annotator_ids=['a', 'b']) for i in range(3)]
    (tmp_path / 'disagreements').mkdir()
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / 'disagreements' / 'train-00000-of-00001.parquet'))
    ds = load_helpsteer2(tmp_path, 'disagreements')
    assert len(ds) == 3 and 'annotator_ids' in ds.column_names
