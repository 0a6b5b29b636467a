"""The memory-bound target (nbs/bastion/48): neuron splitting keeps the function (Qwen3 and Llama), bf16 row-major linears
round a row the same alone or in a batch, so speculative decoding over the grown target is exactly its own greedy decoding;
the original model is left untouched and bad input is refused. Its speed is measured by the BASTION experiment
(`membound_*` results), not here."""
import pytest
import torch
import torch.nn as nn
from transformers import GPT2Config, GPT2LMHeadModel
from lmpapers.core.guards import fork_rng
from lmpapers.core.models import model_config, build_model
from lmpapers.specdec.generate import speculative_generate
from lmpapers.bastion.conditioned import ConditionedBlockDrafter, net_for
from lmpapers.bastion.trees import TreeDrafter, BastionDrafter, MeasuredLatency, fixed_budget_tree
from lmpapers.bastion.memory_bound import widen_mlp, Bf16Linear, bf16_linears, memory_bound_target
from lmpapers.bastion.experiment import speedup_interval

def _target(arch='qwen3', seed=0, V=64):
    cfg = model_config(arch=arch, vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2,
                       num_key_value_heads=1, head_dim=16, initializer_range=0.2)
    return build_model(cfg, seed=seed).eval()

@pytest.mark.parametrize('arch', ['qwen3', 'llama'])
def test_neuron_splitting_keeps_the_function(arch):
    small = _target(arch)
    before = {k: v.clone() for k, v in small.state_dict().items()}
    wide = widen_mlp(small, 5)
    x = torch.randint(0, 64, (2, 17))
    with torch.no_grad(): a, b = small(x).logits, wide(x).logits
    assert torch.allclose(a, b, atol=1e-4) and (a - b).abs().max() < 1e-4
    assert all(l.mlp.gate_proj.out_features == 48 * 5 and l.mlp.down_proj.in_features == 48 * 5 for l in wide.model.layers)
    assert wide.config.intermediate_size == 240
    assert all(torch.equal(before[k], v) for k, v in small.state_dict().items())          # the original is untouched
    assert small.config.intermediate_size == 48

def test_a_row_alone_equals_the_row_in_a_batch():
    torch.manual_seed(0)
    lin = nn.Linear(40, 24, bias=True)
    b = Bf16Linear(lin)
    x = torch.randn(3, 7, 40)
    y = b(x)
    assert y.shape == (3, 7, 24) and y.dtype == torch.float32
    alone = torch.stack([torch.stack([b(x[i, j]) for j in range(7)]) for i in range(3)])   # 1-row inputs take the 2-row path
    assert torch.equal(alone, y)
    ref = nn.functional.linear(x.bfloat16().float(), lin.weight.bfloat16().float(), lin.bias)
    scale = x.bfloat16().float().abs() @ lin.weight.bfloat16().float().abs().t()   # the sum of |terms| of each output
    assert ((y - ref).abs() <= 2**-7 * scale + 1e-6).all()                      # within two bf16 roundings of the exact product
    assert (y - lin(x)).abs().max() > 1e-4                                      # control: bf16 rounding does change the outputs
    assert not b.weight_t.requires_grad and b.weight_t.dtype == torch.bfloat16 and b.weight_t.shape == (40, 24)

def test_bf16_linears_replace_decoder_linears_only():
    t = _target()
    m = bf16_linears(t)
    assert sum(isinstance(x, Bf16Linear) for x in m.modules()) == 3 * 7
    assert isinstance(m.lm_head, nn.Linear) and not isinstance(m.lm_head, Bf16Linear)
    assert not any(isinstance(x, Bf16Linear) for x in t.modules())             # a copy unless inplace

def test_speculative_decoding_over_the_memory_bound_target_is_its_greedy_decoding():
    t = _target(seed=1)
    big = memory_bound_target(t, factor=4)
    assert not any(p.requires_grad for p in big.parameters())
    with fork_rng(0): dr = ConditionedBlockDrafter(net_for(big, 2, 1, 4), big, (1, 2))
    x = torch.tensor([3, 9, 4, 1, 7, 7, 2, 30, 5])
    ref = big.generate(x[None], attention_mask=torch.ones(1, len(x), dtype=torch.long), max_new_tokens=24, do_sample=False,
                       pad_token_id=1, eos_token_id=None)
    flat = MeasuredLatency({n: 1.0 for n in (1, 8, 32)})
    for d in (dr, TreeDrafter(dr, lambda lq: fixed_budget_tree(lq, 12), 'ddtree'), BastionDrafter(dr, flat, max_nodes=16)):
        o = speculative_generate(big, x, d, max_new_tokens=24, eos_token_id=None)
        assert o.sequences.tolist() == ref.tolist()
        assert o.target_calls < 24 or d is dr                                   # trees accept something even from a random drafter

def test_bad_input_is_refused():
    t = _target()
    with pytest.raises(ValueError, match='integer >= 1'): widen_mlp(t, 0)
    with pytest.raises(ValueError, match='integer >= 1'): widen_mlp(t, 2.0)
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=32, n_positions=16))
    with pytest.raises(TypeError, match='no gated MLP'): widen_mlp(gpt2, 2)
    with pytest.raises(TypeError, match='decoder layers'): widen_mlp(nn.Linear(2, 2), 2)
    with pytest.raises(TypeError, match='nn.Linear'): Bf16Linear(nn.Conv1d(2, 2, 1))

def test_speedup_interval():
    rows = [dict(method=m, prompt=p, wall=w, new=10) for p in range(6) for m, w in (('ar', 1.0 + 0.1 * p), ('x', 0.5 + 0.05 * p))]
    lo, hi = speedup_interval(rows, 'x')
    assert abs(lo - 2.0) < 1e-9 and abs(hi - 2.0) < 1e-9                       # twice as fast on every prompt: no spread
    rows += [dict(method='y', prompt=p, wall=(0.25 if p % 2 else 1.0) * (1.0 + 0.1 * p), new=10) for p in range(6)]
    lo, hi = speedup_interval(rows, 'y')
    assert 1.0 < lo < hi < 4.0
