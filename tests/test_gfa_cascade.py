"CascadeFormer with per-layer heads (save/load, KV cache, pruning), its cost and timing helpers, and deep supervision (gradients, round trip, the studies' metrics)."
import math, warnings
import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM
from lmpapers.core.guards import num_threads
from lmpapers.core.models import decoder_layers, model_config
from lmpapers.core.train import lm_loss
from lmpapers.gfa.cascadeformer import (ARCH_KINDS, CascadeQwen3Config, analytic_flops, cascade_config, cascade_study, forward_flops, head_schedule,
                                        model_costs, paired_ratio_ci, seed_ratio_ci, taper_ratios, time_inference, width_schedule)
from lmpapers.gfa.deep_supervision import deep_config, deep_supervision_study, fanin_fit
from lmpapers.gfa.pruning import remove_layers
from lmpapers.gfa.theory import fanin, fanin_deep_supervision

SMALL = dict(vocab_size=256, num_hidden_layers=6, hidden_size=48, intermediate_size=96, head_dim=12, num_attention_heads=4, num_key_value_heads=2,
             initializer_range=0.2)

class Res:
    "Keeps what the studies record, refusing a name twice as `Results` does."
    def __init__(self): self.metrics, self.notes, self.figs, self.config = {}, [], {}, {}
    def add(self, name, value, unit='', claim=None, note='', **kw):
        assert name not in self.metrics, name
        self.metrics[name] = value
    def note(self, t): self.notes.append(t)
    def figure(self, name, draw): self.figs[name] = draw()

@pytest.fixture(autouse=True)
def one_thread():
    with num_threads(1): yield

def _model(kind='cascade', **kw):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cascade_config(model_config('tiny', 'qwen3', **SMALL), kind, **kw)).eval()

def test_tapered_heads_roundtrip_cache_and_pruning(tmp_path):
    m = _model('cascade', layer_repeats=[1, 1, 1, 1, 2, 2])
    h, kv = m.config.heads_per_layer()
    assert h == head_schedule(taper_ratios(6), 4, 2)[0] and h[0] == 4 and h[-1] < 4 and kv[-1] == 1
    assert [b.self_attn.q_proj.out_features // 12 for b in decoder_layers(m)] == h
    x = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(1))
    kw = dict(max_new_tokens=6, do_sample=False, pad_token_id=1)
    g = m.generate(x, **kw)
    assert torch.equal(g, m.generate(x, use_cache=False, **kw))           # per-layer KV shapes: the cache is exact
    with torch.no_grad(): cache = m(x, use_cache=True).cache
    used = [l for l in cache.layers if l.keys is not None]
    assert sorted(l.keys.shape[1] for l in used) == sorted(kv + kv[4:])    # one slot per application of a block
    m.save_pretrained(tmp_path / 'm'); q = AutoModelForCausalLM.from_pretrained(tmp_path / 'm').eval()
    assert q.config.heads_per_layer() == (h, kv) and torch.equal(q.generate(x, **kw), g)
    torch.testing.assert_close(q(x).logits, m(x).logits)
    p = remove_layers(m, [2])
    assert p.config.heads_per_layer() == ([v for i, v in enumerate(h) if i != 2], [v for i, v in enumerate(kv) if i != 2])
    p.save_pretrained(tmp_path / 'p'); p2 = AutoModelForCausalLM.from_pretrained(tmp_path / 'p').eval()
    torch.testing.assert_close(p2(x).logits, p(x).logits)
    assert torch.equal(p2.generate(x, **kw), p.generate(x, use_cache=False, **kw))

def test_config_refuses_bad_heads():
    base = model_config('tiny', 'qwen3', **SMALL).to_dict()
    with pytest.raises(ValueError, match='do not divide'): CascadeQwen3Config(**{**base, 'num_attention_heads_per_layer': [4, 4, 3, 4, 4, 4]})
    with pytest.raises(ValueError, match='one per layer'): CascadeQwen3Config(**{**base, 'num_key_value_heads_per_layer': [2, 2]})
    with pytest.raises(ValueError, match='unknown architecture'): cascade_config(model_config('tiny', 'qwen3', **SMALL), 'widest')
    with pytest.raises(ValueError, match='strength'): taper_ratios(6, -0.1)
    assert 'num_attention_heads_per_layer' not in cascade_config(model_config('tiny', 'qwen3', **SMALL), 'uniform').to_diff_dict()

