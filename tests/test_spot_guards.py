"SpotAttention at the boundary: content cache keys, no side effects on the caller, model device/dtype followed, bad input refused."
import re, subprocess, sys
from pathlib import Path
import pytest, torch
from lmpapers.core.models import model_config, build_model
from lmpapers.spot.selector import (SpotSelector, capture, distill, train_estimator, finetuned_lm, model_key,
                                    weights_digest)
from lmpapers.spot.quant import quantize, dequantize
from lmpapers.spot.integration import SelectorScorer, TopK, TopP, sparse, generate_sparse
from lmpapers.spot.baselines import LightningIndexer, BlockGate, selection_metrics
from lmpapers.spot.experiment import methods_for, passkey_eval, scale_config

V = 256

def tiny(seed=0, **kw):
    "A small random Qwen3 built from config (its `name_or_path` is empty, whatever its weights)."
    return build_model(model_config('tiny', 'qwen3', vocab_size=V, **(dict(initializer_range=0.2, num_hidden_layers=2) | kw)), seed=seed).eval()

def rows(n=4, T=16, seed=0): return torch.randint(3, V, (n, T), generator=torch.Generator().manual_seed(seed))

class Tok:
    "The part of a tokenizer `passkey_eval` uses."
    pad_token_id, eos_token_id, special_tokens_map = 0, 1, {}
    def decode(self, ids): return ' '.join(map(str, ids.tolist()))
    def get_vocab(self): return {str(i): i for i in range(V)}

@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('LMPAPERS_CACHE', str(tmp_path))
    return tmp_path

# --- cache keys ---------------------------------------------------------------------------------

def test_selector_cache_keyed_by_weights_not_name(cache):
    a, b = tiny(0), tiny(1)
    assert a.name_or_path == b.name_or_path and weights_digest(a) != weights_digest(b)
    sa, _ = train_estimator(SpotSelector, a, None, rows=rows(), steps=2, batch_size=2)
    sb, _ = train_estimator(SpotSelector, b, None, rows=rows(), steps=2, batch_size=2)
    assert len(list((cache/'spot_selector').iterdir())) == 4     # two entries + their lock files
    assert not torch.equal(sa.a, sb.a)                           # b got its own selector, not a's
    sa2, _ = train_estimator(SpotSelector, a, None, rows=rows(), steps=2, batch_size=2)
    assert torch.equal(sa2.a, sa.a)                              # same content: a cache hit
    train_estimator(SpotSelector, a, None, rows=rows(seed=1), steps=2, batch_size=2)
    assert len(list((cache/'spot_selector').iterdir())) == 6     # other rows: another entry

def test_finetuned_lm_keyed_by_weights_not_name(cache):
    a, b = tiny(0), tiny(1)
    snap = weights_digest(a)
    ma, _ = finetuned_lm(a, Tok(), 't', lambda: rows(4, 16), steps=1, batch_size=2, seq_len=16, lr=1e-3, seed=0)
    mb, _ = finetuned_lm(b, Tok(), 't', lambda: rows(4, 16), steps=1, batch_size=2, seq_len=16, lr=1e-3, seed=0)
    assert weights_digest(ma) != weights_digest(mb)
    assert weights_digest(a) == snap                             # the caller's model is not trained in place

def test_scorer_cache_not_reused_across_sequences_sharing_first_token():
    sel = SpotSelector(1, 4, 2, 32)
    with torch.no_grad(): sel.b.normal_()
    g = torch.Generator().manual_seed(0)
    ka, kb = torch.randn(1, 2, 10, 32, generator=g), torch.randn(1, 2, 12, 32, generator=g)
    kb[:, :, 0] = ka[:, :, 0]                                     # the same first token, then different text
    q = torch.randn(1, 4, 1, 32, generator=g)
    sc = SelectorScorer(sel)
    sc(0, q, ka)
    torch.testing.assert_close(sc(0, q, kb), SelectorScorer(sel)(0, q, kb))
    grown = torch.cat([kb, torch.randn(1, 2, 1, 32, generator=g)], 2)   # a decode step: only the new key is encoded
    n = sc.encoded; sc(0, q, grown)
    assert sc.encoded - n == 1
    torch.testing.assert_close(sc(0, q, grown), SelectorScorer(sel)(0, q, grown))

@pytest.mark.parametrize('fmt', [None, 'int4', 'mxfp4', 'nvfp4'])
def test_scorer_cache_causal_and_chunking_invariant(fmt):
    "Encoding a sequence's keys all at once or one decode step at a time gives the same scores; no key depends on a later one."
    sel = SpotSelector(1, 4, 2, 32)
    g = torch.Generator().manual_seed(1)
    k, q = torch.randn(1, 2, 12, 32, generator=g) * 4, torch.randn(1, 4, 1, 32, generator=g)
    k[0, 0, 11] *= 50                                             # a large later key must not change earlier codes
    step = SelectorScorer(sel, fmt)
    for t in range(1, 13): s_step = step(0, q, k[:, :, :t])
    torch.testing.assert_close(s_step, SelectorScorer(sel, fmt)(0, q, k), rtol=0, atol=0)
    early = SelectorScorer(sel, fmt)(0, q, k[:, :, :11])
    torch.testing.assert_close(SelectorScorer(sel, fmt)(0, q, k)[..., :11], early, rtol=0, atol=0)

