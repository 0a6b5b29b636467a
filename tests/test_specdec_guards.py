"""Speculative decoding at its boundaries: target and drafters in different dtypes still give the target's greedy
output; a failing drafter raises unless a fallback is asked for (then it warns once and is counted); bad inputs give a
clear TypeError/ValueError; the block drafter object needs an explicit mask id (distillation picks a spare row or adds one)."""
import copy, warnings
import pytest
import torch
from lmpapers.core.models import model_config, build_model
from lmpapers.specdec.drafters import DraftTree, Drafter, ModelDrafter, PromptLookupDrafter
from lmpapers.specdec.generate import speculative_generate
from lmpapers.specdec.block_diffusion import BlockDiffusionDrafter, choose_mask_id, init_from_target, mask_id_for, weights_fingerprint, tokenizer_fingerprint
from lmpapers.bastion.trees import TreeDrafter, fixed_budget_tree

V = 48
def _lm(seed, layers=2, vocab=V):
    cfg = model_config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=layers, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, initializer_range=0.2)
    return build_model(cfg, seed=seed).eval()

@pytest.fixture(scope='module')
def target(): return _lm(0)

def _ref(target, x, n):
    return target.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)

X = torch.tensor([[3, 7, 1, 9, 4, 7, 1, 9, 2]])

@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float64])
def test_drafters_in_another_dtype_keep_greedy_output(target, dtype):
    ref = _ref(target, X, 20)
    block = BlockDiffusionDrafter(init_from_target(target, 1).to(dtype), mask_token_id=V - 1, block=4)
    for dr in (ModelDrafter(_lm(1, 1).to(dtype), k=3), block, TreeDrafter(block, lambda lq: fixed_budget_tree(lq, 8), 'tree')):
        o = speculative_generate(target, X, dr, max_new_tokens=20, eos_token_id=None)
        assert o.sequences.tolist() == ref.tolist(), (dtype, dr.name)

def test_target_in_float64_with_float32_drafter():
    t64 = _lm(0).to(torch.float64)
    o = speculative_generate(t64, X, ModelDrafter(_lm(1, 1), k=3), max_new_tokens=16, eos_token_id=None)
    assert o.sequences.tolist() == _ref(t64, X, 16).tolist()

class _Flaky(ModelDrafter):
    def draft(self, ids):
        if len(ids) % 2 == 0: raise RuntimeError('drafter broke')
        return super().draft(ids)

def test_failing_drafter_raises_by_default(target):
    with pytest.raises(RuntimeError, match='drafter broke') as e:
        speculative_generate(target, X, _Flaky(_lm(1, 1), k=3), max_new_tokens=20, eos_token_id=None)
    part = e.value.partial[0].tolist()
    assert part == _ref(target, X, 20)[0, :len(part)].tolist()

def test_fallback_only_when_asked_warns_once_and_counts(target):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        o = speculative_generate(target, X, _Flaky(_lm(1, 1), k=3), max_new_tokens=20, eos_token_id=None, on_drafter_error='fallback')
    assert o.sequences.tolist() == _ref(target, X, 20).tolist()
    assert o.drafter_errors >= 2 and o.summary()['drafter_errors'] == o.drafter_errors
    assert len([x for x in w if 'drafter' in str(x.message)]) == 1
    with pytest.raises(ValueError, match='on_drafter_error'): speculative_generate(target, X, on_drafter_error='ignore')

class _Bad(Drafter):
    def __init__(self, out): self.out = out
    def draft(self, ids): return self.out

@pytest.mark.parametrize('bad, match', [(lambda: [1, 2], 'not a DraftTree'), (lambda: DraftTree.chain([V + 5]), 'outside the target')])
def test_drafter_output_is_checked(target, bad, match):
    with pytest.raises((TypeError, ValueError), match=match): speculative_generate(target, X, _Bad(bad()), max_new_tokens=4)

@pytest.mark.parametrize('ids, err, match', [
    ([[3, 4, 5]], TypeError, 'torch.Tensor'),                        # a list
    (torch.tensor([[3., 4., 5.]]), TypeError, 'integer'),            # float ids, not truncated
    (torch.tensor([[[3, 4, 5]]]), ValueError, '2-D'),                # [1, 1, T]
    (torch.tensor([[3, 4], [5, 6]]), ValueError, 'batch size'),      # batch 2
    (torch.tensor([[3, V]]), ValueError, 'vocabulary'),              # id >= vocab
    (torch.tensor([[3, -1]]), ValueError, 'negative'),
    (torch.zeros(1, 0, dtype=torch.long), ValueError, 'at least one token')])
def test_bad_prompts(target, ids, err, match):
    with pytest.raises(err, match=match): speculative_generate(target, ids, max_new_tokens=4)

def test_one_dimensional_prompt_is_one_sequence(target):
    assert speculative_generate(target, X[0], max_new_tokens=5, eos_token_id=None).sequences.tolist() == _ref(target, X, 5).tolist()

def test_drafter_vocabulary_must_match(target):
    with pytest.raises(ValueError, match='vocabulary'): speculative_generate(target, X, ModelDrafter(_lm(1, 1, vocab=V + 16)))
    with pytest.raises(TypeError, match='torch.Tensor'): PromptLookupDrafter().draft([1, 2, 3])
    with pytest.raises(ValueError, match='vocabulary'): ModelDrafter(_lm(1, 1)).draft(torch.tensor([1, V]))

class _Tok:
    "A tokenizer without a mask token."
    mask_token_id, name_or_path = None, 'no-mask'
    def __len__(self): return V - 8
    def get_vocab(self): return {f't{i}': i for i in range(V - 8)}

def test_block_drafter_mask_token(target):
    assert choose_mask_id(_Tok(), V) == V - 8 and choose_mask_id(_Tok(), V - 8) == V - 8   # a spare row, else a row past the vocabulary
    with pytest.raises(ValueError, match='has no mask token'): BlockDiffusionDrafter(init_from_target(target, 1), None, 4)
    assert mask_id_for(_Tok(), V, V - 3) == V - 3
    with pytest.raises(ValueError, match='mask_token_id'): mask_id_for(_Tok(), V, V)

def test_cache_key_fingerprints_are_content_keyed(target):
    t2 = copy.deepcopy(target)
    assert weights_fingerprint(t2) == weights_fingerprint(target)
    with torch.no_grad(): t2.model.layers[1].mlp.down_proj.weight[3, 5] += 0.5
    assert weights_fingerprint(t2) != weights_fingerprint(target)
    a, b = _Tok(), _Tok(); b.name_or_path = 'another-name'
    assert tokenizer_fingerprint(a) == tokenizer_fingerprint(b)           # the name does not matter
    b.get_vocab = lambda: {**_Tok().get_vocab(), 'extra': V - 8}
    assert tokenizer_fingerprint(a) != tokenizer_fingerprint(b)           # the vocabulary does
