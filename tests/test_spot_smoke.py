"The small/full code path of `lmpapers reproduce spot` as a CPU smoke run (random-init Qwen3-0.6B architecture cut to 2 layers)."
import json, time
import matplotlib, torch
from lmpapers.spot.experiment import reproduce, scale_config

def test_smoke_small(tmp_path):
    "The small-scale code path (Qwen3-0.6B architecture, bf16) on CPU, random-init and cut to 2 layers."
    threads, backend = torch.get_num_threads(), matplotlib.get_backend()
    t0 = time.time()
    r = json.loads(reproduce('small', smoke=True, out=tmp_path).read_text())
    took = time.time() - t0
    m = {x['name']: x for x in r['metrics']}
    cfg = scale_config('small', smoke=True)
    assert r['scale'] == 'small' and r['smoke'] is True and r['config']['model'] == 'Qwen/Qwen3-0.6B'
    for M in cfg['multipliers']:
        for n in ('dense', 'spot_topk', 'spot_topp', 'twilight_quest', 'twilight_full_scan', 'oracle'): assert 0 <= m[f'retrieval_acc_{n}_x{M}']['value'] <= 1
    assert m['mass_recall_oracle']['value'] >= m['mass_recall_spot_topk']['value'] - 1e-6
    assert m['base_weights_unchanged']['value'] is True and m['selector_kl_heldout']['value'] >= 0
    for L in cfg['timing_lengths']: assert m[f'decode_speedup_vs_dense_L{L}']['value'] > 0
    assert any('smoke run' in n for n in r['notes'])
    measured = {x['value'] for x in r['metrics'] if not isinstance(x['value'], (bool, list))}
    assert not any(x['claim'] in measured and not isinstance(x['claim'], bool) and x['claim'] not in (0.0,) for x in r['metrics'])
    assert (tmp_path / r['figures']['spot_summary']).exists()
    assert torch.get_num_threads() == threads and matplotlib.get_backend() == backend
    print(f'smoke run: {took:.1f} s')
