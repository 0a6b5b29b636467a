"""MetaSD's `reproduce`: the small/full code path runs on CPU (--smoke) with the results contract's metrics and leaves
the caller's thread count and RNGs as they were; bad scale/option combinations are refused."""
import json, random
import numpy as np
import pytest
import torch
from lmpapers.core.guards import num_threads
from lmpapers.core.scales import ScaleUnavailable
from lmpapers.metasd.experiment import reproduce

CONTRACT = ('tau_ucb', 'speedup_wall_ucb', 'tau_hedge', 'tau_best_single_drafter', 'metasd_over_best_single', 'metasd_tau_over_oracle',
            'metasd_wall_over_best_single', 'metasd_tau_over_request_oracle',
            'hedge_over_ucb', 'regret_slope_log', 'greedy_exact_fraction', 'greedy_exact_or_tie_fraction', 'sampling_lossless_pvalue')

def test_smoke_run_writes_the_contract_and_leaves_no_side_effects(tmp_path, capsys, fresh_seeds):
    with num_threads(2):
        torch.manual_seed(123); np.random.seed(123); random.seed(123)
        rng = (torch.random.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
        path = reproduce('small', seed=fresh_seeds(1)[0], out=tmp_path, smoke=True)   # a seed drawn on this run
        assert torch.get_num_threads() == 2
        assert torch.equal(torch.random.get_rng_state(), rng[0])
        assert (np.random.get_state()[1] == rng[1]).all() and random.getstate() == rng[2]
    out = capsys.readouterr().out
    assert all(l.startswith('   · ') for l in out.splitlines() if l.strip()), out
    r = json.loads(path.read_text())
    assert (r['scale'], r['smoke'], r['config']['device']) == ('small', True, 'cpu')
    assert r['config']['target'] == 'Qwen/Qwen3-1.7B' and r['config']['base_drafter'] == 'Qwen/Qwen3-0.6B'
    m = {x['name']: x for x in r['metrics']}
    assert all(k in m for k in CONTRACT), [k for k in CONTRACT if k not in m]
    # smoke runs in bfloat16: a near-tied greedy choice may flip (seed 45117019 flips one of two prompts), never anything else
    assert m['greedy_exact_or_tie_fraction']['value'] == 1.0 and m['hedge_over_ucb']['claim'] == 1.49
    assert any('smoke run' in n for n in r['notes']) and (tmp_path/r['figures']['metasd']).exists()

def test_bad_scale_options_are_refused(tmp_path):
    with pytest.raises(ValueError, match='small'): reproduce('tiny', out=tmp_path, smoke=True)
    with pytest.raises(ValueError, match='tiny trains its own'): reproduce('tiny', out=tmp_path, model='Qwen/Qwen3-1.7B')
    with pytest.raises(ValueError, match='unknown scale'): reproduce('huge', out=tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(ScaleUnavailable, match='--smoke'): reproduce('small', out=tmp_path)
