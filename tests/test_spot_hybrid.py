"SpotAttention on a hybrid (Qwen3-Next: linear- and full-attention layers): selector slots, distillation, sparse generate, frozen base."
import pytest, torch
from lmpapers.spot.selector import (SpotSelector, attention_layers, capture, distill, tiny_hybrid_lm, weights_fingerprint,
                                    same_weights, save_selector, load_selector, group_mean)
from lmpapers.spot.integration import sparse, generate_sparse, TopK, TopP, SelectorScorer
from lmpapers.core.models import decoder_layers

@pytest.fixture(scope='module')
def hyb(): return tiny_hybrid_lm(seed=0)

def test_selector_only_for_full_attention_layers(hyb):
    types = hyb.config.layer_types
    assert types == ['linear_attention', 'full_attention', 'linear_attention', 'full_attention']
    assert attention_layers(hyb) == [1, 3]
    sel = SpotSelector.for_model(hyb)
    assert sel.dims['n_layers'] == 2 and sel.a.shape[0] == 2 and sel.b.shape[0] == 2
    assert sel.meta['layer_types'] == types
    recs = capture(hyb, torch.randint(2, 256, (2, 16), generator=torch.Generator().manual_seed(0)))
    assert len(recs) == 2 and all(p.shape == (2, 4, 16, 16) for _, _, _, p in recs)
    # the linear-attention layers are not touched by capture or by `sparse`
    dl = decoder_layers(hyb)
    assert not hasattr(dl[0], 'self_attn') and hasattr(dl[0], 'linear_attn')
    with sparse(hyb, TopK(SelectorScorer(sel), k=4)):
        assert [getattr(dl[i].self_attn, '_spot_slot', None) for i in (1, 3)] == [0, 1]
    assert getattr(dl[1].self_attn, '_spot_cfg', None) is None

def test_distillation_step_and_frozen_base(hyb, tmp_path):
    sel = SpotSelector.for_model(hyb)
    snap = weights_fingerprint(hyb)
    a0 = sel.a.detach().clone()
    rows = torch.randint(2, 256, (8, 24), generator=torch.Generator().manual_seed(1))
    recs = capture(hyb, rows)
    def kl():
        with torch.no_grad(): return sum(sel.loss(l, q, k, group_mean(p, 2)) for l, (q, k, v, p) in enumerate(recs)).item()
    before = kl()
    h = distill(sel, hyb, rows, steps=10, batch_size=4, progress=False)
    assert len(h['loss']) == 10 and all(torch.isfinite(torch.tensor(h['loss'])))
    assert kl() < before                                    # the KL on all rows fell
    assert not torch.equal(sel.a, a0)                       # the selector did train
    assert same_weights(hyb, snap)                          # the base model is bit-identical
    save_selector(sel, tmp_path)
    assert torch.equal(load_selector(tmp_path, hyb).a, sel.a)
    other = tiny_hybrid_lm(layer_types=('full_attention', 'linear_attention', 'full_attention', 'linear_attention'))
    with pytest.raises(ValueError, match='different model'): load_selector(tmp_path, other)
    sd = torch.load(tmp_path/'selector.pt'); del sd['b']; torch.save(sd, tmp_path/'selector.pt')
    with pytest.raises(RuntimeError, match='Missing key'): load_selector(tmp_path, hyb)

def test_sparse_generate_full_budget_equals_dense(hyb):
    ids = torch.randint(2, 256, (1, 24), generator=torch.Generator().manual_seed(2))
    plain = hyb.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=0)[:, 24:]
    sel = SpotSelector.for_model(hyb)
    for method in (TopK(SelectorScorer(sel, 'mxfp4'), k=10_000), TopP(SelectorScorer(sel), p=1.0, k_min=1, k_max=10_000)):
        new, cfg = generate_sparse(hyb, ids, method, max_new_tokens=6)
        assert torch.equal(new, plain)
        assert {l for l, _, _ in cfg.budgets} == {1, 3}
    # a small budget really is sparse (logits change) and stays causal
    with torch.no_grad():
        ref = hyb(ids).logits
        with sparse(hyb, TopK(SelectorScorer(sel), k=4, n_sink=1, n_recent=1), prefill='sparse'):
            a = hyb(ids).logits
            b = hyb(torch.cat([ids[:, :-1], (ids[:, -1:] + 1) % 256], 1)).logits
    assert (a - ref).abs().max() > 1e-3
    torch.testing.assert_close(a[:, :-1], b[:, :-1])

def test_sliding_window_still_refused():
    from lmpapers.core.models import model_config, build_model
    cfg = model_config('tiny', 'qwen3', vocab_size=2048)
    cfg.layer_types = ['sliding_attention'] + ['full_attention'] * (cfg.num_hidden_layers - 1)
    m = build_model(cfg)
    with pytest.raises(ValueError, match='unsupported attention layout'): SpotSelector.for_model(m)
    with pytest.raises(ValueError, match='unsupported attention layout'): capture(m, torch.zeros(1, 4, dtype=torch.long))