# --- side effects ------------------------------------------------------------------------------

def test_train_estimator_restores_model_state_and_rng(cache):
    m = tiny(0).train()
    flags = [p.requires_grad for p in m.parameters()]
    torch.manual_seed(123); before = torch.get_rng_state()
    for cls in (SpotSelector, LightningIndexer):
        train_estimator(cls, m, None, rows=rows(), steps=2, batch_size=2)
    assert torch.equal(torch.get_rng_state(), before)            # global RNG untouched (estimator init and batches seeded locally)
    assert [p.requires_grad for p in m.parameters()] == flags and all(flags)
    assert m.training                                            # the caller's mode comes back
    distill(SpotSelector.for_model(m), m, rows(), steps=2, batch_size=2)
    assert torch.equal(torch.get_rng_state(), before)

def test_threads_restored_when_a_run_fails(monkeypatch):
    from lmpapers.spot import experiment
    def boom(*a, **k): raise RuntimeError('boom')
    monkeypatch.setattr(experiment, '_run', boom)
    n = torch.get_num_threads()
    with pytest.raises(RuntimeError, match='boom'): experiment.reproduce('small', smoke=True)
    assert torch.get_num_threads() == n

def test_no_pyplot_and_no_swallowed_exceptions_in_spot_code():
    root = Path(__file__).parents[1]
    for f in list((root/'lmpapers'/'spot').glob('*.py')) + list((root/'kernels'/'spot').glob('*.py')):
        text = f.read_text()
        assert 'pyplot' not in text and 'matplotlib.use' not in text, f
        assert not re.search(r'except\s*(Exception\s*)?:', text), f
        assert not re.search(r'except[^\n]*:\s*(pass|continue)\b', text), f
    code = "import sys, lmpapers.spot.experiment; assert 'matplotlib.pyplot' not in sys.modules"
    subprocess.run([sys.executable, '-c', code], check=True)

# --- model device and dtype --------------------------------------------------------------------

@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float64])
def test_model_dtype_differs_from_selector_and_inputs(dtype):
    m = tiny(0).to(dtype)
    r = rows(2, 24)
    ests = [cls.for_model(m) for cls in (SpotSelector, LightningIndexer, BlockGate)]
    for e in ests:
        h = distill(e, m, r, steps=2, batch_size=2)
        assert all(torch.isfinite(torch.tensor(h['loss'])))
        assert all(p.dtype == torch.float32 for p in e.parameters())     # the estimator keeps its own dtype
    cfg = dict(budget=6, n_sink=1, n_recent=2, page=4, twilight_p=0.85, p=0.6, p_kmax=8)
    methods = methods_for(*ests, cfg)
    met = selection_metrics(m, r, methods, n_queries=4)
    assert all(0 <= v['mass_recall'] <= 1 + 1e-4 for v in met.values())
    prompts = [(r[:1, :12], '7')]
    for meth in (None, methods['spot_topk'], methods['spot_topp'], methods['dsa']):
        acc, outs = passkey_eval(m, Tok(), meth, prompts, max_new_tokens=3)
        assert outs[0].shape == (3,)
    q, k, v, p = capture(m, r[:1].int(), last=3)[0]                 # int32 ids are fine; probs in fp32
    assert q.dtype == dtype and p.dtype == torch.float32 and p.shape[2] == 3

# --- bad input ---------------------------------------------------------------------------------

