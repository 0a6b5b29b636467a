"""Intervals, per-application skipping and the update equaliser behind GFA's pruning and intervention comparisons:
each checked against a case whose answer is known."""
import numpy as np
import pytest
import torch
from lmpapers.core.models import build_model, model_config, decoder_layers
from lmpapers.core.train import TrainConfig, train, evaluate_loss
from lmpapers.core.tokenizer import train_tokenizer
from lmpapers.core.data import copy_task
from lmpapers.gfa.importance import bootstrap_ci, row_losses, skip_layers
from lmpapers.gfa.pruning import stability_ci, ranking_stability
from lmpapers.gfa.interventions import GradEqualizer, UpdateNorms, applications, skip_applications, application_importance, share_ratio_ci, late_region
from lmpapers.gfa.cascadeformer import cascade_config
from lmpapers.gfa.experiment import task_batch, task_accuracy, answer_token_accuracy, verdict, ppl_stat
from lmpapers.gfa.tracking import gfa_config, unigram_entropy

pytestmark = pytest.mark.usefixtures('one_thread')   # see tests/conftest.py

SMALL = dict(vocab_size=128, num_hidden_layers=3, hidden_size=32, intermediate_size=64, head_dim=8, num_attention_heads=4, num_key_value_heads=2,
             initializer_range=0.2)

def test_bootstrap_is_paired_and_covers():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 40)) + rng.normal(size=(5, 1)) * 3          # a large seed effect, shared by both methods
    pt, lo, hi = bootstrap_ci(lambda x, y: (y - x).mean((-1, -2)), a, a + 0.1)
    assert abs(pt - 0.1) < 1e-12 and abs(lo - 0.1) < 1e-12 and abs(hi - 0.1) < 1e-12   # the shared effect cancels exactly
    assert verdict(-0.3, -0.1) == 'better' and verdict(-0.1, 0.1) == 'tie' and verdict(0.1, 0.3) == 'worse'
    hits = 0                                                              # coverage of the mean over 60 synthetic data sets
    for s in range(60):
        x = np.random.default_rng(100 + s).normal(2.0, 1.0, size=(4, 30))
        _, lo, hi = bootstrap_ci(lambda v: v.mean((-1, -2)), x, n_boot=400, seed=s)
        hits += lo <= 2.0 <= hi
    assert hits >= 48, hits                                               # nominal 95%: at least 80% here
    with pytest.raises(ValueError, match='first two axes'): bootstrap_ci(lambda x, y: x, a, a[:, :3])
    assert abs(ppl_stat(np.log(np.full((2, 3), 5.0))) - 5.0) < 1e-12

def test_stability_interval():
    rs = [list(np.random.default_rng(s).permutation(8)) for s in range(5)]
    pt, lo, hi = stability_ci(rs)
    assert abs(pt - ranking_stability(rs)) < 1e-12 and lo <= pt <= hi
    assert stability_ci([[3, 1, 2, 0]] * 3) == (1.0, 1.0, 1.0)

def test_skip_one_application_of_a_shared_block():
    rep = build_model(cascade_config(model_config('tiny', **SMALL), 'uniform', layer_repeats=[1, 2, 1]), 0)
    x = torch.randint(0, 128, (3, 12))
    assert applications(rep) == [(0, 0), (1, 0), (1, 1), (2, 0)]
    base = evaluate_loss(rep, x)
    with skip_applications(rep, [(1, 0), (1, 1)]): both = evaluate_loss(rep, x)
    with skip_layers(rep, [1]): whole = evaluate_loss(rep, x)
    with skip_applications(rep, [(1, 1)]): second = evaluate_loss(rep, x)
    with skip_applications(rep, [(1, 0)]): first = evaluate_loss(rep, x)
    assert abs(both - whole) < 1e-6 and min(abs(second - whole), abs(second - base)) > 1e-4
    assert abs(first - second) < 1e-6        # consecutive passes of one block: skipping either leaves it applied once
    assert abs(evaluate_loss(rep, x) - base) < 1e-7                       # the hooks are gone afterwards
    imp = application_importance(rep, x)
    assert imp['delta'].shape == (3, 4) and np.allclose(imp['delta'].mean(0)[2], second - base, atol=1e-5)
    with pytest.raises(ValueError, match='unknown applications'):
        with skip_applications(rep, [(0, 1)]): pass

def test_late_share_ratio_and_region():
    apps = [(i, 0) for i in range(8)]
    base = np.tile([8, 4, 2, 1, 0.01, 0.01, 0.01, 0.01], (1, 20, 1))   # almost nothing in the last half
    assert np.isnan(late_region(base, apps, 8))
    base[..., 4:] = 1.0
    assert late_region(base, apps, 8) == 0.25
    inter = base.copy(); inter[..., 6:] *= 2
    r = share_ratio_ci(base, apps, inter, apps, 8, 0.25, n_boot=200)
    assert r['ratio'] > 1.5 and r['ratio_ci'][0] > 1.5

def test_update_equaliser_survives_adam_and_grad_equaliser_does_not():
    cfg = model_config('tiny', **SMALL)
    x = torch.randint(0, 128, (32, 16)); tc = TrainConfig(steps=12, batch_size=8, seq_len=16, warmup=2, eval_every=0)
    rec = {}
    for name, cbs in (('plain', [UpdateNorms()]), ('grad', [GradEqualizer(), UpdateNorms()]), ('update', [UpdateNorms(equalize=True)])):
        m = build_model(cfg, 0); train(m, x, None, tc, cbs, progress=False); rec[name] = cbs[-1].record()
    assert np.allclose(np.array(rec['grad']['raw']) / np.array(rec['plain']['raw']), 1, atol=0.1)   # Adam undoes the gradient rescaling
    a = np.array(rec['update']['applied']); assert np.allclose(a, a.mean(), rtol=1e-9)
    with pytest.raises(ValueError, match='no optimizer step'): UpdateNorms().record()

def test_batched_task_accuracy_matches_reference():
    tok = train_tokenizer()
    m = build_model(gfa_config(num_hidden_layers=2, hidden_size=32, intermediate_size=64, head_dim=8, initializer_range=0.2), 0)
    ds = copy_task(5, length=3, seed=3)
    assert abs(task_accuracy(m, task_batch(tok, ds), batch_size=2).mean() - answer_token_accuracy(m, tok, ds)) < 1e-9
    assert abs(unigram_entropy(torch.tensor([[0, 1, 0, 1]])) - np.log(2)) < 1e-12
    with pytest.raises(ValueError, match='no tokens'): unigram_entropy(torch.zeros(0, 3, dtype=torch.long))
