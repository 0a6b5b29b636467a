"""Property tests of every data generator over seeds drawn fresh on each run (`fresh_seeds`, see conftest.py): lengths
within the limits their consumers enforce, ids within the vocabulary, every class present, answers that follow from
their prompts. A fault that only some seeds show (msft's text task drew a 41-token example for seed 8080) is found
here by chance on some run, and the failure names the seed that replays it."""
import re
from functools import lru_cache
import numpy as np
import pytest
import torch

@lru_cache(maxsize=1)
def tiny_tok():
    from lmpapers.core.tokenizer import train_tokenizer
    return train_tokenizer()

def n_tokens(tok, text: str) -> int: return len(tok(text, add_special_tokens=False)['input_ids'])

def test_fresh_seeds_are_in_range_distinct_and_replayable(fresh_seeds, session_seed):
    from conftest import derive_seeds
    s = fresh_seeds(4)
    assert len(set(s)) == 4 and all(0 <= x < 2**31 for x in s)
    assert derive_seeds(session_seed, 'x', 4) == derive_seeds(session_seed, 'x', 4) != derive_seeds(session_seed + 1, 'x', 4)

def test_core_tasks(fresh_seeds):
    from lmpapers.core.data import arithmetic_task, copy_task, mapping_task, kv_retrieval_task, passkey_task, word_mapping, WORDS
    for s in fresh_seeds(3):
        ar = arithmetic_task(60, digits=3, seed=s)
        assert ar[:] == arithmetic_task(60, digits=3, seed=s)[:]                  # a seed replays its rows
        for r in ar:
            a, op, b = re.fullmatch(r'(\d+)([-+*])(\d+)=', r['prompt']).groups()
            assert int(r['answer']) == {'+': int(a) + int(b), '-': int(a) - int(b), '*': int(a) * int(b)}[op]
        assert {r['prompt'][len(re.match(r'\d+', r['prompt']).group())] for r in ar} == set('+-*')   # every operator drawn
        for r in copy_task(30, length=5, seed=s):
            assert r['prompt'] == f"Repeat:{r['answer']}\nAgain:" and len(r['answer'].split()) == 5 and set(r['answer'].split()) <= set(WORDS)
        m = word_mapping(s)
        assert sorted(m) == sorted(WORDS) and len(set(m.values())) == len(WORDS) and not set(m.values()) & set(WORDS)   # a bijection onto new words
        for r in mapping_task(30, length=4, seed=s):
            src = r['prompt'].removeprefix('Translate: ').removesuffix('\nResult:').split()
            assert len(src) == 4 and r['answer'].split() == [m[w] for w in src]
        for r in kv_retrieval_task(30, n_pairs=5, seed=s):
            lines = r['prompt'].split('\n')
            pairs = dict(l.split(': ') for l in lines[:-1]); key = lines[-1].removeprefix('The value of ').removesuffix(' is')
            assert len(pairs) == 5 and pairs[key] == r['answer'].strip() and r['depth'] == list(pairs).index(key) / 5
        for r in passkey_task(20, context_words=60, digits=5, seed=s):
            key = r['answer'].strip()
            assert re.fullmatch(r'[1-9]\d{4}', key) and r['prompt'].count(key) == 2 and 0 <= r['depth'] < 1   # planted twice (the filler has no 3-digit numbers)
            assert r['prompt'].endswith('The pass key is')

def test_msft_tiny_mixture_fits_and_has_every_task(fresh_seeds):
    from lmpapers.msft.data import tiny_mixture, encode, SPLITS, TINY_TASKS
    tok, T = tiny_tok(), 40
    for s in fresh_seeds(2):
        mix = tiny_mixture(s, tokenizer=tok, seq_len=T)
        assert [sd.name for sd in mix] == list(TINY_TASKS)
        for sp in SPLITS:
            e = encode(mix, tok, T, sp)                                          # refuses any example over T tokens
            assert e.truncated == 0 and e.rows.shape[1] == T
            assert 0 <= int(e.rows.min()) and int(e.rows.max()) < len(tok)
            assert all(n > 0 for n in e.sizes())                                 # every sub-dataset in every split
            assert (e.mask.sum(1) >= 2).all()                                    # an answer token and EOS at least
        for sd in mix:
            tr = set(sd.splits['train']['prompt'])
            assert not tr & set(sd.splits['validation']['prompt']) and not tr & set(sd.splits['test']['prompt'])