def test_costs_follow_the_schedules():
    ms = {k: _model(k) for k in ARCH_KINDS if k not in ('narrow', 'wnw')}     # the FLOP-matched shapes: test_flop_matched_control_and_wide_narrow_wide
    c = model_costs(ms, seq_len=32, prompt_len=8); u = c['uniform']
    r = {k: {a: v[a] / u[a] for a in v} for k, v in c.items()}
    assert r['cascade']['flops_per_token'] < 0.9 and r['cascade']['params'] < 0.95
    kv = ms['cascade'].config.heads_per_layer()[1]
    assert math.isclose(r['cascade']['kv_per_token'], sum(kv) / (6 * 2))
    for k in ('cascade_equal_params', 'openelm', 'mobilellm'): assert abs(r[k]['params'] - 1) < 5e-3, (k, r[k])
    assert abs(r['cascade_equal_params']['flops_per_token'] - 1) < 5e-3 and r['mobilellm']['kv_per_token'] == 2.0
    assert r['openelm']['kv_per_token'] < 1 and np.all(np.diff(ms['openelm'].config.intermediate_sizes) >= 0)

def test_flop_matched_control_and_wide_narrow_wide():
    base = model_config('tiny', 'qwen3', **SMALL)
    cfg = {k: cascade_config(base, k) for k in ('uniform', 'cascade', 'narrow', 'wnw')}
    for k, c in cfg.items():                          # the analytic count is torch's plus the attention kernel torch does not see
        torch.manual_seed(0); m = AutoModelForCausalLM.from_config(c)
        assert math.isclose(analytic_flops(c, 32) - forward_flops(m, 32) / 32, sum(2 * 32 * h * c.head_dim for h in c.heads_per_layer()[0])), k
    f = {k: analytic_flops(c) for k, c in cfg.items()}
    assert f['cascade'] < 0.9 * f['uniform'] and all(abs(f[k] / f['cascade'] - 1) < 0.02 for k in ('narrow', 'wnw'))
    assert len(set(cfg['narrow'].intermediate_sizes)) == 1 and len(set(cfg['narrow'].heads_per_layer()[0])) == 1
    w = cfg['wnw'].intermediate_sizes
    assert w[0] > w[len(w) // 2] < w[-1] and cfg['wnw'].heads_per_layer()[0][0] == SMALL['num_attention_heads']
    with pytest.raises(ValueError, match='cascade_config'): width_schedule('narrow', 6, 96)
    a = np.random.default_rng(0).normal(5, 0.3, (3, 16))
    r = seed_ratio_ci(a + [[0.1], [0.2], [0.3]], a)           # per-seed shifts: ratio exp(0.2), a Student-t interval over the 3 seeds
    assert math.isclose(r['ratio'], math.exp(0.2)) and r['n'] == 3 and r['ci'][0] < math.exp(0.1) and r['ci'][1] > math.exp(0.3)
    assert np.allclose(r['per_seed'], np.exp([0.1, 0.2, 0.3])) and 'seeds' in r['over']
    assert seed_ratio_ci(a[:1] + 0.1, a[:1])['n'] == 1 and 'rows' in seed_ratio_ci(a[:1] + 0.1, a[:1])['over']
    with pytest.raises(ValueError, match='equal'): seed_ratio_ci(a, a[:2])

def test_time_inference_pairs_rounds():
    ms = {k: _model(k) for k in ('uniform', 'cascade')}
    x = torch.randint(0, 256, (1, 6))
    t = time_inference(ms, x, new_tokens=2, batch=2, rounds=3)
    assert t['uniform']['latency_ratio'] == 1.0 and t['uniform']['throughput_ratio_iqr'] == [1.0, 1.0]
    assert all(t['cascade'][k] > 0 for k in ('prefill_s', 'decode_s', 'throughput_tps', 'latency_ratio'))
    with pytest.raises(ValueError, match='one row'): time_inference(ms, x.expand(2, -1))
    with pytest.raises(ValueError, match='reference'): time_inference(ms, x, ref='openelm')
    v, ci = paired_ratio_ci(np.full(8, 2.0), np.full(8, 1.5))
    assert math.isclose(v, math.exp(0.5)) and np.allclose(ci, math.exp(0.5))

def test_deep_supervision_gradient_is_the_sum_of_every_head():
    base = model_config('tiny', 'qwen3', **SMALL)
    torch.manual_seed(0); m = AutoModelForCausalLM.from_config(deep_config(base)).train()
    x = torch.randint(0, 256, (2, 10), generator=torch.Generator().manual_seed(2))
    lm_loss(m(x).logits.float(), x).backward()
    g = [p.grad.clone() for p in m.parameters()]; m.zero_grad()
    m.config.deep_supervision_weight = 0.0
    outs = []; hk = [b.register_forward_hook(lambda mod, a, o: outs.append(o)) for b in decoder_layers(m)]
    top = m(x).logits
    for h in hk: h.remove()
    (sum(lm_loss(m.lm_head(m.model.norm(o)).float(), x) for o in outs[:-1]) + lm_loss(top.float(), x)).backward()
    for a, p in zip(g, m.parameters()): torch.testing.assert_close(a, p.grad, rtol=1e-4, atol=1e-6)
    m.zero_grad(); lm_loss(m(x).logits.float(), x).backward()                 # weight 0: the top loss alone
    assert any(not torch.allclose(a, p.grad) for a, p in zip(g, m.parameters()))
    with pytest.raises(ValueError, match='>= 0'): deep_config(base, -0.5)

def test_fanin_fit_reads_path_counts():
    f, fd = fanin(8).astype(float), fanin_deep_supervision(8).astype(float)
    ff = fanin_fit(2 * fd, f)
    assert math.isclose(ff['ratio_slope'], 1.0) and math.isclose(ff['ratio_spearman'], 1.0) and math.isclose(ff['fanin_spearman'], 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                                             # a flat ratio has no rank correlation
        assert abs(fanin_fit(3 * f, f)['ratio_slope']) < 1e-9
    with pytest.raises(ValueError, match='equal'): fanin_fit(f, f[:4])

def test_studies_record_the_contract():          # micro models, trained once into the cache
    g = torch.Generator().manual_seed(0)
    tr, ev = torch.randint(0, 2048, (64, 32), generator=g), torch.randint(0, 2048, (8, 32), generator=g)   # the project vocabulary; no corpus needed
    P = dict(model=dict(num_hidden_layers=3, hidden_size=32, intermediate_size=64, head_dim=8, num_attention_heads=4, num_key_value_heads=2), seeds=(0,),
             train=dict(steps=2, batch_size=4, seq_len=32, lr=3e-3, warmup=1, eval_every=2, eval_rows=4))
    r = Res()
    o = cascade_study(r, P, None, tr, ev[:8], seed=0, smoke=True)
    for n in ('cascadeformer_ppl_ratio', 'cascadeformer_latency_ratio', 'cascadeformer_throughput_ratio', 'cascadeformer_flops_ratio',
              'cascadeformer_ppl_ratio_equal_params', 'cascadeformer_latency_ratio_equal_params', 'cascadeformer_throughput_ratio_equal_params',
              'cascadeformer_flops_ratio_equal_params', 'cascadeformer_latency_ratio_spread', 'cascadeformer_throughput_ratio_spread',
              'cascadeformer_prefill_latency_ratio', 'cascadeformer_kv_cache_ratio', 'openelm_ppl_ratio', 'openelm_latency_ratio', 'mobilellm_ppl_ratio',
              'mobilellm_throughput_ratio', 'unigram_ppl', 'uniform_ppl', 'cascadeformer_n_seeds', 'cascadeformer_ppl_ratio_flop_matched_control',
              'flop_matched_control_ppl_ratio', 'wide_narrow_wide_ppl_ratio', 'cascadeformer_flops_ratio_analytic'):
        assert n in r.metrics, n
    assert r.metrics['unigram_ppl'] > 1 and r.metrics['cascadeformer_n_seeds'] == 1
    assert r.metrics['cascadeformer_flops_ratio'] < 1 and o['config']['tokens'] == 2 * 4 * 32 and 'cascadeformer' in r.figs
    deep_supervision_study(r, dict(P, seeds=(0, 1, 2)), None, tr, ev[:8], seed=0, smoke=True)      # smoke sizes, three seeds: intervals
    assert {'deep_supervision_fanin_spearman', 'deep_supervision_fanin_spearman_ci', 'deep_supervision_ratio_spearman', 'deep_supervision_ratio_loglog_slope_ci'} <= set(r.metrics)
    lo, hi = r.metrics['deep_supervision_fanin_spearman_ci']; assert -1 <= lo <= hi <= 1
    assert 'deep_supervision' in r.figs
    with pytest.raises(ValueError, match='shorter than seq_len'):
        deep_supervision_study(Res(), dict(P, train=dict(P['train'], seq_len=64)), None, tr, ev[:8], seed=0, smoke=True)
