"GFA library calls leave the caller's world as found: config, cache key, RNG, matplotlib backend, gradients and requires_grad."
import random
import numpy as np
import pytest
import torch
from lmpapers.core.models import build_model, model_config, decoder_layers
from lmpapers.core.train import TrainConfig
from lmpapers.gfa.tracking import tracked_lm, gfa_config
from lmpapers.gfa.pruning import taylor_scores
from lmpapers.gfa.theory import block_grad_norms
from lmpapers.gfa.resnet import train_resnet
from lmpapers.gfa.cascadeformer import time_generation

pytestmark = pytest.mark.usefixtures('one_thread')   # see tests/conftest.py

SMALL = dict(vocab_size=128, num_hidden_layers=3, hidden_size=32, intermediate_size=64, head_dim=8, num_attention_heads=4, num_key_value_heads=2)

def _rng(): return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
def _same_rng(a, b): return torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]

def test_tracked_lm_key_is_taken_before_saving(tmp_path, monkeypatch):
    "The second call with the same config object is a cache hit; save_pretrained mutating the config used to change the key."
    monkeypatch.setenv('LMPAPERS_CACHE', str(tmp_path))
    c = gfa_config(num_hidden_layers=2, hidden_size=32, intermediate_size=64, head_dim=8)
    before = c.to_diff_dict()
    cfg = TrainConfig(steps=2, batch_size=2, seq_len=16, warmup=1, eval_every=0)
    rows = (torch.randint(0, c.vocab_size, (4, 16)), torch.randint(0, c.vocab_size, (2, 16)))
    rng = _rng()
    tracked_lm(c, cfg, rows=rows, data='random')
    tracked_lm(c, cfg, rows=rows, data='random')
    assert len([p for p in (tmp_path/'gfa_lm').iterdir() if not p.name.startswith('.')]) == 1
    assert c.to_diff_dict() == before and getattr(c, 'architectures', None) is None
    assert _same_rng(rng, _rng())

def test_resnet_training_leaves_rng():
    rng = _rng()
    train_resnet(depth=2, width=4, epochs=1, seed=3)
    assert _same_rng(rng, _rng())

def test_figure_leaves_backend_and_pyplot():
    import matplotlib
    from lmpapers.gfa.experiment import _figure
    old = matplotlib.get_backend()
    matplotlib.use('svg')
    try:
        import matplotlib.pyplot as plt
        n = len(plt.get_fignums())
        g = [np.linspace(2, 1, 4)]; ppl = {'cascadeflow': {1: [3.0]}, 'bi': {1: [3.5]}}
        fig = _figure(4, g, g, ppl, [1], 2.0)
        assert matplotlib.get_backend() == 'svg' and len(plt.get_fignums()) == n and fig.axes
    finally: matplotlib.use(old)

def _model_with_state():
    m = build_model(model_config('tiny', **SMALL), 0).train()
    x = torch.randint(0, 128, (2, 12))
    m(x, labels=x).loss.backward()                     # the user's own gradients
    for p in m.model.embed_tokens.parameters(): p.requires_grad_(False)
    for p in decoder_layers(m)[0].parameters(): p.requires_grad_(False)
    return m, x

@pytest.mark.parametrize('fn', [taylor_scores, block_grad_norms])
def test_scoring_keeps_grads_requires_grad_and_mode(fn):
    m, x = _model_with_state()
    flags = [p.requires_grad for p in m.parameters()]
    grads = [None if p.grad is None else p.grad.clone() for p in m.parameters()]
    s = fn(m, x)
    assert len(s) == 3 and np.all(np.asarray(s) > 0)      # the frozen block is scored too
    assert [p.requires_grad for p in m.parameters()] == flags and m.training
    for p, g in zip(m.parameters(), grads):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)

def test_time_generation_restores_mode():
    m, x = _model_with_state()
    time_generation({'a': m}, x[:1, :4], new_tokens=2, batch=2, rounds=1)
    assert m.training
