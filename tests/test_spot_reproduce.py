"The results contract of `lmpapers reproduce spot` (about a minute with the cached models; the first run trains them)."
import json
import pytest
from lmpapers.spot.experiment import reproduce, TINY

def test_contract(tmp_path):
    r = json.loads(reproduce(out=tmp_path).read_text())
    m = {x['name']: x for x in r['metrics']}
    methods = ('oracle', 'quest', 'twilight', 'dsa', 'seer', 'spot_topk', 'spot_topp')
    for M in TINY['multipliers']:
        for n in ('dense',) + methods: assert f'passkey_acc_{n}_x{M}' in m
    for n in methods:
        assert 0 <= m[f'mass_recall_{n}']['value'] <= 1 and f'mean_budget_tokens_{n}' in m
    for L in TINY['timing_lengths']: assert m[f'decode_speedup_vs_dense_L{L}']['value'] > 0
    assert 131072 in TINY['timing_lengths']
    for f in ('int4', 'mxfp4', 'nvfp4'):
        assert 3.4 < m[f'selector_cache_compression_{f}']['value'] < 3.8 and f'passkey_acc_delta_quantized_{f}' in m
    assert m['base_weights_unchanged']['value'] is True
    assert m['mass_recall_oracle']['value'] >= m['mass_recall_spot_topk']['value'] - 1e-6   # oracle top-K is optimal
    assert m['selector_kl_end']['value'] < m['selector_kl_start']['value']
    assert (tmp_path / r['figures']['spot_summary']).exists()
    assert r['paper'] == 'spot' and r['scale'] == 'tiny'

def test_bad_scale(tmp_path):
    with pytest.raises(ValueError, match='expected one of'): reproduce('huge', out=tmp_path)
    with pytest.raises(NotImplementedError): reproduce('small', out=tmp_path)
