"The results contract of `lmpapers reproduce judges`, on a miniature preset."
import json
from lmpapers.judges.experiment import run_experiment, PRESETS, reproduce
import pytest

CONTRACT = ('err_ratio_est_vs_uniform', 'err_ratio_est_vs_oracle', 'loglog_slope_oracle', 'loglog_slope_est',
            'oracle_over_lower_bound', 'helpsteer_err_ratio_est_vs_uniform')


def test_contract(tmp_path):
    cfg = dict(PRESETS['tiny'], K=16, mults=(4, 16, 64, 256), seeds=4, hs_seeds=4, hs_prompts=8)
    r = json.loads(run_experiment(cfg, out=tmp_path).read_text())
    m = {x['name']: x for x in r['metrics']}
    for name in CONTRACT: assert name in m and m[name]['claim'] is not None
    assert m['oracle_over_lower_bound']['value'] >= 1
    assert -0.8 < m['loglog_slope_oracle']['value'] < -0.3
    assert (tmp_path / r['figures']['error_vs_budget']).exists()
    assert r['paper'] == 'judges' and r['scale'] == 'tiny'


def test_bad_scale(tmp_path):
    with pytest.raises(ValueError, match='expected one of'): reproduce('huge', out=tmp_path)
