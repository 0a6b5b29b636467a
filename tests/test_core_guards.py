"Core library calls leave the caller's world as they found it, refuse bad input at the boundary, and say in one line what a scale lacks."
import logging, os, random
import numpy as np
import pytest
import torch
from lmpapers.core.guards import check_token_ids, keep_model_state, fork_rng, num_threads, to_model
from lmpapers.core.models import build_model, model_config
from lmpapers.core.train import TrainConfig, train, evaluate_loss
from lmpapers.core.scales import ScaleUnavailable, load_lm, load_text, quiet, smoke_config

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16)

def rng_states():
    return torch.get_rng_state().clone(), np.random.get_state()[1].copy(), random.getstate()

def same_rng(a, b): return torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]

def test_build_train_and_smoke_load_leave_global_rng_and_threads_alone():
    torch.manual_seed(123); before, threads = rng_states(), torch.get_num_threads()
    m = build_model(model_config(vocab_size=300, **TINY), seed=5)
    rows = torch.randint(0, 300, (8, 16), generator=torch.Generator().manual_seed(0))
    train(m, rows, rows[:2], TrainConfig(steps=2, batch_size=4, seq_len=16, eval_every=1), progress=False)
    load_lm('Qwen/Qwen3-0.6B', smoke=True, layers=1)
    assert same_rng(before, rng_states()) and torch.get_num_threads() == threads

def test_model_state_context_restores_grads_flags_and_mode():
    m = build_model(model_config(vocab_size=300, **TINY)); m.eval()
    first = next(m.parameters()); first.requires_grad_(False)
    with keep_model_state(m):
        for p in m.parameters(): p.requires_grad_(True)
        m.train(); m(torch.tensor([[1, 2, 3]])).logits.sum().backward()
    assert not first.requires_grad and all(p.grad is None for p in m.parameters()) and not m.training

def test_figures_leave_the_matplotlib_backend_alone():
    import matplotlib
    from lmpapers.core.results import new_figure
    b = matplotlib.get_backend(); new_figure(1, 2)[0].savefig(os.devnull, format='png')
    assert matplotlib.get_backend() == b

def test_quiet_restores_library_logging():
    import transformers
    transformers.logging.set_verbosity_info(); acc = logging.getLogger('accelerate'); acc.setLevel(logging.DEBUG)
    with quiet(): assert transformers.logging.get_verbosity() == transformers.logging.ERROR
    assert transformers.logging.get_verbosity() == transformers.logging.INFO and acc.level == logging.DEBUG
    transformers.logging.set_verbosity_warning(); acc.setLevel(logging.NOTSET)

@pytest.mark.parametrize('rows,err,msg', [
    ([[1, 2, 3]], TypeError, 'torch.Tensor'), (torch.ones(4, 16), TypeError, 'integer token ids'),
    (torch.ones(16, dtype=torch.long), ValueError, 'add a batch axis'), (torch.full((4, 16), 300), ValueError, 'vocabulary has 300')])
def test_training_and_evaluation_refuse_bad_token_rows(rows, err, msg):
    m = build_model(model_config(vocab_size=300, **TINY))
    with pytest.raises(err, match=msg): train(m, rows, cfg=TrainConfig(steps=1, batch_size=1, seq_len=16), progress=False)
    with pytest.raises(err, match=msg): evaluate_loss(m, rows)

def test_inputs_follow_the_model_dtype():
    m = build_model(model_config(vocab_size=300, **TINY)).to(torch.float64)
    assert to_model(torch.zeros(2), m).dtype == torch.float64 and to_model(torch.zeros(2, dtype=torch.long), m).dtype == torch.long

def test_tokenizer_without_cache_builds():
    from lmpapers.core.tokenizer import train_tokenizer
    tok = train_tokenizer(vocab_size=400, max_chars=50_000, cache=False)
    assert len(tok) == 400 and tok.decode(tok('def f(): pass')['input_ids']) == 'def f(): pass'

def test_missing_checkpoint_and_dataset_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    import datasets.config, huggingface_hub.constants                      # both read the variable at import: set their flags too
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True); monkeypatch.setattr(datasets.config, 'HF_HUB_OFFLINE', True)
    with pytest.raises(ScaleUnavailable, match='hf download nobody/none'): load_lm('nobody/none')
    with pytest.raises(ScaleUnavailable, match='not available here'): load_text('nobody/no-such-dataset')
    with pytest.raises(ScaleUnavailable, match='pass --data'): load_text(min_tokens=10**9)
    with pytest.raises(ScaleUnavailable, match='not known offline'): smoke_config('nobody/none')

def test_local_text_files_and_checkpoints_load(tmp_path):
    import pandas as pd
    pd.DataFrame(dict(body=[f'document {i}' for i in range(50)])).to_parquet(tmp_path/'part.parquet')
    ds = load_text(str(tmp_path), text_column='body')
    assert ds['train'].column_names == ['text'] and len(ds['train']) + len(ds['validation']) == 50
    m, tok = load_lm('Qwen/Qwen3-0.6B', smoke=True, layers=1, dtype=torch.bfloat16)
    assert m.config.hidden_size == 1024 and m.config.vocab_size == 151936 and next(m.parameters()).dtype == torch.bfloat16
