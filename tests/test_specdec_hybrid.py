"""Hybrid linear-attention targets (Qwen3-Next, Qwen3.5) decode exactly: the recurrent state is snapshotted before each
verification pass and restored and replayed on rejection (chains), trees are scored one path per batch row; families whose
recurrent rollback is unchecked are refused before decoding, naming the layer kind."""
import copy, warnings
import pytest
import torch
from transformers import Lfm2Config, Qwen3NextConfig
from transformers.models.qwen3_5 import Qwen3_5TextConfig
from lmpapers.core.models import build_model
from lmpapers.specdec.drafters import DraftTree, Drafter, ModelDrafter
from lmpapers.specdec.generate import speculative_generate

warnings.filterwarnings('ignore', message='.*falling back to its reference PyTorch.*')
V = 64
HEADS = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
             linear_num_key_heads=2, linear_num_value_heads=2, linear_key_head_dim=16, linear_value_head_dim=16, initializer_range=0.2,
             vocab_size=V, pad_token_id=0, eos_token_id=1, bos_token_id=1)
ARCHS = {'qwen3_next': lambda: Qwen3NextConfig(layer_types=['linear_attention', 'full_attention'] * 2, num_experts=0, **HEADS),
         'qwen3_5': lambda: Qwen3_5TextConfig(layer_types=['linear_attention'] * 3 + ['full_attention'], **HEADS)}


def _noisy(m, sigma, seed=1):
    d, g = copy.deepcopy(m), torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for q in d.parameters(): q.add_(sigma * torch.randn(q.shape, generator=g))
    return d


class _Top2Chains(Drafter):
    "The drafter model's top-2 first tokens, a greedy chain of 2 under each."
    name = 'top2'
    def __init__(self, lm): self.lm, self.vocab_size = lm, lm.config.vocab_size
    @torch.no_grad()
    def draft(self, ids):
        toks, pars = [], []
        for t in self.lm(ids[None]).logits[0, -1].topk(2).indices.tolist():
            g = self.lm.generate(torch.cat([ids, torch.tensor([t])])[None], max_new_tokens=2, do_sample=False, pad_token_id=0)[0, -2:]
            toks += [t] + g.tolist(); k = len(pars); pars += [-1, k, k + 1]
        return DraftTree(toks, pars)


@pytest.mark.parametrize('arch, kind', [('qwen3_next', 'chain'), ('qwen3_5', 'chain'), ('qwen3_5', 'tree')])
def test_hybrid_targets_are_exact_with_rejections(arch, kind):
    target = build_model(ARCHS[arch](), seed=0).eval()
    x = torch.tensor([[3, 7, 1, 9, 4, 7, 1, 9, 2]])
    ref = target.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=16, do_sample=False, eos_token_id=None, pad_token_id=0)
    dm = _noisy(target, 0.005)
    dr = ModelDrafter(dm, k=4) if kind == 'chain' else _Top2Chains(dm)
    o = speculative_generate(target, x, dr, max_new_tokens=16, eos_token_id=None)
    assert o.sequences.tolist() == ref.tolist()
    assert any(s.accepted < s.drafted for s in o.steps) and any(s.accepted > 0 for s in o.steps)


def test_unchecked_recurrent_families_are_refused_up_front():
    lfm = build_model(Lfm2Config(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, layer_types=['conv', 'full_attention'], pad_token_id=0, eos_token_id=1), 0).eval()
    with pytest.raises(NotImplementedError, match="model type 'lfm2'. has conv layers"):
        speculative_generate(lfm, torch.tensor([[3, 7, 1]]), max_new_tokens=4)


# Sampling: the twin of notebook 42a's slow chi-square check, with fewer samples. A random 2-layer Qwen3.5 (one linear-attention
# layer, one full-attention layer) over 8 tokens, so the exact law of 2-token continuations at temperature 0.8, top-k 6, top-p 0.9
# is enumerated; a sampled bigram chain is rejected in most rounds, so most samples go through a restore-and-replay. The control
# (replay switched off: the drafts stay in the recurrent state) is rejected: 60 samples gave p = 4e-7 on the second token and 0 on
# the joint (tokens outside the law's support), so these sample sizes tell the two apart.
def _hybrid8():
    cfg = Qwen3_5TextConfig(vocab_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                            num_key_value_heads=1, head_dim=16, layer_types=['linear_attention', 'full_attention'], linear_num_key_heads=2,
                            linear_num_value_heads=2, linear_key_head_dim=16, linear_value_head_dim=16, initializer_range=0.2,
                            pad_token_id=0, eos_token_id=1, bos_token_id=1)
    return build_model(cfg, seed=0).eval()


def _sampled_pvalue(tgt, n, seed, n_tok=2):
    from lmpapers.specdec.generate import exact_sequence_law, chi2_gof, BigramTableDrafter
    prompt = torch.tensor([1, 5, 2]); law = exact_sequence_law(tgt, prompt, n_tok, 0.8, 6, 0.9)
    dr, g, counts, replays = BigramTableDrafter(8, 'chain', seed=7), torch.Generator().manual_seed(seed), torch.zeros([8] * n_tok), 0
    for _ in range(n):
        o = speculative_generate(tgt, prompt, dr, n_tok, 0.8, 6, 0.9, eos_token_id=None, generator=g)
        counts[tuple(o.sequences[0, 3:].tolist())] += 1; replays += sum(s.accepted < s.drafted for s in o.steps[:-1])
    pv = [chi2_gof(counts.sum(1), law.sum(1))[2], chi2_gof(counts.sum(0), law.sum(0))[2], chi2_gof(counts, law)[2]]
    return min(1.0, 3 * min(pv)), replays


def test_hybrid_sampling_is_lossless_and_the_test_sees_a_missing_rollback(monkeypatch):
    import lmpapers.specdec.generate as G
    from lmpapers.specdec.recurrent import crop_attention
    torch.set_num_threads(1)
    tgt = _hybrid8()
    pv, replays = _sampled_pvalue(tgt, 100, seed=11)
    assert replays > 50 and pv > 0.01                         # a rollback before the second token in most samples; Bonferroni-adjusted, level 0.01
    monkeypatch.setattr(G, 'replay', lambda model, cache, P, snap, tokens: crop_attention(cache, P + len(tokens)))
    bad, _ = _sampled_pvalue(tgt, 40, seed=12)
    assert bad < 1e-4, bad
