"mSFT with LoRA (peft) on a random-init small model on CPU: base frozen, every checkpoint holds the adapter only, FLOPs (4N + 2N_t)D, an interrupted round resumes to the uninterrupted result; FSDP through Accelerate refused."
import json
import torch, pytest
from lmpapers.core.models import build_model, model_config
from lmpapers.core.scales import ScaleUnavailable
from lmpapers.core.tokenizer import train_tokenizer
from lmpapers.msft.data import tiny_mixture, encode
from lmpapers.msft.msft import MSFTConfig, msft
from lmpapers.msft.rollout import with_lora
from lmpapers.msft.evaluate import exact_ids, train_flops, eval_flops
from lmpapers.core.models import n_params

MODEL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=1, num_key_value_heads=1, head_dim=32)

def _setup():
    tok = train_tokenizer(); mix = tiny_mixture(tokenizer=tok, seq_len=40)[:2]
    return tok, encode(mix, tok, 40), encode(mix, tok, 40, 'validation')

def test_lora_search_saves_adapters_only(tmp_path, monkeypatch):
    tok, tr, va = _setup()
    m = with_lora(build_model(model_config(vocab_size=len(tok), **MODEL), seed=0), rank=2)
    base0 = {k: v.clone() for k, v in m.named_parameters() if not v.requires_grad}
    lora0 = {k: v.clone() for k, v in m.named_parameters() if v.requires_grad}
    saved = []
    real = torch.save
    monkeypatch.setattr(torch, 'save', lambda obj, f, *a, **k: (saved.append(obj), real(obj, f, *a, **k))[1])
    res = msft(m, tr, va, MSFTConfig(budget=0.5, lr=1e-2, batch_size=16, evals_per_epoch=2, max_rounds=2), tmp_path/'run',
               verifiers={0: exact_ids})            # sub-dataset 0's peaks on greedy generations checked by a verifier
    assert res['train_steps'] > 0 and saved
    N, Nt = n_params(m), n_params(m, trainable_only=True)      # LoRA training FLOPs: (4N + 2N_t)D, not 6ND
    assert res['flops'] - eval_flops(N, res['eval_rows'], 40) == train_flops(N, res['train_steps'], 16, 40, Nt) < train_flops(N, res['train_steps'], 16, 40)
    r0 = res['rounds'][0]; n_val = len(va.pool(r0['active']))
    assert all(e['eval_rows'] > n_val for e in r0['evals'])     # decoding's forward passes are counted in the evaluation FLOPs
    assert all(0 <= e['metric'][0] <= 1 for e in r0['evals'])
    for obj in saved:                                   # rollback checkpoints and start/end points: the adapter alone
        assert set(obj['model']) == set(lora0), sorted(set(obj['model']) ^ set(lora0))[:3]
    assert not (tmp_path/'run'/'round-0'/'train').exists()       # no whole-model resume checkpoint of core's loop
    after = dict(m.named_parameters())
    assert all(torch.equal(after[k], v) for k, v in base0.items())              # base frozen
    assert any(not torch.equal(after[k], v) for k, v in lora0.items())          # adapters trained

def test_fsdp_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv('ACCELERATE_USE_FSDP', 'true')   # refused before any data is read or any work is done
    with pytest.raises(ScaleUnavailable, match='FSDP is not supported'):
        msft(build_model(model_config(vocab_size=64, **MODEL)), None, None, MSFTConfig(budget=0.5), tmp_path/'run')
    assert not (tmp_path/'run').exists()

class _Interrupt(Exception): pass

def test_lora_interrupted_round_resumes_to_the_same_result(tmp_path, monkeypatch):
    "A LoRA search interrupted mid-round resumes from its last adapter-only checkpoint (adapter, optimiser, scheduler, RNG, step) to the uninterrupted result."
    import lmpapers.msft.msft as M
    from lmpapers.msft.rollout import MixtureEval
    tok, tr, va = _setup()
    cfg = MSFTConfig(budget=1.0, lr=1e-2, batch_size=16, evals_per_epoch=4, max_rounds=1)
    fresh = lambda: with_lora(build_model(model_config(vocab_size=len(tok), **MODEL), seed=0), rank=2)
    whole = msft(fresh(), tr, va, cfg, tmp_path/'whole')
    real = MixtureEval.after_step
    def after_step(self, step, model, loss):
        out = real(self, step, model, loss)
        if len(self.evals) == 2 and step + 1 + self.offset == self.evals[-1]['step'] + 1:   # one step past the second checkpoint
            raise _Interrupt
        return out
    monkeypatch.setattr(MixtureEval, 'after_step', after_step)
    with pytest.raises(_Interrupt): msft(fresh(), tr, va, cfg, tmp_path/'cut')
    monkeypatch.setattr(MixtureEval, 'after_step', real)
    rd = tmp_path/'cut'/'round-0'
    ck = torch.load(rd/f"ckpt-{whole['rounds'][0]['evals'][1]['step']}.pt", weights_only=False)
    assert set(ck) >= {'model', 'optimizer', 'scheduler', 'rng'} and all('lora_' in k for k in ck['model'])
    offs = []; real_step = M.lora_resume_step
    monkeypatch.setattr(M, 'lora_resume_step', lambda *a: offs.append(real_step(*a)) or offs[-1])
    again = msft(fresh(), tr, va, cfg, tmp_path/'cut')
    assert offs[0] == whole['rounds'][0]['evals'][1]['step'] > 0     # resumed at the second evaluation, not from the round's start
    assert again['weights'] == whole['weights'] and again['excluded'] == whole['excluded']
    # NaN marks the metrics of sub-datasets not in play: compared as text
    assert json.dumps(again['rounds']) == json.dumps(whole['rounds']) and again['flops'] == whole['flops']
