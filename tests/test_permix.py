"PerMix-RLVR: bad input is refused or recorded, judges over a real HTTP endpoint, PSS invariances, conversational data."
import itertools
import numpy as np
import pytest
from datasets import Dataset
from lmpapers.permix.personas import PERSONA_POOL, USER_TEMPLATE, PersonaTemplate, persona, persona_mix, check_pool
from lmpapers.permix.rewards import exact_match_reward, fidelity_reward, math_reward
from lmpapers.permix.stability import persona_stability
from lmpapers.permix.fidelity import (HFJudge, LoopbackJudgeServer, OpenAIJudge, ScoreParseError, judge_task, parse_score,
                                      persona_score)


@pytest.mark.parametrize('turn,text', [('system', 'Be nice.'), ('user', '{prompt}'), ('user', '{persona}'), ('system', '{persona} {prompt}')])
def test_template_without_its_placeholder_is_refused(turn, text):
    with pytest.raises(ValueError, match='placeholder|cannot hold'): PersonaTemplate(turn, text)


@pytest.mark.parametrize('ratio', [-0.01, 1.01, float('nan'), True, '0.5'])
def test_mixing_ratio_outside_unit_interval_is_refused(ratio):
    ds = Dataset.from_dict(dict(prompt=['1+1=', '2+2=']))
    with pytest.raises(ValueError, match=r'\[0, 1\]'): persona_mix(ds, ratio=ratio)


def test_empty_pool_and_duplicate_names_are_refused():
    with pytest.raises(ValueError, match='empty'): check_pool(())
    with pytest.raises(ValueError, match='unique'): check_pool([PERSONA_POOL[0], PERSONA_POOL[0]])


def test_conversational_dataset_with_the_persona_in_the_user_turn():
    ds = Dataset.from_dict(dict(prompt=[[dict(role='system', content='Be brief.'), dict(role='user', content=f'{i}+1=')] for i in range(10)],
                                answer=[str(i + 1) for i in range(10)]))
    out = persona_mix(ds, ratio=1.0, groups='roleplay', template=USER_TEMPLATE, seed=3)
    for row in out:
        p = persona(row['persona'])
        assert row['prompt'][0] == dict(role='system', content='Be brief.')
        assert row['prompt'][1]['content'].startswith(p.text + ' ') and row['prompt'][1]['content'].endswith('+1=')
    comps = [[dict(role='assistant', content=persona(n).voice.format(answer=a))] for n, a in zip(out['persona'], out['answer'])]
    assert fidelity_reward()(comps, out['persona']) == [1.0] * 10
    assert exact_match_reward(comps, out['answer']) == [1.0] * 10


def test_math_reward_none_only_where_the_gold_does_not_parse():
    r = math_reward([r'\boxed{3}', r'\boxed{3}', 'no'], ['$3$', 'not math at all', '$3$'])
    assert r == [1.0, None, 0.0]


def test_pss_is_invariant_to_order_and_bounded():
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = rng.random((5, 12)) < rng.random()
        a = persona_stability(c)
        b = persona_stability(c[rng.permutation(5)][:, rng.permutation(12)])
        assert abs(a['pss'] - b['pss']) < 1e-12 and 0.0 <= a['pss'] <= 1.0
        assert a['lottery']['expected_max'][0] == pytest.approx(a['accuracy'])
        assert all(x >= y - 1e-12 for x, y in zip(a['lottery']['expected_max'][1:], a['lottery']['expected_max']))


def test_judge_answer_without_a_score_is_an_error_not_a_zero():
    with pytest.raises(ScoreParseError): parse_score('The reply is acceptable.')
    res = persona_score(lambda p: 'acceptable', 'a cat', '1+1=', 'meow', tries=2)
    assert res['persona_score'] is None and res['failed'] == list(res['scores']) and res['tries'] == 10
    assert all(len(e) == 2 for e in res['errors'].values())


def test_endpoint_that_times_out_is_recorded_and_retried():
    with LoopbackJudgeServer(reply=lambda p: 'In voice. Score: 5', faults=['timeout', 'timeout', 'timeout'], delay=0.6) as srv:
        j = OpenAIJudge('judge', base_url=srv.base_url, timeout=0.2)
        t = judge_task(j, 'linguistic_habits', 'a pirate', '1+1=', 'Arr, 2, matey', tries=2)
        assert t.score is None and t.tries == 2 and all('Timeout' in e for e in t.errors)
        t = judge_task(j, 'linguistic_habits', 'a pirate', '1+1=', 'Arr, 2, matey', tries=2)   # one more timeout, then an answer
        assert t.score == 5 and t.tries == 2
    assert len(srv.requests) == 4


