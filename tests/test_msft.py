"mSFT: a search killed with SIGKILL resumes to the same result; bad input gives clear errors."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from datasets import Dataset, DatasetDict
from lmpapers.msft.data import SubDataset, tiny_mixture, encode
from lmpapers.msft.msft import MSFTConfig, msft, run_spec
from lmpapers.msft.rollout import StagedSampler, WeightedSampler

MODEL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=1, num_key_value_heads=1, head_dim=32)

def _spec(d, name):
    sp = dict(data_seed=0, seq_len=40, model=MODEL, model_seed=0, run_dir=str(Path(d)/name),
              cfg=dict(budget=0.5, lr=1e-2, max_rounds=2, seed=0))
    p = Path(d)/f'{name}.json'; p.write_text(json.dumps(sp)); return p

def _launch(spec):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.Popen([sys.executable, '-c', f'from lmpapers.msft.msft import run_spec; run_spec({str(spec)!r})'], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

def test_sigkill_resume_identical(tmp_path):
    whole = run_spec(_spec(tmp_path, 'whole'))
    assert len(whole['excluded']) >= 1
    spec = _spec(tmp_path, 'killed'); run = Path(tmp_path)/'killed'
    p = _launch(spec)
    t0 = time.time()
    while time.time() - t0 < 120:   # kill once the second round has written a checkpoint of core's loop
        if (run/'round-1'/'train'/'last').exists(): break
        if p.poll() is not None: pytest.fail(f"the run ended before it could be killed: {p.stderr.read().decode()[-500:]}")
        time.sleep(0.05)
    else: pytest.fail('the second round never started')
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (run/'summary.json').exists()
    st = json.loads((run/'state.json').read_text())
    assert st['round'] == 1 and not st['done']
    again = run_spec(spec)
    assert again == whole

def test_bad_input():
    mix = tiny_mixture()
    s = mix[0].splits
    with pytest.raises(ValueError, match="no 'validation' split"): SubDataset('x', DatasetDict(train=s['train'], test=s['test']))
    with pytest.raises(ValueError, match="'train' split is empty"):
        SubDataset('x', DatasetDict(train=s['train'].select([]), validation=s['validation'], test=s['test']))
    for c in (0, -1, 0.0):
        with pytest.raises(ValueError, match='budget C must be a positive'): MSFTConfig(budget=c)
    from lmpapers.core.tokenizer import train_tokenizer
    from lmpapers.core.models import build_model, model_config
    tok = train_tokenizer()
    tr, va = encode(mix, tok, 40), encode(mix, tok, 40, 'validation')
    va.tokenizer = 'other'
    with pytest.raises(ValueError, match='different tokenizers'): msft(build_model(model_config(vocab_size=len(tok), **MODEL)), tr, va)
    with pytest.raises(ValueError, match='mismatched tokenizers'):
        msft(build_model(model_config(vocab_size=500, **MODEL)), tr, encode(mix, tok, 40, 'validation'))

def test_samplers_are_functions_of_the_step():
    s = StagedSampler([(10, torch.arange(40))], 8, seed=3)
    a = [s(i) for i in range(10)]; b = [StagedSampler([(10, torch.arange(40))], 8, seed=3)(i) for i in reversed(range(10))][::-1]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    w = WeightedSampler(torch.tensor([0] * 5 + [1] * 5), 2, 4, [1, 1], seed=0)
    assert torch.equal(w(7), w(7))

def test_restored_optimizer_is_loaded_at_a_fresh_start(tmp_path):
    from lmpapers.core.tokenizer import train_tokenizer
    from lmpapers.core.models import build_model, model_config
    from lmpapers.core.train import train
    from lmpapers.msft.msft import train_config
    from lmpapers.msft.rollout import MixtureEval
    tok = train_tokenizer(); mix = tiny_mixture()
    tr, va = encode(mix, tok, 40), encode(mix, tok, 40, 'validation')
    m = build_model(model_config(vocab_size=len(tok), **MODEL))
    cfg = MSFTConfig(batch_size=8)
    saved = {}
    class Grab(MixtureEval):
        def before_fit(self, model, optimizer, scheduler, start_step):
            super().before_fit(model, optimizer, scheduler, start_step); saved['opt'] = optimizer
    train(m, tr.rows, None, train_config(cfg, 3, 40, 0), [Grab(va, [0], 3, 3, 10.0)], sampler=StagedSampler([(3, torch.arange(len(tr)))], 8), loss_mask=tr.mask)
    state = saved['opt'].state_dict()
    ev = Grab(va, [0], 2, 2, 10.0, ckpt_dir=tmp_path, init_optimizer=state)
    train(m, tr.rows, None, train_config(cfg, 2, 40, 0), [ev], sampler=StagedSampler([(2, torch.arange(len(tr)))], 8), loss_mask=tr.mask)
    steps = [s['step'] for s in saved['opt'].state_dict()['state'].values()]
    assert all(float(s) == 5 for s in steps)          # 3 restored + 2 new Adam steps
