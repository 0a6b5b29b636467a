"""MetaSD on the specdec core: greedy output equals the target's greedy decoding for every selector and variant; a
drafter that raises mid-run is penalised or dropped and the output stays exact; bad input (vocabulary mismatch, an
empty drafter list, β < 0, unknown options) gives a clear error; a drafter's cache is re-prefilled after a switch and
the cost is counted; full information scores the chosen arm as the bandit reward would."""
import warnings
import pytest
import torch
from lmpapers.core.models import model_config, build_model
from lmpapers.specdec.drafters import ModelDrafter, PromptLookupDrafter
from lmpapers.specdec.generate import speculative_generate
from lmpapers.metasd.meta import MetaSD
from lmpapers.metasd.selectors import UCB, Fixed, NormalHedge, SELECTORS

V = 48
def _lm(seed, layers=1, vocab=V):
    cfg = model_config(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=2,
                       num_key_value_heads=1, head_dim=16, initializer_range=0.2)
    return build_model(cfg, seed=seed).eval()

@pytest.fixture(scope='module')
def target():
    torch.set_num_threads(1)
    return _lm(0, 2)

X = torch.tensor([[3, 7, 1, 9, 4, 7, 1, 9, 2]])
def _ref(target, n):
    return target.generate(X, attention_mask=torch.ones_like(X), max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)

def _arms(target):
    return [ModelDrafter(_lm(5), k=3), ModelDrafter(target, k=3, schedule='heuristic'), PromptLookupDrafter(k=4), ModelDrafter(_lm(6), k=2)]

VARIANTS = [dict(selector=s) for s in SELECTORS] + [dict(selector='ucb', reset='carry'), dict(selector='ucb', per_time=True),
            dict(selector='ucb', reward='accepted'), dict(selector='hedge', reset='carry'), dict(selector=Fixed(2)),
            dict(selector='ucb', reward='soft')]

@pytest.mark.parametrize('kw', VARIANTS, ids=lambda kw: '-'.join(str(v if isinstance(v, (str, bool)) else type(v).__name__) for v in kw.values()))
def test_greedy_output_is_the_targets_for_every_selector(target, kw):
    ref = _ref(target, 30)
    m = MetaSD(_arms(target), **kw)
    for _ in range(2):                                                # twice: a second query (reset or carried state)
        o = speculative_generate(target, X, m, max_new_tokens=30, eos_token_id=None)
        assert o.sequences.tolist() == ref.tolist()
        assert o.target_calls - 1 <= len(m.rounds) <= o.target_calls   # one record per drafted round (the last call may have no draft)
    assert len(m.queries) == 2

def test_ucb_finds_the_exact_drafter_and_counts_catchup(target):
    arms = _arms(target); arms[1] = ModelDrafter(target, k=2)
    m = MetaSD(arms, 'ucb', beta=0.5)                                 # rewards in [0, 1]: β = 0.5 re-tries a useless arm ~ln(t)/2 times
    speculative_generate(target, X, m, max_new_tokens=60, eos_token_id=None)
    pulls = [sum(r['arm'] == i for r in m.rounds) for i in range(4)]
    assert pulls[1] == max(pulls) and pulls[1] > sum(pulls) / 2, pulls
    assert all(r['reward'] == pytest.approx(1.0) for r in m.rounds if r['arm'] == 1)
    assert m.arms[0].catchup_tokens > 0                               # arm 0 missed tokens while others drafted, then caught up
    assert all(a.seconds > 0 for a in m.arms)

def test_carried_state_keeps_learning_across_queries(target):
    m = MetaSD(_arms(target), 'ucb', reset='carry')
    speculative_generate(target, X, m, max_new_tokens=20, eos_token_id=None)
    n1 = sum(m.selector.n)
    speculative_generate(target, X, m, max_new_tokens=20, eos_token_id=None)
    assert sum(m.selector.n) > n1                                     # counts grow across queries
    r = MetaSD(_arms(target), 'ucb'); speculative_generate(target, X, r, max_new_tokens=20, eos_token_id=None)
    speculative_generate(target, X, r, max_new_tokens=20, eos_token_id=None)
    assert sum(r.selector.n) == len(r.rounds)                         # reset per query

