"The paper's reward: scores, advantages, credit placement, ablation flags, the TRL hook on sampled tokens."
import pytest, torch
from lmpapers.leanrl.oracle import CheckResult, verdicts_at, Oracle
from lmpapers.leanrl.parse import parse_coq_proof
from lmpapers.leanrl.reward import ABLATIONS, ProcessReward, RewardConfig, tactic_scores, token_advantages

TS = parse_coq_proof('intros. split. exact H. exact G.')

def res(fail=None, ok=False, status='ok'):
    v = verdicts_at(TS, fail) if status == 'ok' else ['unchecked'] * 4
    return CheckResult(TS, v, ok, status)

def test_scores_and_propagation():
    assert tactic_scores(res(2)) == [-0.05, -0.05, -0.1, -0.1]
    assert tactic_scores(res(2), ABLATIONS['no_propagation']) == [-0.05, -0.05, -0.1, -0.05]
    assert tactic_scores(res(ok=True)) == [1.0] * 4
    assert tactic_scores(res(status='rejected')) == [-0.1] * 4
    assert tactic_scores(res(0), RewardConfig(d1=-1, d2=-2)) == [-2, -2, -2, -2]

def test_each_ablation_is_one_flag():
    base = asdict_ = RewardConfig().__dict__
    for name, cfg in ABLATIONS.items():
        diff = [k for k in base if getattr(cfg, k) != base[k]]
        assert len(diff) == (0 if name == 'tactic' else 1), (name, diff)
    with pytest.raises(ValueError): RewardConfig(outcome=False, process=False)
    with pytest.raises(ValueError): RewardConfig(credit='middle')

def test_advantages_hand_computed():
    rs = [res(ok=True), res(1), res(3), res(ok=True)]
    spans = [[(0, 1), (1, 3), (3, 5), (5, 6)]] * 4
    A = token_advantages(rs, spans, 7, 4)
    a = 0.5 / (torch.tensor([1., 0, 0, 1]).std().item() + 1e-4)
    assert A[1].tolist() == pytest.approx([-a - .55, -a - .6, -a, -a - .6, -a, -a - .6, -a], abs=1e-5)
    assert A[0].tolist() == pytest.approx([a + .5, a + .5, a, a + .5, a, a + .5, a], abs=1e-5)
    L = token_advantages(rs, spans, 7, 4, ABLATIONS['last_token'])
    assert L[1].tolist() == pytest.approx([-a - .55, -a, -a - .6, -a, -a - .6, -a - .6, -a], abs=1e-5)
    O = token_advantages(rs, spans, 7, 4, ABLATIONS['outcome'])
    assert torch.allclose(O, O[:, :1].expand(4, 7))

class ScriptedOracle(Oracle):
    "Accepts a completion iff it contains 'lia', fails at the second sentence otherwise."
    lang = 'coq'
    def check(self, statement, proof):
        ts = parse_coq_proof(proof)
        ok = 'lia' in proof
        return CheckResult(ts, verdicts_at(ts, None if ok or len(ts) < 2 else 1), ok)

def test_process_reward_hook_on_sampled_tokens():
    from lmpapers.core.tokenizer import train_tokenizer
    tok = train_tokenizer()
    comps = [' intros a b. lia.', ' intros a b. reflexivity. simpl.']
    ids = [tok(c, add_special_tokens=False)['input_ids'] + [tok.eos_token_id] for c in comps]
    T = max(map(len, ids))
    cid = torch.tensor([i + [tok.pad_token_id] * (T - len(i)) for i in ids]); mask = torch.tensor([[1] * len(i) + [0] * (T - len(i)) for i in ids])
    pr = ProcessReward(ScriptedOracle(), tok, 2)
    assert pr(prompts=['p', 'p'], completions=comps, statement=['s', 's']) == [1.0, 0.0]
    A = pr.token_advantages(completions=comps, completion_ids=cid, completion_mask=mask, advantages=torch.zeros(2))
    a = 0.5 / (2 ** -0.5 + 1e-4)
    first = [tok(' intros a b.', add_special_tokens=False)['input_ids'].__len__()]
    assert A[0, 0].item() == pytest.approx(a + 0.5, abs=1e-5)          # first token of 'intros a b.'
    assert A[0, first[0]].item() == pytest.approx(a + 0.5, abs=1e-5)   # first token of 'lia.'
    assert A[1, 0].item() == pytest.approx(-a - 0.55, abs=1e-5)
    assert A[1, first[0]].item() == pytest.approx(-a - 0.6, abs=1e-5)  # first token of the failing 'reflexivity.'
    assert (A[0] != a).sum().item() == 2                               # only two tokens carry process credit
    with pytest.raises(ValueError, match='statement'): pr(prompts=['p'], completions=['x'])

def test_process_reward_takes_chat_completions_and_counts_the_ones_without_a_proof():
    from lmpapers.core.tokenizer import train_tokenizer
    tok = train_tokenizer()
    stmt = 'forall a b : nat, a + b = b + a'
    msg = lambda text: [{'role': 'user', 'content': 'Prove: ' + stmt}, {'role': 'assistant', 'content': text}]
    comps = [msg('Sure.\n```coq\nintros a b. lia.\n```'),                                     # fenced: checked
             msg('```coq\nTheorem x : forall a b : nat, a + b = b + a.\nProof. intros a b. lia. Qed.\n```'),   # restated as given
             msg('```coq\nTheorem x : 0 = 0.\nProof. lia. Qed.\n```'),                      # a different statement: never checked
             msg('I do not know.'),                                                          # no proof
             [{'role': 'user', 'content': 'hi'}]]                                            # no assistant message
    pr = ProcessReward(ScriptedOracle(), tok, 5)
    with pytest.warns(UserWarning, match='3 of 5 completions were not checked'):
        g = pr(prompts=['p'] * 5, completions=comps, statement=[stmt] * 5)
    assert g == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert [r.status for r in pr.last] == ['ok', 'ok', 'rejected', 'no_proof', 'no_proof']
    assert pr.counts == dict(checked=2, no_proof=2, different_statement=1) and pr.history[-1]['no_proof'] == 2
    assert [t.text for t in pr.last[1].tactics] == ['intros a b.', 'lia.']
    with pytest.raises(ValueError, match='completions for'): pr(prompts=['p'], completions=comps, statement=[stmt])
