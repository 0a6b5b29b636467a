"`reproduce('small', smoke=True)`: the small code path (load_text, bf16, run_device, the core loop) on CPU in seconds, quiet, leaving the caller's world as found."
import json, random
import numpy as np
import pytest
import torch
from lmpapers.core.guards import num_threads
from lmpapers.core.scales import ScaleUnavailable
from lmpapers.gfa.experiment import reproduce, text_rows, PRESETS

def test_smoke_small(tmp_path, capsys, fresh_seeds):
    import matplotlib
    backend, rng, np_state, py_state = matplotlib.get_backend(), torch.get_rng_state(), np.random.get_state(), random.getstate()
    with num_threads(1):     # tiny matmuls: one thread is fastest, and immune to other processes on the cores
        r = json.loads(reproduce('small', seed=fresh_seeds(1)[0], smoke=True, out=tmp_path).read_text())   # a seed drawn on this run
    assert (r['paper'], r['scale'], r['smoke'], r['status']) == ('gfa', 'small', True, 'ok')
    assert r['config']['dtype'] == 'bfloat16' and r['config']['device'] == 'cpu' and r['config']['model']['num_hidden_layers'] == 2
    m = {x['name']: x for x in r['metrics']}
    for n in ('fanin_grad_spearman', 'prune_ppl_k1_cascadeflow', 'cascadeformer_latency_ratio', 'repetition_late_importance_ratio', 'downstream_acc_k1_cascadeflow', 'cascadeflow_vs_bi_k1', 'prune_ppl_k1_cascadeflow_ci'):
        assert n in m, n
    assert np.isfinite(m['prune_ppl_k0']['value']) and m['train_val_loss_mean']['value'] > 0
    assert any('smoke run' in n for n in r['notes'])
    assert (tmp_path/r['figures']['fanin_pruning']).exists()
    out = capsys.readouterr()
    assert out.out.count('gfa:') >= 5 and 'it/s' not in out.err + out.out      # stage lines, no progress bars
    assert matplotlib.get_backend() == backend
    assert torch.equal(torch.get_rng_state(), rng) and random.getstate() == py_state
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state))

def test_small_needs_more_text_than_embedded():
    P = PRESETS['small']
    with pytest.raises(ScaleUnavailable, match='--data') as e:
        text_rows(None, P['train']['seq_len'], P['train']['steps'] * P['train']['batch_size'], P['calib_rows'], P['eval_rows'])
    assert '\n' not in str(e.value)

def test_bad_scale_arguments(tmp_path):
    with pytest.raises(ValueError, match='unknown scale'): reproduce('huge', out=tmp_path)
    with pytest.raises(ValueError, match="'small' or 'full'"): reproduce('tiny', smoke=True, out=tmp_path)
    with pytest.raises(ValueError, match="gfa at scale 'tiny' takes no --model"): reproduce('tiny', model='Qwen/Qwen3-0.6B', out=tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(ScaleUnavailable, match='--smoke'): reproduce('small', out=tmp_path)
