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
