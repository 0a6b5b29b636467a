"lmpapers.rl.grpo against TRL's own formulas and hand-computed values."
import math
import pytest, torch
from lmpapers.rl.grpo import group_advantages, clipped_token_loss, k3_kl, aggregate, grpo_loss, span_credit, as_token_advantages

def test_group_advantages_match_trl_formula():
    from trl.trainer.utils import nanstd
    g = torch.Generator().manual_seed(0)
    r = torch.randint(0, 2, (24,), generator=g).float() + torch.rand(24, generator=g) * (torch.arange(24) % 3 == 0)
    G = 6
    mean = torch.nanmean(r.view(-1, G), 1).repeat_interleave(G)
    std = nanstd(r.view(-1, G), dim=1).repeat_interleave(G)
    assert torch.equal(group_advantages(r, G), torch.nan_to_num((r - mean) / (std + 1e-4)))
    assert torch.equal(group_advantages(r, G, 'none'), r - mean)
    assert torch.equal(group_advantages(r, G, 'batch'), (r - mean) / (nanstd(r) + 1e-4))

def test_group_advantages_hand_values_and_errors():
    a = group_advantages(torch.tensor([2., 0.]), 2)
    assert a.tolist() == pytest.approx([1 / (math.sqrt(2) + 1e-4), -1 / (math.sqrt(2) + 1e-4)])
    with pytest.raises(ValueError, match='groups of 3'): group_advantages(torch.ones(4), 3)
    with pytest.raises(TypeError): group_advantages(torch.ones(2, 2), 2)
    with pytest.raises(ValueError, match='scale'): group_advantages(torch.ones(4), 2, 'sum')

def test_clipped_loss_asymmetric_clip_and_shapes():
    lp, old = torch.log(torch.tensor([[1.5, 0.5, 1.0]])), torch.zeros(1, 3)
    A = torch.tensor([[1., -1., 2.]])
    # rho 1.5 clipped at 1.28 for A > 0; rho 0.5 clipped at 0.8 for A < 0 (the min keeps the worse, -0.8 * -1 = 0.8)
    assert clipped_token_loss(lp, old, A, 0.2, 0.28)[0].tolist() == pytest.approx([-1.28, 0.8, -2.0])
    assert as_token_advantages(torch.tensor([3.]), (1, 4)).tolist() == [[3.] * 4]
    with pytest.raises(ValueError): as_token_advantages(torch.ones(2), (3, 4))

def test_k3_and_aggregations():
    lp, ref = torch.tensor([[0.0, -1.0]]), torch.tensor([[0.0, 0.0]])
    assert k3_kl(lp, ref).tolist()[0] == pytest.approx([0.0, math.e - 1 - 1])
    per, m = torch.tensor([[2., 4., 6.], [1., 1., 1.]]), torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert aggregate(per, m, 'grpo').item() == pytest.approx((3 + 1) / 2)
    assert aggregate(per, m, 'bnpo').item() == pytest.approx(9 / 5)
    assert aggregate(per, m, 'dr_grpo', 10).item() == pytest.approx(9 / 20)
    assert aggregate(per, m, 'dapo').item() == pytest.approx(9 / 5)
    with pytest.raises(ValueError, match='ref_logp'): grpo_loss(lp, lp, torch.ones(1), torch.ones(1, 2), beta=0.1)

def test_grpo_loss_matches_trl_per_token_expression():
    "The expression TRL 1.16 evaluates in _compute_loss for loss_type='grpo' with beta > 0."
    g = torch.Generator().manual_seed(1)
    lp, old, ref = (torch.randn(3, 5, generator=g) * 0.3 for _ in range(3))
    A, m = torch.randn(3, generator=g), (torch.rand(3, 5, generator=g) > 0.3).float()
    c1 = torch.exp(lp - old); c2 = torch.clamp(c1, 0.8, 1.2)
    per = -torch.min(c1 * A[:, None], c2 * A[:, None]) + 0.04 * (torch.exp(ref - lp) - (ref - lp) - 1)
    want = ((per * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    torch.testing.assert_close(grpo_loss(lp, old, A, m, beta=0.04, ref_logp=ref), want)

def test_span_credit_clips_to_length_and_validates():
    b = torch.zeros(2, 4)
    out = span_credit(b, [[(1, 3)], [(3, 9), (9, 12)]], [[1.], [2., 5.]], 'last')
    assert out.tolist() == [[0, 0, 1, 0], [0, 0, 0, 2]]
    with pytest.raises(ValueError, match='where'): span_credit(b, [[], []], [[], []], 'middle')
