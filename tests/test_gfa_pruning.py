"Layer removal returns working HF models across families; every pruning method runs through one API; bad input is refused."
import tempfile
import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache, MistralConfig
from lmpapers.core.models import model_config, build_model, decoder_layers
from lmpapers.gfa.importance import skip_layers
from lmpapers.gfa.pruning import remove_layers, select_layers, layer_ranking, prune, PRUNE_METHODS
from lmpapers.gfa.tracking import GradTracker
from lmpapers.gfa.cascadeformer import CascadeQwen3Config, cascade_config

pytestmark = pytest.mark.usefixtures('one_thread')   # see tests/conftest.py

SMALL = dict(vocab_size=128, num_hidden_layers=6, hidden_size=64, intermediate_size=96, head_dim=16,
             num_attention_heads=4, num_key_value_heads=2, initializer_range=0.2)

def _models():
    yield 'qwen3', build_model(model_config('tiny', 'qwen3', **SMALL), 0).eval()
    yield 'llama', build_model(model_config('tiny', 'llama', **SMALL), 1).eval()
    torch.manual_seed(2)
    yield 'mistral', AutoModelForCausalLM.from_config(MistralConfig(**SMALL, sliding_window=None, pad_token_id=1)).eval()
    c = cascade_config(model_config('tiny', 'qwen3', **SMALL), 'cascade', layer_repeats=[1, 1, 1, 1, 2, 2])
    torch.manual_seed(3)
    yield 'cascade', AutoModelForCausalLM.from_config(c).eval()

@pytest.mark.parametrize('name,model', list(_models()))
def test_remove_layers_gives_working_model(name, model):
    x = torch.randint(2, 128, (2, 9), generator=torch.Generator().manual_seed(0))   # independent of what ran before
    drop = [1, 3, 4]
    with torch.no_grad(), skip_layers(model, drop): ref = model(x).logits
    p = remove_layers(model, drop)
    assert len(decoder_layers(model)) == 6 and model.config.num_hidden_layers == 6   # caller's model untouched
    assert p.config.num_hidden_layers == 3 and len(decoder_layers(p)) == 3
    if getattr(p.config, 'layer_types', None) is not None: assert len(p.config.layer_types) == 3
    assert [b.self_attn.layer_idx for b in decoder_layers(p)] == [0, 1, 2]
    with torch.no_grad():
        torch.testing.assert_close(p(x).logits, ref, atol=1e-5, rtol=1e-4)
        # incremental decoding with the KV cache equals the full forward pass
        cache = DynamicCache(config=p.config)
        out1 = p(x[:, :5], cache=cache, use_cache=True).logits
        out2 = p(x[:, 5:], cache=cache, use_cache=True).logits
        torch.testing.assert_close(torch.cat([out1, out2], 1), ref, atol=1e-5, rtol=1e-4)
    kw = dict(max_new_tokens=10, min_new_tokens=10, do_sample=False, pad_token_id=1)
    g_cache = p.generate(x[:1], use_cache=True, **kw)
    assert torch.equal(g_cache, p.generate(x[:1], use_cache=False, **kw))
    assert g_cache.shape[1] == 19
    with tempfile.TemporaryDirectory() as d:
        p.save_pretrained(d)
        q = AutoModelForCausalLM.from_pretrained(d).eval()
        assert q.config.num_hidden_layers == 3
        with torch.no_grad(): torch.testing.assert_close(q(x).logits, ref, atol=1e-5, rtol=1e-4)
        assert torch.equal(q.generate(x[:1], **kw), g_cache)

def test_inplace_and_bad_input():
    m = build_model(model_config('tiny', **SMALL), 0)
    with pytest.raises(ValueError, match='duplicates'): remove_layers(m, [2, 2])
    with pytest.raises(ValueError, match='out of range'): remove_layers(m, [-1])
    with pytest.raises(ValueError, match='at least one must remain'): remove_layers(m, list(range(6)))
    with pytest.raises(TypeError, match='must be ints'): remove_layers(m, [1.0])
    with pytest.raises(TypeError, match='cannot find the decoder layers'): remove_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)), [0])
    with pytest.raises(ValueError, match='k must be an int'): select_layers(m, 6, 'deepest')
    with pytest.raises(ValueError, match='none were collected'): select_layers(m, 1, 'cascadeflow')
    with pytest.raises(ValueError, match='no gradient statistics were collected'): select_layers(m, 1, 'cascadeflow', stats=GradTracker(m).as_dict())
    p = remove_layers(m, [0], inplace=True)
    assert p is m and m.config.num_hidden_layers == 5

def test_every_method_one_api():
    m = build_model(model_config('tiny', **SMALL), 0).eval()
    calib = torch.randint(2, 128, (4, 16))
    tr = GradTracker(m)
    m(calib, labels=calib).loss.backward(); tr.update(); m.zero_grad(set_to_none=True)
    for meth in PRUNE_METHODS:
        for k in (1, 3):
            layers = select_layers(m, k, meth, calib, tr.as_dict(), seed=0)
            assert len(layers) == k == len(set(layers)) and all(0 <= i < 6 for i in layers), (meth, layers)
            if meth in ('angular', 'streamline'): assert layers == list(range(layers[0], layers[0] + k))
            if meth == 'taylor_plus': assert 0 not in layers and 5 not in layers
        r = layer_ranking(m, meth, calib, tr.as_dict())
        assert sorted(r) == list(range(6)), meth
    assert select_layers(m, 2, 'deepest') == [4, 5]
    pm, layers = prune(m, 2, 'sleb', calib)
    assert pm.config.num_hidden_layers == 4 and m.config.num_hidden_layers == 6