def test_bad_input_refused():
    m = tiny(0)
    sel = SpotSelector.for_model(m)
    meth = TopK(SelectorScorer(sel), k=4)
    ids = rows(1, 8)
    with pytest.raises(TypeError, match='torch.Tensor'): generate_sparse(m, ids[0].tolist(), meth)
    with pytest.raises(TypeError, match='integer'): generate_sparse(m, ids.float(), meth)
    assert generate_sparse(m, ids[0], meth)[0].dim() == 1                       # one unbatched prompt is accepted
    with pytest.raises(ValueError, match='2-D'): generate_sparse(m, ids[None], meth)
    with pytest.raises(ValueError, match='vocabulary'): generate_sparse(m, ids + V, meth)
    with pytest.raises(ValueError, match='max_new_tokens'): generate_sparse(m, ids, meth, max_new_tokens=0)
    with pytest.raises(TypeError, match='callable'): generate_sparse(m, ids, 'topk')
    other = tiny(0, num_hidden_layers=3)                                  # another model's shape: layers
    wide = build_model(model_config('tiny', 'qwen3', vocab_size=V, num_hidden_layers=2, num_attention_heads=8), 0)  # heads
    for o in (other, wide):
        bad = TopK(SelectorScorer(SpotSelector.for_model(o)), k=4)
        with pytest.raises(ValueError, match='different model'): generate_sparse(m, ids, bad)
        with pytest.raises(ValueError, match='different model'): distill(SpotSelector.for_model(o), m, rows(), steps=1)
        with pytest.raises(ValueError, match='different model'): selection_metrics(m, rows(), {'s': bad}, n_queries=2)
    with pytest.raises(ValueError, match='must be'): sel.keys(0, torch.randn(1, 2, 5, 16))   # head_dim mismatch
    with pytest.raises(ValueError, match='must be'): sel.queries(0, torch.randn(1, 2, 5, 32))   # query heads
    with pytest.raises(TypeError, match='SpotSelector'): SelectorScorer(object())
    with pytest.raises(TypeError, match='torch.Tensor'): distill(sel, m, rows().tolist(), steps=1)
    with pytest.raises(ValueError, match='vocabulary'): distill(sel, m, rows() + V, steps=1)
    with pytest.raises(ValueError, match='positive'): distill(sel, m, rows(), steps=0)
    with pytest.raises(TypeError, match='integer'): train_estimator(SpotSelector, m, None, rows=rows().float(), steps=1)
    with pytest.raises(TypeError, match='prompts'): passkey_eval(m, Tok(), None, ids)
    with pytest.raises(TypeError, match='integer'): passkey_eval(m, Tok(), None, [(ids.float(), '1')])
    with pytest.raises(ValueError, match='2-D'): passkey_eval(m, Tok(), meth, [(ids[0], '1')])
    with pytest.raises(ValueError, match='small'): scale_config('tiny', smoke=True)

def test_lighter_selector_cache_is_smaller_packed_and_causal():
    "A selector on 4 of 16 RoPE pairs caches 8 values per key (a quarter of K), packed in NVFP4, appended exactly."
    sel = SpotSelector(1, 4, 2, 32, n_pairs=4)
    with torch.no_grad(): sel.a.normal_(); sel.b.normal_()
    g = torch.Generator().manual_seed(2)
    k, q = torch.randn(1, 2, 20, 32, generator=g), torch.randn(1, 4, 1, 32, generator=g)
    with pytest.raises(ValueError, match='needs blocks of'): SelectorScorer(SpotSelector(1, 4, 2, 32, n_pairs=2), 'nvfp4')   # 8 values a token
    with pytest.raises(ValueError, match='needs blocks of'): SelectorScorer(sel, 'int4')     # 16 values a token, INT4 blocks of 32
    flat16 = SelectorScorer(sel, 'nvfp4'); s16 = flat16(0, q, k)     # NVFP4 blocks of 16 span the token's 2 heads
    ks = dequantize(quantize(flat16.layout(sel.keys(0, k)), 'nvfp4', 1.0)).view(1, 20, 2, 8).transpose(1, 2)
    torch.testing.assert_close(s16, sel.logits(0, q, ks=ks), rtol=1e-5, atol=1e-5)
    sel8 = SpotSelector(1, 4, 2, 32, n_pairs=8)
    step = SelectorScorer(sel8, 'nvfp4')
    for t in range(1, 21): s_step = step(0, q, k[:, :, :t])
    torch.testing.assert_close(s_step, SelectorScorer(sel8, 'nvfp4')(0, q, k), rtol=0, atol=0)
    full = SelectorScorer(SpotSelector(1, 4, 2, 32), 'nvfp4'); full(0, q, k)
    assert step.nbytes * 2 == full.nbytes == 2 * 20 * (16 + 2)       # 32-dim keys: 16 B codes + 2 scales; 16-dim: half

def test_selector_of_another_model_refused_by_fingerprint(tmp_path):
    "Same architecture and shapes, other weights: the selector's stored fingerprint refuses it everywhere it meets a model."
    from lmpapers.spot.selector import save_selector, load_selector, model_fingerprint
    from lmpapers.spot.baselines import estimator_scorer
    m, twin = tiny(0), tiny(1)                                      # same config, another seed
    sel = SpotSelector.for_model(m)
    assert sel.meta['fingerprint'] == model_fingerprint(m) != model_fingerprint(twin)
    ids = rows(1, 8)
    generate_sparse(m, ids, TopK(SelectorScorer(sel), k=4))          # its own model: accepted
    for method in (TopK(SelectorScorer(sel), k=4), TopK(estimator_scorer(LightningIndexer.for_model(m)), k=4)):
        with pytest.raises(ValueError, match='fingerprint'): generate_sparse(twin, ids, method)
    with pytest.raises(ValueError, match='fingerprint'): distill(sel, twin, rows(), steps=1)
    save_selector(sel, tmp_path)
    with pytest.raises(ValueError, match='fingerprint'): load_selector(tmp_path, twin)
    assert load_selector(tmp_path, m).meta['fingerprint'] == sel.meta['fingerprint']
    cfg2 = tiny(0, rope_theta=5e5)                                   # same weights, another config
    with pytest.raises(ValueError, match='fingerprint'): generate_sparse(cfg2, ids, TopK(SelectorScorer(sel), k=4))
