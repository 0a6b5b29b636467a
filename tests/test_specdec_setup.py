"""Speculative decoding on a user's setup: drafters run on their own model's device and dtype (every tensor handed to a
drafter model is checked by a hook; on a CUDA machine the same tests run with the drafter on the GPU); targets and
drafters with sliding-window attention layers (Mistral, Qwen2 with use_sliding_window, Gemma-2, Gemma-3) reproduce
`generate` exactly with chains, trees and rejected drafts, and chunked attention is refused up front; the block
drafter distils on the user's own texts (a list of strings or a `datasets` Dataset, the same rows either way) and
adds a mask row to its own embeddings when the tokenizer has neither a mask token nor a spare row."""
import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, MistralConfig, Qwen2Config, Gemma2Config, Gemma3TextConfig, Llama4TextConfig
from lmpapers.core.models import model_config, build_model
from lmpapers.specdec.drafters import DraftTree, Drafter, ModelDrafter, PromptLookupDrafter
from lmpapers.specdec.generate import speculative_generate
from lmpapers.specdec.block_diffusion import BlockDiffusionDrafter, DrafterConfig, block_drafter, distill_block_drafter, init_from_target
from lmpapers.bastion.trees import TreeDrafter, fixed_budget_tree

V = 64
KW = dict(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=2, head_dim=16, initializer_range=0.2, sliding_window=4)
SLIDING = {'mistral': lambda: MistralConfig(**KW),
           'qwen2': lambda: Qwen2Config(use_sliding_window=True, max_window_layers=1, **KW),
           'gemma2': lambda: Gemma2Config(**KW),
           'gemma3': lambda: Gemma3TextConfig(sliding_window_pattern=2, **KW)}
X = torch.randint(0, V, (1, 9), generator=torch.Generator().manual_seed(2))

def _from(cfg, seed=0):
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg).eval()

def _ref(m, x, n):
    return m.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)

class _RandomDrafts(Drafter):
    "Mostly rejected random drafts: every step crops the cache back."
    def __init__(self, tree): self.vocab_size, self.tree, self.g = V, tree, torch.Generator().manual_seed(1)
    def draft(self, ids):
        t = torch.randint(0, V, (5,), generator=self.g)
        return DraftTree(t, [-1, -1, 0, 1, 2]) if self.tree and t[0] != t[1] else DraftTree.chain(t)

@pytest.mark.parametrize('arch', list(SLIDING))
def test_sliding_window_targets_are_exact(arch):
    m = _from(SLIDING[arch]())
    ref = _ref(m, X, 30)                                     # 39 tokens against a window of 4: the window matters
    for tree in (False, True):
        assert speculative_generate(m, X, _RandomDrafts(tree), max_new_tokens=30, eos_token_id=None).sequences.tolist() == ref.tolist()
    # model drafters that themselves have sliding-window layers (their caches are cropped after every rejection)
    small = _from(SLIDING[arch](), seed=1)
    block = BlockDiffusionDrafter(init_from_target(m, 1), mask_token_id=V - 1, block=4)
    for dr in (ModelDrafter(small, k=3), block, TreeDrafter(block, lambda lq: fixed_budget_tree(lq, 8), 'tree')):
        assert speculative_generate(m, X, dr, max_new_tokens=30, eos_token_id=None).sequences.tolist() == ref.tolist(), dr.name

def test_sliding_window_sampling_is_reproducible_and_in_vocabulary():
    m = _from(SLIDING['qwen2']())
    outs = [speculative_generate(m, X, _RandomDrafts(True), max_new_tokens=20, temperature=0.7, eos_token_id=None,
                                 generator=torch.Generator().manual_seed(5)).sequences for _ in range(2)]
    assert torch.equal(outs[0], outs[1]) and outs[0].shape == (1, 29)

def test_chunked_attention_is_refused_up_front():
    cfg = Llama4TextConfig(vocab_size=V, hidden_size=64, intermediate_size=128, intermediate_size_mlp=128, num_hidden_layers=4,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=16, attention_chunk_size=4)
    with pytest.raises(NotImplementedError, match='chunked_attention'):
        speculative_generate(_from(cfg), X, PromptLookupDrafter(), max_new_tokens=4)

def _lm(seed, layers=2):
    cfg = model_config(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=layers, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, initializer_range=0.2)
    return build_model(cfg, seed=seed).eval()

def _watch(model):
    "Record (device, dtype) of every floating tensor and the device of every integer tensor handed to `model`'s forward."
    seen = []
    def hook(mod, args, kwargs):
        for v in list(args) + list(kwargs.values()):
            if isinstance(v, torch.Tensor): seen.append((v.device, v.dtype if v.is_floating_point() else None))
    model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])

@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float64])
def test_drafters_follow_their_models_device_and_dtype(device, dtype):
    target = _lm(0)                                          # float32 target on the CPU
    ref = _ref(target, X, 16)
    small = _lm(1, 1).to(device=device, dtype=dtype)
    bmodel = init_from_target(target, 1).to(device=device, dtype=dtype)
    for model, dr in ((small, ModelDrafter(small, k=3)), (bmodel, BlockDiffusionDrafter(bmodel, mask_token_id=V - 1, block=4))):
        seen = _watch(model)
        assert speculative_generate(target, X, dr, max_new_tokens=16, eos_token_id=None).sequences.tolist() == ref.tolist()
        assert seen and all(d.type == torch.device(device).type for d, _ in seen), seen[:3]
        assert all(t in (None, dtype) for _, t in seen), {t for _, t in seen}   # the block mask comes in the drafter's dtype

class _CharTok:
    "A tokenizer with no mask token whose ids fill every embedding row (1 + ord % (V-1), EOS 0)."
    mask_token_id, eos_token_id, name_or_path = None, 0, 'chars'
    def __len__(self): return V
    def __call__(self, texts): return {'input_ids': [[1 + ord(c) % (V - 1) for c in t] for t in texts]}

TEXTS = ['the quick brown fox jumps over the lazy dog ' * 3, 'def f(x):\n    return x + 1\n' * 4, 'lorem ipsum dolor sit amet ' * 5]

def test_distillation_on_user_texts_and_an_added_mask_row():
    target = _lm(0)
    cfg = DrafterConfig(block=4, layers=1, steps=3, batch_size=4, window=16, min_prefix=4)
    a, _ = distill_block_drafter(target, _CharTok(), cfg, texts=TEXTS)
    b, _ = distill_block_drafter(target, _CharTok(), cfg, texts=Dataset.from_dict({'text': TEXTS}))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))   # same rows, same drafter
    assert a.get_input_embeddings().weight.shape[0] == V + 1 and target.get_input_embeddings().weight.shape[0] == V   # row added to the drafter only
    dr = block_drafter(target, _CharTok(), cfg, texts=TEXTS, cache=False)
    assert (dr.mask_id, dr.vocab_size, dr.marginals(X[0]).shape) == (V, V, (4, V))
    assert speculative_generate(target, X, dr, max_new_tokens=16, eos_token_id=None).sequences.tolist() == _ref(target, X, 16).tolist()
    with pytest.raises(TypeError, match='list of strings'): distill_block_drafter(target, _CharTok(), cfg, texts='one string')
    with pytest.raises(ValueError, match="no 'text' column"): distill_block_drafter(target, _CharTok(), cfg, texts=Dataset.from_dict({'x': TEXTS}))