def test_full_information_scores_every_arm(target):
    m = MetaSD(_arms(target), NormalHedge(seed=1))
    speculative_generate(target, X, m, max_new_tokens=24, eos_token_id=None)
    for r in m.rounds:
        assert len(r['full']) == 4 and r['full'][1] == pytest.approx(1.0)   # the target's copy proposes every committed token
        assert r['full'][r['arm']] is not None

class _Flaky(ModelDrafter):
    def draft(self, ids):
        if len(ids) > 14: raise RuntimeError('drafter broke')
        return super().draft(ids)

@pytest.mark.parametrize('on_error,max_errors', [('penalise', 3), ('drop', 1)])
def test_a_drafter_that_raises_mid_run_is_penalised_then_dropped(target, on_error, max_errors):
    ref = _ref(target, 30)
    for sel in ('ucb', 'hedge'):
        m = MetaSD([_Flaky(target, k=3), ModelDrafter(_lm(5), k=3)], sel, on_error=on_error, max_errors=max_errors)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            o = speculative_generate(target, X, m, max_new_tokens=30, eos_token_id=None)
        assert o.sequences.tolist() == ref.tolist()
        assert 0 in m.dropped and 1 not in m.dropped and 1 <= m.errors[0] <= max_errors
        assert len([x for x in w if 'broke' in str(x.message)]) == 1
        assert any(r['arm'] == 1 for r in m.rounds[-3:])              # the healthy arm carries on

def test_every_arm_dropped_falls_back_to_autoregressive(target):
    m = MetaSD([_Flaky(target, k=3)], 'ucb', on_error='drop')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        o = speculative_generate(target, X, m, max_new_tokens=30, eos_token_id=None)
    assert o.sequences.tolist() == _ref(target, 30).tolist()
    assert any('every drafter was dropped' in str(x.message) for x in w)

class _OutOfVocab(ModelDrafter):
    def draft(self, ids):
        t = super().draft(ids); t.tokens[0] = 10_000; return t

def test_a_drafter_proposing_ids_outside_the_vocabulary_is_an_arm_failure(target):
    m = MetaSD([_OutOfVocab(_lm(5), k=3), ModelDrafter(_lm(6), k=3)], 'ucb', on_error='drop')
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        o = speculative_generate(target, X, m, max_new_tokens=20, eos_token_id=None)
    assert o.sequences.tolist() == _ref(target, 20).tolist() and m.dropped == {0}

def test_bad_input(target):
    with pytest.raises(ValueError, match='at least one drafter'): MetaSD([])
    with pytest.raises(TypeError, match='list of Drafters'): MetaSD(ModelDrafter(_lm(1)))
    with pytest.raises(TypeError, match='needs a Drafter'): MetaSD([object()])
    with pytest.raises(ValueError, match='vocabularies differ'): MetaSD([ModelDrafter(_lm(1)), ModelDrafter(_lm(2, vocab=64))])
    with pytest.raises(ValueError, match='differs from the target'):
        speculative_generate(target, X, MetaSD([ModelDrafter(_lm(2, vocab=64))]), max_new_tokens=4)
    with pytest.raises(ValueError, match='>= 0'): MetaSD([ModelDrafter(_lm(1))], 'ucb', beta=-0.1)
    with pytest.raises(ValueError, match='>= 0'): UCB(beta=-1)
    with pytest.raises(ValueError, match='unknown selector'): MetaSD([ModelDrafter(_lm(1))], 'softmax')
    with pytest.raises(ValueError, match='reward must be'): MetaSD([ModelDrafter(_lm(1))], reward='tokens')
    with pytest.raises(ValueError, match='reset must be'): MetaSD([ModelDrafter(_lm(1))], reset='never')
    with pytest.raises(ValueError, match='on_error'): MetaSD([ModelDrafter(_lm(1))], on_error='ignore')
    with pytest.raises(ValueError, match='max_errors'): MetaSD([ModelDrafter(_lm(1))], max_errors=0)
    with pytest.raises(ValueError, match='names'): MetaSD([ModelDrafter(_lm(1))], names=['a', 'b'])
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        u = UCB(); u.reset(2); u.update(0, 1.5)
