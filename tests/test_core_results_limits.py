"A measured ratio above the physical limit its result states fails the run and is never written."
import json, math
import pytest
from lmpapers.core.results import Results, PhysicalLimitError, check_physical_limit

def test_below_and_at_the_limit_pass():
    assert check_physical_limit('speedup', 3.2, 7.5, 'the dense decode step') == 3.2
    assert check_physical_limit('speedup', 7.5, 7.5, 'the dense decode step') == 7.5
    assert check_physical_limit('speedup', 7.6, 7.5, 'the dense decode step', rtol=0.02) == 7.6

def test_above_the_limit_raises_and_names_the_baseline():
    with pytest.raises(PhysicalLimitError, match='check the dense SDPA decode step') as e:
        check_physical_limit('decode_speedup_vs_dense_L131072', 30.67, 30.67 / 1.557, 'the dense SDPA decode step')
    assert 'decode_speedup_vs_dense_L131072' in str(e.value) and '156% of it' in str(e.value)
    assert isinstance(e.value, ValueError)

@pytest.mark.parametrize('kw, err, msg', [
    (dict(baseline=''), TypeError, 'baseline must name'),
    (dict(baseline=None), TypeError, 'baseline must name'),
    (dict(limit=0.0), ValueError, 'limit must be positive'),
    (dict(limit='7'), TypeError, 'must be a number'),
    (dict(value=math.inf), ValueError, 'must be finite'),
    (dict(rtol=-0.1), ValueError, 'rtol must be >= 0'),
])
def test_bad_input(kw, err, msg):
    args = dict(name='speedup', value=2.0, limit=7.5, baseline='the dense decode step') | kw
    with pytest.raises(err, match=msg): check_physical_limit(**args)

def test_results_add_with_limit(tmp_path):
    r = Results('demo', out=tmp_path)
    r.add('speedup_L1', 3.0, 'x', limit=7.5, baseline='the dense decode step')
    with pytest.raises(PhysicalLimitError, match='check the dense decode step'):
        r.add('speedup_L2', 11.7, 'x', limit=7.5, baseline='the dense decode step')
    assert 'speedup_L2' not in r.metrics and list(tmp_path.iterdir()) == []     # nothing recorded, nothing written
    with pytest.raises(TypeError, match='baseline must name'): r.add('speedup_L3', 1.0, 'x', limit=7.5)
    saved = json.loads(r.save().read_text())
    assert [m['name'] for m in saved['metrics']] == ['speedup_L1']

def test_spot_records_the_decode_speedup_against_its_traffic_limit(tmp_path):
    "Spot's timing records go through the guard: a benchmark whose dense baseline is too slow fails the run."
    import torch
    from lmpapers.spot import experiment as X
    ms = dict(dense=100.0, dense_sdpa_gqa=100.0, spot=3.0, twilight_full_scan=10.0, twilight_quest=5.0)
    fake = {131072: dict(ms=ms, spread={n: (v, v) for n, v in ms.items()}, dense_path='sdpa_gqa', dense_dropped={},
                         dense_vs_fastest=dict(sdpa_gqa=(1.0, 1.0, 1.0)), vs_dense=(30.67, 29.0, 32.0),
                         vs_twilight_full_scan=(2.0, 1.9, 2.1), vs_twilight_quest=(1.0, 0.9, 1.1), traffic_limit=30.67 / 1.557,
                         fraction=1.557, limits=dict(dense=30.67 / 1.557, twilight_quest=1.7, twilight_full_scan=3.07),
                         fractions=dict(dense=1.557, twilight_quest=1 / 1.7, twilight_full_scan=2 / 3.07))}
    orig = X.decode_benchmark
    X.decode_benchmark = lambda *a, **k: fake
    try:
        r = Results('spot', out=tmp_path)
        cfg = dict(timing_lengths=(131072,), timing_k=2048, multipliers=(1,), budget=64)
        with pytest.raises(PhysicalLimitError, match='dense'): X._timing(r, None, cfg, torch.device('cpu'), torch.bfloat16, {}, False)
        assert not any(n.endswith('L131072') for n in r.metrics) and list(tmp_path.iterdir()) == []
    finally: X.decode_benchmark = orig
