"""The target-conditioned block drafter (nbs/bastion/47): shapes, the context mask, dtype and device, the target states
it gets from the prefill and verification passes only (no extra target pass), exact greedy decoding with its chain and
the trees over it, a bit-exact rebuild from its config, distillation on a user's texts, and bad input refused."""
import pytest
import torch
from lmpapers.core.guards import fork_rng, num_threads
from lmpapers.core.models import model_config, build_model
from lmpapers.core.train import pretrained_lm
from lmpapers.specdec.generate import speculative_generate
from lmpapers.bastion.conditioned import (ConditionedBlockDrafter, CondConfig, net_for, conditioned_drafter, greedy_continuations,
                                          _distill_conditioned)
from lmpapers.bastion.trees import TreeDrafter, BastionDrafter, MeasuredLatency, fixed_budget_tree

def _target(V=64, layers=3, seed=0):
    cfg = model_config(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=2,
                       num_key_value_heads=1, head_dim=16, initializer_range=0.2)
    return build_model(cfg, seed=seed).eval()

@pytest.fixture(scope='module')
def toy():
    tgt = _target()
    with fork_rng(0): dr = ConditionedBlockDrafter(net_for(tgt, 2, 1, 5), tgt, (1, 2))
    return tgt, dr

def test_shapes_dtype_and_device(toy):
    tgt, dr = toy
    lq = dr.marginals(torch.tensor([1, 2, 3, 4]))
    assert lq.shape == (5, 64) and lq.dtype == torch.float32 and lq.device == next(tgt.parameters()).device
    assert torch.allclose(lq.exp().sum(-1), torch.ones(5), atol=1e-5)
    assert next(dr.net.parameters()).device == next(tgt.parameters()).device
    d16 = ConditionedBlockDrafter(net_for(tgt, 2, 1, 5), tgt, (1, 2), dtype=torch.bfloat16)
    assert next(d16.net.parameters()).dtype == torch.bfloat16 and d16.marginals(torch.tensor([1, 2, 3])).dtype == torch.float32
    tree = dr.draft(torch.tensor([1, 2, 3]))
    assert tree.is_chain and tree.n == 5 and tree.conf.shape == (5,)

def test_the_block_sees_only_the_context_before_it(toy):
    tgt, dr = toy
    a = dr.marginals(torch.tensor([5, 6, 7, 8, 9]))
    dr.reset(); dr.marginals(torch.tensor([5, 6, 7, 8, 9, 10, 11, 12]))    # holds states of a longer sequence
    assert torch.allclose(dr.marginals(torch.tensor([5, 6, 7, 8, 9])), a, atol=1e-5)
    dr.reset(); b = dr.marginals(torch.tensor([5, 6, 7, 1, 9]))             # an earlier context token differs
    assert not torch.allclose(a, b)

def test_states_come_from_the_target_passes_and_greedy_is_exact(toy):
    tgt, dr = toy
    x = torch.tensor([3, 7, 1, 9, 4, 4, 2, 11, 5, 8])
    ref = tgt.generate(x[None], max_new_tokens=30, do_sample=False, pad_token_id=0, eos_token_id=None)
    for d in (dr, TreeDrafter(dr, lambda lq: fixed_budget_tree(lq, 8), 'ddtree_8'),
              BastionDrafter(dr, MeasuredLatency({n: 1.0 for n in (1, 8, 16)}), max_nodes=10)):
        assert d.target_layers == (1, 2)
        o = speculative_generate(tgt, x, d, max_new_tokens=30, eos_token_id=None)
        assert o.sequences.tolist() == ref.tolist()
        assert dr.extra_target_tokens == 0 and len(dr._ids) == o.sequences.shape[1] - 1
        assert torch.equal(dr._ids, o.sequences[0, :-1])
    eos = int(ref[0, len(x) + 6])                                            # stops at an EOS inside an accepted path
    o = speculative_generate(tgt, x, dr, max_new_tokens=30, eos_token_id=eos)
    assert o.sequences[0, -1].item() == eos and o.sequences.tolist()[0] == ref[0, :o.sequences.shape[1]].tolist()

def test_tiny_drafter_is_exact_and_drafts_well(one_thread):
    target, tok = pretrained_lm(progress=False)
    cond = conditioned_drafter(target, tok)
    x = tok('import os\nimport sys\n\ndef main(argv):\n    ', return_tensors='pt').input_ids
    ref = target.generate(x, max_new_tokens=40, do_sample=False, pad_token_id=tok.pad_token_id)
    o = speculative_generate(target, x, TreeDrafter(cond, lambda lq: fixed_budget_tree(lq, 32), 'ddtree_32'), max_new_tokens=40)
    assert o.sequences.tolist() == ref.tolist() and cond.extra_target_tokens == 0
    assert o.tau > 2.0, o.summary()

def test_rebuild_is_bit_exact_and_user_texts_work(one_thread):
    target, tok = pretrained_lm(progress=False)
    small = _target(V=target.config.vocab_size, layers=2)
    cfg = CondConfig(block=4, layers=1, rows=8, prompt_len=8, gen_len=8, steps=3, batch_size=2, anchors=2)
    texts = ['def add(a, b):\n    return a + b\n' * 3, 'The quick brown fox jumps over the lazy dog. ' * 4]
    a = conditioned_drafter(small, tok, cfg, texts=texts, cache=False)
    b = conditioned_drafter(small, tok, cfg, texts=texts, cache=False)
    for (k, v), (k2, v2) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    assert a.target_layers == (0, 1) and len(a.history['loss']) == 3
    for p in small.parameters(): assert p.requires_grad                      # the target is handed back as it was

def test_bad_input_is_refused(toy):
    tgt, dr = toy
    with pytest.raises(TypeError, match='CondNet'): ConditionedBlockDrafter(torch.nn.Linear(2, 2), tgt, (0,))
    with pytest.raises(ValueError, match=r'target_layers must be in \[0, 3\)'): ConditionedBlockDrafter(dr.net, tgt, (1, 5))
    with pytest.raises(ValueError, match='reads 2 target layers'): ConditionedBlockDrafter(dr.net, tgt, (1,))
    with pytest.raises(ValueError, match='hidden size'): ConditionedBlockDrafter(dr.net, build_model(model_config(
        vocab_size=64, hidden_size=48, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1, head_dim=24), seed=0), (1, 2))
    with pytest.raises(ValueError, match=r'states must be \[2, 64\]'): dr.target_states(torch.tensor([1, 2]), torch.zeros(3, 64))
    with pytest.raises(ValueError, match='vocab'): dr.marginals(torch.tensor([1, 99]))
    with pytest.raises(TypeError, match='CondConfig'): conditioned_drafter(tgt, None, cfg={'block': 4})
    with pytest.raises(TypeError, match='list of strings'): conditioned_drafter(tgt, None, texts=42)
    seqs = greedy_continuations(tgt, torch.tensor([[1, 2, 3, 4]]), 4)
    with pytest.raises(ValueError, match='min_context'):
        _distill_conditioned(tgt, seqs, CondConfig(block=4, prompt_len=6, steps=1), (0,))