def test_local_hf_judge_goes_through_the_same_parsing():
    import torch
    from lmpapers.core.models import build_model, model_config
    from lmpapers.core.tokenizer import train_tokenizer
    tok = train_tokenizer()
    m = build_model(model_config('tiny', vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1, head_dim=16), seed=0).eval()
    j = HFJudge(m, tok, max_new_tokens=4)
    out = j('Score this. ')
    assert isinstance(out, str)
    t = judge_task(j, 'toxicity', 'a cat', '1+1=', 'meow', tries=1)
    assert t.score in range(1, 6) or (t.score is None and len(t.errors) == 1 and 'ScoreParseError' in t.errors[0])


def test_reproduce_refuses_what_it_cannot_do():
    import torch
    from lmpapers.core.scales import ScaleUnavailable
    from lmpapers.permix.experiment import reproduce
    with pytest.raises(ValueError, match='tiny trains its own'): reproduce('tiny', model='Qwen/Qwen3-0.6B')
    with pytest.raises(ValueError, match='takes no --data'): reproduce('tiny', data='gsm8k')
    with pytest.raises(ValueError, match='--smoke'): reproduce('tiny', smoke=True)
    if not torch.cuda.is_available():
        with pytest.raises(ScaleUnavailable): reproduce('small')


def test_permix_mixture_trains_in_trl_with_rewards_skipped_per_row(tmp_path):
    "Each row is scored by exactly one of the two PerMix rewards; TRL logs both and the run completes."
    from lmpapers.core.data import arithmetic_task
    from lmpapers.rl.trainer import tiny_grpo_setup
    from lmpapers.permix.training import GRPOSettings, grpo_train, permix_dataset, permix_rewards
    m, tok, _, _ = tiny_grpo_setup(str(tmp_path))
    qs = arithmetic_task(8, digits=1, seed=0)
    ds = permix_dataset(qs, arithmetic_task(8, digits=1, seed=1), ratio=1.0, persona_share=0.5, seed=0)
    _, log = grpo_train(m, tok, ds, permix_rewards(), GRPOSettings(steps=2, prompts_per_step=4, G=2, max_new=4, beta=0.0))
    keys = {k for h in log for k in h}
    assert {'rewards/exact_match_reward/mean', 'rewards/fidelity_persona/mean'} <= keys


def test_a_constant_wrong_model_cannot_score_a_high_pss():
    "Through the experiment's own evaluation: a responder giving one wrong number everywhere is perfectly stable, and its PSS is 0."
    from lmpapers.permix.experiment import constant_responder, evaluate, preset
    r = evaluate(None, None, dict(preset('tiny'), eval_q=40), respond=constant_responder(' 100'))
    assert (r['pss_unweighted'], r['pss'], r['accuracy'], r['worst_accuracy']) == (1.0, 0.0, 0.0, 0.0)
    right = persona_stability(np.ones((20, 40)))
    assert right['pss'] == 1.0
    half = persona_stability(np.tile(np.arange(40) % 2, (20, 1)))      # every persona right on the same half: stable, PSS = accuracy
    assert half['pss_unweighted'] == 1.0 and half['pss'] == pytest.approx(0.5)


def test_roleplay_reward_checks_the_answer():
    "PerMix-RLVR's role-play rows: a catchphrase with no answer earns less than the right answer in voice, and less than a plain right answer."
    from lmpapers.permix.training import permix_rewards
    corr, fid = permix_rewards()
    row = dict(answer=['12'], kind=['persona'], persona=['pirate'])
    total = lambda text: corr([text], **row)[0] + fid([text], **row)[0]
    assert total('Arr, 12, matey!') == 2.0 and total('Arr, matey!') == 1.0 and total('Arr, 13, matey!') == 1.0
    assert total(' 12') == pytest.approx(1 + 4 / 6)
    corr, fid = permix_rewards(check_answers=False)
    assert corr(['Arr, matey!'], **row) == [None] and fid(['Arr, matey!'], **row) == [1.0]