def test_leanrl_theorems_and_sft_rows_fit(fresh_seeds):
    from lmpapers.leanrl.experiment import theorems, sft_rows, TRAIN_FAMILIES, HELDOUT_FAMILIES, PRESETS
    tok, T = tiny_tok(), PRESETS['tiny']['seq_len']
    for s in fresh_seeds(2):
        for fams in (TRAIN_FAMILIES, HELDOUT_FAMILIES):
            ths = theorems(4 * len(fams), s, fams)
            assert {t['family'] for t in ths} == set(fams)                       # round-robin: every family
            assert all(t['proofs'] and t['near_misses'] and not set(t['proofs']) & set(t['near_misses']) for t in ths)
            for good in (0.0, 1.0):                                              # near misses and proofs alike
                rows, mask = sft_rows(tok, ths, good, T, seed=s)
                last = mask.long().cumsum(1).argmax(1)                           # the last target token of each row
                assert (rows[torch.arange(len(rows)), last] == tok.eos_token_id).all(), 'a proof was cut at seq_len'

def test_permix_sft_data_fits_and_mixes_every_group(fresh_seeds):
    from lmpapers.permix.experiment import PRESETS, sft_data
    from lmpapers.permix.training import sft_rows
    from lmpapers.permix.personas import PERSONA_POOL
    P = dict(PRESETS['tiny'], sft_n=240)
    for s in fresh_seeds(2):
        prompts, replies = sft_data(P, s)
        rows, mask = sft_rows(tiny_tok(), prompts, replies, P['seq_len'])        # refuses an example over seq_len
        assert rows.shape == (240, P['seq_len']) and mask.any(1).all()
        groups = {p.group for p in PERSONA_POOL if any(p.text in q for q in prompts)}
        assert groups == {p.group for p in PERSONA_POOL}
        assert sum(re.fullmatch(r' -?\d+', r) is not None for r in replies) > 0.4 * len(replies)   # most replies are bare answers

def test_prompt_suites(fresh_seeds):
    from lmpapers.specdec.prompts import prompt_suite
    from lmpapers.metasd.domains import domain_prompt, DOMAINS
    for s in fresh_seeds(2):
        ps = prompt_suite(2, s)
        assert [p['category'] for p in ps].count('code') == 2 and {p['category'] for p in ps} == {'free_text', 'code', 'copy', 'arithmetic', 'mapping'}
        assert all(len(p['prompt']) > 20 for p in ps) and len({p['prompt'] for p in ps}) == len(ps)
        assert ps == prompt_suite(2, s)
        for d in DOMAINS:
            a, b = domain_prompt(d, 0, s), domain_prompt(d, 1, s)
            assert len(a) > 20 and a != b and a == domain_prompt(d, 0, s)

def test_spot_prompts_exact_lengths_and_answers(fresh_seeds):
    from lmpapers.spot.selector import retrieval_prompts
    from lmpapers.spot.experiment import passkey_prompts
    tok = tiny_tok()
    for s in fresh_seeds(2):
        for task in ('passkey', 'multikey'):
            x, ans = retrieval_prompts(tok, task, 96, 3, seed=s)
            assert x.shape == (3, 96) and 0 <= int(x.min()) and int(x.max()) < len(tok)
            for row, a in zip(x.tolist(), ans):
                assert a and tok.decode(a).strip() in tok.decode(row)          # the answer is planted in the prompt
        for ids, a in passkey_prompts(tok, 80, 3, seed=s):
            assert ids.shape[1] <= 80 and a.strip() in tok.decode(ids[0])

def test_judges_instances(fresh_seeds):
    from lmpapers.judges.estimators import make_instance, PATTERNS
    from lmpapers.judges.experiment import bias_instances
    for s in fresh_seeds(3):
        for pat in PATTERNS:
            I = make_instance(12, 3, pat, s)
            assert I['var'].shape == (12, 3) and (I['var'] > 0).all() and np.isfinite(I['var']).all()
            assert ((0 <= I['theta']) & (I['theta'] <= 1)).all()
        for name, (pool, cost, vr) in bias_instances(10, s).items():
            lo, hi = pool.values[0], pool.values[-1]
            assert pool.K == 10 and (lo <= pool.theta).all() and (pool.theta <= hi).all() and (np.diff(cost) > 0).all(), name

def test_unisafe_fixture_and_planted_truth(fresh_seeds):
    from lmpapers.unisafe.data import _fixture_rows
    from lmpapers.unisafe.schema import TASKS
    for s in fresh_seeds(2):
        rows, images = _fixture_rows(s)
        tasks = [r['scenario_type'] for sp in rows.values() for r in sp]
        assert sorted(set(tasks)) == sorted(TASKS) and len(set(tasks.count(t) for t in TASKS)) == 1   # every task, equally often
        for sp in rows.values():
            for r in sp:
                for k in ('input_image', 'input_image_b'):
                    if r.get(k): assert r[k] in images
