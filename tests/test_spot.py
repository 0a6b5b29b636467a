"SpotAttention: property tests of quantisation and selection, and integration checks too slow for the notebooks."
import math
import pytest, torch
from lmpapers.spot.quant import quantize, dequantize, e2m1_encode, e2m1_decode, E2M1_GRID, FORMATS
from lmpapers.spot.selection import select_topk, select_top_p, sparse_attention, dense_attention, mass_recall

@pytest.mark.parametrize('fmt', list(FORMATS))
@pytest.mark.parametrize('scale', [1e-3, 1.0, 1e3])
def test_quant_error_bounded(fmt, scale):
    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(0)) * scale
    d = dequantize(quantize(x, fmt))
    blk = FORMATS[fmt]
    amax = x.view(64, -1, blk).abs().amax(-1, keepdim=True).expand(-1, -1, blk).reshape(64, 64)
    # worst-case error relative to the block max: half a grid step (int4: fp16 scale rounding; nvfp4: E4M3 scale rounding)
    bound = {'int4': 0.51 / 7, 'mxfp4': 0.5, 'nvfp4': 1.07 / 6}[fmt]   # mxfp4: scale ≤ amax/4, saturation 8→6 costs 2 scales
    assert ((d - x).abs() <= bound * amax + 1e-30).all()

def test_e2m1_monotone_and_nearest():
    x = torch.linspace(-7, 7, 2001)
    v = e2m1_decode(e2m1_encode(x))
    assert (v[1:] >= v[:-1]).all()
    grid = torch.cat([-E2M1_GRID, E2M1_GRID])
    nearest = (x[:, None] - grid[None]).abs().min(-1).values
    assert ((v - x.clamp(-6, 6)).abs() <= nearest + 1e-6).all()

def test_top_p_mass_reached():
    g = torch.Generator().manual_seed(1)
    pr = torch.rand(3, 5, 200, generator=g).pow(6); pr /= pr.sum(-1, keepdim=True)
    idx, ok, b = select_top_p(pr, 0.8, 1, 200, 0, 0, q_pos=torch.full((5,), 199))
    assert (mass_recall(pr, idx, ok) >= 0.8 - 1e-6).all()
    idx2, ok2, b2 = select_top_p(pr, 0.8, 1, 200, 0, 0, q_pos=torch.full((5,), 199))
    # minimality: dropping the last kept key falls below p
    last = pr.gather(-1, idx.gather(-1, (b - 1)[..., None])).squeeze(-1)
    assert ((mass_recall(pr, idx, ok) - last) < 0.8).all()

def test_sparse_equals_dense_with_full_budget_gqa():
    g = torch.Generator().manual_seed(2)
    q, k, v = torch.randn(2, 6, 4, 16, generator=g), torch.randn(2, 3, 9, 16, generator=g), torch.randn(2, 3, 9, 16, generator=g)
    idx, ok = select_topk(torch.randn(2, 3, 4, 9, generator=g), 9)
    torch.testing.assert_close(sparse_attention(q, k, v, idx, ok), dense_attention(q, k, v), rtol=1e-5, atol=1e-5)

def test_integration_causal_top_p_and_bad_inputs():
    from lmpapers.core.train import pretrained_lm
    from lmpapers.spot.selector import SpotSelector
    from lmpapers.spot.integration import sparse, TopP, SelectorScorer
    model, tok = pretrained_lm(progress=False)
    sel = SpotSelector.for_model(model)
    ids = torch.randint(3, 2000, (1, 40), generator=torch.Generator().manual_seed(3))
    ids2 = ids.clone(); ids2[0, 30:] = (ids2[0, 30:] + 7) % 2000
    with torch.no_grad(), sparse(model, TopP(SelectorScorer(sel, 'nvfp4'), p=0.5, k_min=2, k_max=6), prefill='sparse'):
        a, b = model(ids).logits, model(ids2).logits
    torch.testing.assert_close(a[:, :30], b[:, :30])
    with pytest.raises(ValueError, match='prefill'): sparse(model, None, prefill='half').__enter__()
    ks = torch.full((1, 2, 1, 4), float('nan'))
    with pytest.raises(ValueError, match='NaN'): select_topk(ks, 2)
    with pytest.raises(ValueError, match='NaN'): quantize(torch.full((2, 32), float('nan')), 'mxfp4')
    # padded batches are refused, not mis-attended
    with torch.no_grad(), sparse(model, TopP(SelectorScorer(sel), p=0.5, k_min=2, k_max=6), prefill='sparse'):
        with pytest.raises(ValueError, match='unpadded'):
            model(ids.repeat(2, 1), attention_mask=torch.tensor([[1] * 40, [0] * 3 + [1] * 37]))

def test_selector_rejects_sliding_window_layout():
    from lmpapers.spot.selector import SpotSelector
    from lmpapers.core.models import model_config, build_model
    cfg = model_config('tiny', 'qwen3', vocab_size=2048)
    cfg.layer_types = ['sliding_attention'] + ['full_attention'] * (cfg.num_hidden_layers - 1)
    with pytest.raises(ValueError, match='unsupported attention layout'): SpotSelector.for_model(build_model(cfg))
