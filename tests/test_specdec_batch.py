"""Batched chain speculative decoding: rows of different lengths (left padding, per-row positions, a key mask that drops each
row's rejected drafts) give, row by row, the tokens of greedy `generate` run on that row alone."""
import copy
import pytest
import torch
from lmpapers.core.models import model_config, build_model
from lmpapers.specdec.drafters import ModelDrafter, PromptLookupDrafter
from lmpapers.specdec.batch import batch_speculative_generate

V = 48
PROMPTS = [[3, 7, 1, 9, 4, 7, 1, 9, 2], [5, 11, 30], [17], [8, 8, 2, 40, 41, 6]]


@pytest.fixture(scope='module')
def models():
    cfg = model_config(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, initializer_range=0.2)
    target = build_model(cfg, seed=0).eval()
    drafter, g = copy.deepcopy(target), torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in drafter.parameters(): p.add_(0.01 * torch.randn(p.shape, generator=g))
    return target, drafter


def _alone(target, p, n):
    x = torch.tensor([p])
    return target.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)[0].tolist()


@pytest.mark.parametrize('rows', [PROMPTS[:2], PROMPTS[1:4], PROMPTS])
def test_batch_rows_equal_generate_alone(models, rows):
    target, dm = models
    o = batch_speculative_generate(target, rows, ModelDrafter(dm, k=4), max_new_tokens=16, eos_token_id=None)
    assert [s.tolist() for s in o.sequences] == [_alone(target, p, 16) for p in rows]
    pairs = [(k, a) for s in o.steps for k, a in zip(s.drafted, s.accepted)]
    assert any(a < k for k, a in pairs) and any(a > 0 for k, a in pairs)      # rows disagree within a pass


def test_left_padded_tensor_input(models):
    target, _ = models
    T = max(map(len, PROMPTS))
    ids = torch.tensor([[0] * (T - len(p)) + p for p in PROMPTS])
    mask = torch.arange(T)[None] >= torch.tensor([T - len(p) for p in PROMPTS])[:, None]
    o = batch_speculative_generate(target, ids, PromptLookupDrafter(k=3), max_new_tokens=10, attention_mask=mask.long(), eos_token_id=None)
    assert [s.tolist() for s in o.sequences] == [_alone(target, p, 10) for p in PROMPTS]
