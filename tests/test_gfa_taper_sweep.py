"""The taper-strength sweep at tiny reads only shipped records: from an empty cache, with training forbidden, every
strength's rate grid on seed 0 and its three seeds are found under checkpoints/, the models learned their data, and
the family reproduces CascadeFormer (s = 0.5) and uniform (s = 0)."""
import numpy as np
import pytest
import lmpapers.gfa.experiment as E
from lmpapers.core.results import Results
from lmpapers.gfa.cascadeformer import CASCADE_TINY, cascade_config, analytic_flops

pytestmark = pytest.mark.usefixtures('one_thread')   # see tests/conftest.py

def test_sweep_reads_shipped_records(tmp_path, monkeypatch):
    monkeypatch.setenv('LMPAPERS_CACHE', str(tmp_path/'cache'))
    monkeypatch.delenv('LMPAPERS_SHIPPED', raising=False)
    def no_training(*a, **k): raise AssertionError('a taper-sweep record is not shipped: the sweep would train')
    monkeypatch.setattr(E, 'task_lm', no_training)
    P = E.preset('tiny'); st = E.lm_setup(P, 'tiny')
    mcfg = st['mcfg']
    assert E.sweep_config(mcfg, CASCADE_TINY['strength']).to_dict() == cascade_config(mcfg, 'cascade', CASCADE_TINY['strength']).to_dict()
    res = Results('gfa', 'tiny', 0, tmp_path/'out', title='t')
    narrow_lr = min(P['lr_check']['lrs']['narrow'], key=lambda lr: np.exp(st['record'](cascade_config(mcfg, 'narrow', 0.5), st['seeds'][0], [E.UpdateNorms()], lr=lr, importance=False)['app']['base'].mean()))
    o = E.taper_sweep(res, P, st['record'], mcfg, st['seeds'], narrow_lr)
    assert o['n_seeds'] == 3 and len(o['ratio']) >= 3
    unigram = np.exp(E.unigram_entropy(st['ev']))
    for s, b in o['best'].items():
        g = sorted(o['ppl_seed0'][s]); assert g[0] < b < g[-1], (s, g, b)          # every strength's best rate lies inside its grid
        assert res.metrics[f'taper_sweep_s{s:g}_ppl'].value < 0.6 * unigram, s      # each strength's models learned their data
    fl = [o['flops'][s] for s in sorted(o['flops'])]
    assert fl[0] == 1.0 and all(np.diff(fl) < 0), fl                               # a stronger taper costs fewer FLOPs
    assert abs(o['flops'][CASCADE_TINY['strength']] - analytic_flops(cascade_config(mcfg, 'cascade', 0.5)) / analytic_flops(mcfg)) < 1e-12
