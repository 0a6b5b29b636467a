"A pruned model is the same model after save/load on every supported architecture, or pruning is refused up front."
import tempfile, warnings
import pytest
import torch
import transformers as T
from lmpapers.core.models import decoder_layers
from lmpapers.gfa.importance import skip_layers
from lmpapers.gfa.pruning import remove_layers, prune
from lmpapers.gfa.tracking import GradTracker

pytestmark = pytest.mark.usefixtures('one_thread')   # see tests/conftest.py

B = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=6,
         pad_token_id=0, bos_token_id=1, eos_token_id=2)
MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16)
CONFIGS = {   # random-init HF architectures, several with index-dependent structure
    'llama': lambda: T.LlamaConfig(**B), 'qwen2': lambda: T.Qwen2Config(**B), 'qwen3': lambda: T.Qwen3Config(**B, head_dim=8),
    'mistral': lambda: T.MistralConfig(**B), 'phi3': lambda: T.Phi3Config(**B), 'olmo2': lambda: T.Olmo2Config(**B),
    'granite': lambda: T.GraniteConfig(**B), 'gemma2': lambda: T.Gemma2Config(**B, head_dim=8),
    'gemma3': lambda: T.Gemma3TextConfig(**B, head_dim=8),  # sliding/full pattern in layer_types
    'qwen2_moe_step2': lambda: T.Qwen2MoeConfig(**B, **MOE, shared_expert_intermediate_size=16, decoder_sparse_step=2),
    'qwen2_moe_mlp_only': lambda: T.Qwen2MoeConfig(**B, **MOE, shared_expert_intermediate_size=16, mlp_only_layers=[0, 4]),
    'qwen3_moe_step2': lambda: T.Qwen3MoeConfig(**B, **MOE, head_dim=8, decoder_sparse_step=2),
    'mixtral': lambda: T.MixtralConfig(**B, num_local_experts=4),
    'deepseek_v3_first2_dense': lambda: T.DeepseekV3Config(**B, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
        first_k_dense_replace=2, kv_lora_rank=8, q_lora_rank=8, qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8, n_group=1, topk_group=1),
    'gpt2': lambda: T.GPT2Config(vocab_size=96, n_embd=32, n_layer=6, n_head=4),
    'gpt_neox': lambda: T.GPTNeoXConfig(vocab_size=96, hidden_size=32, num_hidden_layers=6, num_attention_heads=4, intermediate_size=48),
    'opt': lambda: T.OPTConfig(vocab_size=96, hidden_size=32, num_hidden_layers=6, num_attention_heads=4, ffn_dim=48, word_embed_proj_dim=32),
}
X = torch.randint(3, 96, (2, 9), generator=torch.Generator().manual_seed(0))

def _model(name):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); return T.AutoModelForCausalLM.from_config(CONFIGS[name]()).eval()

def _roundtrip(p):
    with tempfile.TemporaryDirectory() as d:
        p.save_pretrained(d)
        q, info = T.AutoModelForCausalLM.from_pretrained(d, output_loading_info=True)
    return q.eval(), info

@pytest.mark.parametrize('name', CONFIGS)
@pytest.mark.parametrize('drop', [[1], [2, 3]])   # [1] shifts the parity of every later block
def test_pruned_model_survives_save_load(name, drop):
    m = _model(name)
    with torch.no_grad(), skip_layers(m, drop): ref = m(X).logits
    p = remove_layers(m, drop)
    q, info = _roundtrip(p)
    assert not (info['missing_keys'] or info['unexpected_keys'] or info['mismatched_keys']), info
    assert q.config.num_hidden_layers == 6 - len(drop) == len(decoder_layers(q))
    with torch.no_grad():
        torch.testing.assert_close(p(X).logits, ref, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(q(X).logits, ref, atol=1e-5, rtol=1e-4)

def test_moe_layout_rewritten_explicitly():
    p = remove_layers(_model('qwen2_moe_step2'), [1])        # old sparse blocks 1, 3, 5; dense 0, 2, 4
    assert (p.config.decoder_sparse_step, p.config.mlp_only_layers) == (1, [0, 1, 3])
    p = remove_layers(_model('deepseek_v3_first2_dense'), [0])
    assert p.config.first_k_dense_replace == 1

def test_index_dependent_architectures_refused_before_any_change():
    g = T.AutoModelForCausalLM.from_config(T.GPT2Config(vocab_size=96, n_embd=32, n_layer=4, n_head=4, scale_attn_by_inverse_layer_idx=True))
    with pytest.raises(ValueError, match='scale_attn_by_inverse_layer_idx'): remove_layers(g, [1], inplace=True)
    assert len(decoder_layers(g)) == 4 and g.config.n_layer == 4

def test_unknown_index_rule_caught_by_the_rebuild_check(monkeypatch):
    import lmpapers.gfa.pruning as P
    monkeypatch.setattr(P, '_carry_moe_layout', lambda cfg, keep, L: None)   # as if the rule were not known
    m = _model('qwen2_moe_step2')
    with pytest.raises(ValueError, match='depends on the layer index'): remove_layers(m, [1])
    assert len(decoder_layers(m)) == 6

def test_prune_takes_a_tracker():
    m = _model('llama')
    tr = GradTracker(m)
    m(X, labels=X).loss.backward(); tr.update(); m.zero_grad(set_to_none=True)
    (p1, l1), (p2, l2) = prune(m, 2, stats=tr), prune(m, 2, stats=tr.as_dict())
    assert l1 == l2 and p1.config.num_hidden_layers == 4
