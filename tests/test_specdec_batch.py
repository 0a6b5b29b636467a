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


# Sampling with trees in a batch: the twin of notebook 44b's chi-square check, with fewer samples. An 8-token random target, two
# prompts (lengths 3 and 5) alternating over 16 rows, a fixed 5-node tree per row from a random bigram table, temperature 0.8,
# top-k 6, top-p 0.9, 3 new tokens; each prompt's counts against the exact law of its 3-token continuations (per-position
# marginals and the joint, Bonferroni-adjusted). The control breaks the tree mask (a node sees its siblings): 80 samples already
# give p = 0 on the joint (continuations outside the law's support), so these sample sizes tell the two apart.
PR8, SAMP = [[1, 5, 2], [4, 6, 1, 5, 3]], dict(temperature=0.8, top_k=6, top_p=0.9)


def _batch_tree_pvalue(tgt, calls, seed, rows=16, n_tok=3):
    from lmpapers.specdec.generate import exact_sequence_law, chi2_gof, BigramTableDrafter
    laws = [exact_sequence_law(tgt, torch.tensor(p), n_tok, **SAMP) for p in PR8]
    counts, acc, passes = [torch.zeros([8] * n_tok) for _ in PR8], 0, 0
    g, dr, batch = torch.Generator().manual_seed(seed), BigramTableDrafter(8, 'tree', seed=7), [PR8[i % 2] for i in range(rows)]
    for _ in range(calls):
        o = batch_speculative_generate(tgt, batch, dr, n_tok, eos_token_id=None, generator=g, **SAMP)
        for i, s in enumerate(o.sequences): counts[i % 2][tuple(s[len(batch[i]):].tolist())] += 1
        acc += sum(sum(s.accepted) for s in o.steps); passes += sum(s.rows for s in o.steps)
    others = lambda j: tuple(k for k in range(n_tok) if k != j)
    pv = [chi2_gof(c.sum(others(j)), l.sum(others(j)))[2] for c, l in zip(counts, laws) for j in range(n_tok)]
    pv += [chi2_gof(c, l)[2] for c, l in zip(counts, laws)]
    return min(1.0, len(pv) * min(pv)), acc / passes


def test_batched_tree_sampling_is_lossless_and_the_test_sees_a_broken_mask(monkeypatch):
    import lmpapers.specdec.batch as B
    from lmpapers.specdec.drafters import DraftTree
    torch.set_num_threads(1)
    tgt = build_model(model_config(vocab_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                   num_key_value_heads=1, head_dim=16, initializer_range=0.2), seed=0).eval()
    pv, acc = _batch_tree_pvalue(tgt, 15, seed=1)                 # 240 samples, 120 per prompt
    assert pv > 0.01 and acc > 0.1, (pv, acc)                     # level 0.01; drafts are accepted (and rejected: the tree has siblings)
    good = B.batch_tree_mask
    monkeypatch.setattr(B, 'batch_tree_mask', lambda mask, trees, K, dtype: good(mask, [DraftTree.chain(t.tokens) for t in trees], K, dtype))
    bad, _ = _batch_tree_pvalue(tgt, 5, seed=2)
    assert bad < 1e-4, bad
