"""Stateful training helpers keep their state on the parameters' device (checked on `meta`, which no CPU tensor can mix
with, as a CUDA one cannot), move it to the CPU only to report, and give the same numbers as before on the CPU."""
import numpy as np
import pytest, torch
from torch import nn
from transformers import AutoModelForCausalLM
from lmpapers.core.models import model_config, build_model
from lmpapers.core.train import Callback, TrainConfig, train
from lmpapers.gfa.tracking import GradTracker, SUBMODULES, sum_dtype
from lmpapers.gfa.interventions import GradEqualizer, UpdateNorms

META = torch.device('meta')
CFG = dict(vocab_size=128, num_hidden_layers=3, hidden_size=32, intermediate_size=64, head_dim=8)

def meta_lm():
    with META: return AutoModelForCausalLM.from_config(model_config('tiny', **CFG))

def meta_blocks(n=3, d=4):
    with META: return nn.ModuleList(nn.Sequential(nn.Linear(d, d), nn.Tanh()) for _ in range(n))

def fake_grads(model):
    for p in model.parameters(): p.grad = torch.ones_like(p)

def state_tensors(obj):
    "Every tensor an object holds between steps (attributes, and tensors inside its dicts and lists)."
    out, todo = [], [v for k, v in vars(obj).items() if k not in ('blocks', 'params', '_hooks')]
    while todo:
        v = todo.pop()
        if isinstance(v, torch.Tensor): out.append(v)
        elif isinstance(v, dict): todo += list(v.values())
        elif isinstance(v, (list, tuple)): todo += list(v)
    return out

def test_sum_dtype():
    assert sum_dtype('cpu') == torch.float64 and sum_dtype(META) == torch.float64 and sum_dtype('mps') == torch.float32

def test_grad_tracker_update_keeps_its_sums_on_the_parameters_device():
    m = meta_lm(); tr = GradTracker(m)
    assert tr.device == META and set(tr.sums) == {'grad_norm', 'taylor', 'grad_norm_sub', 'taylor_sub'}
    fake_grads(m); tr.update(); tr.after_backward(1, m)                    # the step that crashed on a GPU
    assert tr.steps == 2
    ts = state_tensors(tr)
    assert len(ts) >= 4 and all(t.device == META for t in ts), [t.device for t in ts]

def test_grad_tracker_hooks_keep_their_pending_sums_on_the_parameters_device():
    blocks = meta_blocks(); tr = GradTracker(blocks=blocks).attach()
    h = torch.ones(2, 4, device=META)
    for b in blocks: h = b(h)
    h.sum().backward()
    tr.detach()
    assert tr.steps == 1 and tr._pending is None
    assert all(t.device == META for t in state_tensors(tr))
    ps = [p for b in blocks for p in b.parameters()]                      # a step still open: its pending sums, on the device too
    with META: x = torch.ones(2, 4)
    tr.attach(); blocks[0](x).sum().backward(); tr.detach()
    assert tr._pending is not None and all(t.device == META for t in tr._pending[:2])

def test_update_norms_and_grad_equalizer_keep_their_state_on_the_parameters_device():
    for eq in (False, True):
        m = meta_lm(); cb = UpdateNorms(equalize=eq)
        cb.before_fit(m, None, None, 0)
        for step in range(2):
            fake_grads(m); GradEqualizer().after_backward(step, m)
            cb.after_backward(step, m)
            assert all(t.device == META for t in state_tensors(cb))        # the copies of the weights before the step
            cb.after_step(step, m, 0.0)
        assert cb.steps == 2 and cb.raw.device == META and cb.applied.device == META
        assert all(t.device == META for t in state_tensors(cb))

class _NumpyTracker(Callback):
    "GradTracker's arithmetic as it was before its sums moved to the device: per step on the CPU, summed in NumPy."
    def __init__(self, tracker):
        self.params, L, S = tracker.params, len(tracker.params), len(SUBMODULES)
        self.grad_norm, self.taylor, self.grad_norm_sub, self.taylor_sub = np.zeros(L), np.zeros(L), np.zeros((L, S)), np.zeros((L, S))
    @torch.no_grad()
    def after_backward(self, step, model):
        sq, tay = torch.zeros(len(self.params), len(SUBMODULES), dtype=torch.float64), torch.zeros(len(self.params), len(SUBMODULES), dtype=torch.float64)
        for i, ps in enumerate(self.params):
            for kind, p in ps:
                g, j = p.grad.detach(), SUBMODULES.index(kind)
                sq[i, j] += g.float().pow(2).sum().double(); tay[i, j] += (p.detach().float() * g.float()).abs().sum().double()
        sq, tay = sq.numpy(), tay.numpy()
        self.grad_norm += np.sqrt(sq.sum(1)); self.taylor += tay.sum(1); self.grad_norm_sub += np.sqrt(sq); self.taylor_sub += tay

class _NumpyUpdateNorms(Callback):
    "UpdateNorms' record as it was computed before (per-step RMS to NumPy, summed there)."
    def before_fit(self, model, *a): self.ps, self.raw, self.steps = [[p for p in b.parameters()] for b in model.model.layers], None, 0
    @torch.no_grad()
    def after_backward(self, step, model): self.before = [[p.detach().clone() for p in ps] for ps in self.ps]
    @torch.no_grad()
    def after_step(self, step, model, loss):
        ds = [[p - q for p, q in zip(ps, bs)] for ps, bs in zip(self.ps, self.before)]
        r = torch.stack([torch.sqrt(sum(d.double().pow(2).sum() for d in dd) / sum(d.numel() for d in dd)) for dd in ds]).numpy()
        self.raw = r if self.raw is None else self.raw + r; self.steps += 1

def test_cpu_numbers_unchanged():
    m = build_model(model_config('tiny', **CFG), 0)
    rows = torch.randint(0, 128, (32, 16), generator=torch.Generator().manual_seed(0))
    tr, hooked, un = GradTracker(m, snapshot_every=2), GradTracker(m).attach(), UpdateNorms()
    ref, ref_un = _NumpyTracker(tr), _NumpyUpdateNorms()
    train(m, rows, None, TrainConfig(steps=4, batch_size=4, seq_len=16, warmup=1, eval_every=0), [tr, ref, un, ref_un], progress=False)
    hooked.detach()
    for k in ('grad_norm', 'taylor', 'grad_norm_sub', 'taylor_sub'):
        got = getattr(tr, k)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.tolist() == getattr(ref, k).tolist(), k   # bit for bit
        np.testing.assert_allclose(getattr(hooked, k), got, rtol=1e-12)     # hooks sum in backward order
    d = tr.as_dict()
    assert d['steps'] == 4 and d['grad_norm'] == ref.grad_norm.tolist() and [s['step'] for s in d['snapshots']] == [2, 4]
    assert un.record()['raw'] == (ref_un.raw / ref_un.steps).tolist()
