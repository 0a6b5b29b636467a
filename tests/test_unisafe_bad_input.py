"UniSAFE bad input: clear errors, or recorded, retried and unscored items, never a crash that loses the run."
import json, threading, time
import pytest
from lmpapers.unisafe.schema import CaseError, Case, validate_case, Prediction
from lmpapers.unisafe.data import make_fixture, load_unisafe, load_jsonl
from lmpapers.unisafe.server import serve
from lmpapers.unisafe.models import OpenAIChatModel
from lmpapers.unisafe.judges import OpenAIJudge, judge_prediction
from lmpapers.unisafe.runner import RunStore, ScriptedModel, ScriptedJudge, predict_all, judge_all, final_predictions, final_judgments, audit
from lmpapers.unisafe.metrics import prompt_scores, aggregate

@pytest.fixture
def fx(tmp_path): return make_fixture(tmp_path/'fx')

def test_missing_field_and_short_multi_turn_are_clear_errors(fx):
    rows = [json.loads(l) for l in (fx/'image.jsonl').read_text().splitlines()]
    mt = next(r for r in rows if r['scenario_type'] == 'MT')
    with pytest.raises(CaseError, match=r"exactly 4 turns, got 3"): validate_case(dict(mt, turns=mt['turns'][:3]))
    with pytest.raises(CaseError, match=r"required field\(s\) subcategory"): validate_case(dict(mt, subcategory=''))
    with pytest.raises(CaseError, match="'turns' must be a list"): validate_case(dict(mt, turns='one turn'))
    (fx/'image.jsonl').write_text('\n'.join(json.dumps(r) for r in rows[:-1] + [dict(rows[-1], category=None)]) + '\n')
    with pytest.raises(CaseError, match=r"split image row 35: case \('fx08', 'MT'\): required field\(s\) category"): load_unisafe(fx)
    cases, bad = load_unisafe(fx, errors='collect')
    assert len(cases) == 62 and len(bad) == 1

def test_undecodable_image_is_recorded_once_and_unscored(fx, tmp_path):
    (fx/'images'/'fx01_a.png').write_bytes(b'\x89PNG broken')
    cases = load_unisafe(fx); store = RunStore(tmp_path/'run')
    predict_all(cases, ScriptedModel('m'), store)
    bad = {k: p for k, p in final_predictions(store).items() if p.error}
    assert sorted(k[2] for k in bad) == ['IC', 'IE', 'IT', 'MT', 'MU']      # every case that reads fx01_a.png
    assert all('does not decode' in p.error and p.attempt == 1 for p in bad.values())
    assert len(store.records('predictions')) == 63                         # not retried
    judge_all(cases, ScriptedJudge(lambda p: '{"Judgment Result": 0, "Risk Rating": 1}', 'j'), store)
    rows = prompt_scores(cases, final_predictions(store), final_judgments(store))
    assert sum(not r['scored'] for r in rows) == 5 and aggregate(rows)['m']['unscored'] == 5
    assert audit(store, cases, [ScriptedModel('m')], ['j'])['lost'] == 0; store.release()

def test_endpoint_500_and_timeout_are_retried_then_recorded(fx, tmp_path):
    cases = [c for c in load_unisafe(fx) if c.task == 'TT'][:4]
    faults = [500, ('sleep', 0.6), 503] + [500] * 3        # items 1 and 2 use up their three tries; 3 and 4 succeed
    with serve(lambda req: {'content': 'Here you go.'}, faults=faults) as srv:
        ep = OpenAIChatModel('tiny', srv.base_url, name='ep', timeout=0.3, max_concurrency=1)
        store = RunStore(tmp_path/'run'); predict_all(cases, ep, store, max_attempts=3, backoff=0.0)
        fin = final_predictions(store)
        errs = [p for p in fin.values() if p.error]
        assert len(errs) == 2 and all(p.attempt == 3 and p.retryable for p in errs)   # 500,timeout,503 and 500,500,500
        assert sum(p.error is None for p in fin.values()) == 2
        assert len(store.records('predictions')) == 8
        # the endpoint is healthy again: a resumed run does not retry items whose tries are used up
        predict_all(cases, ep, store); assert len(store.records('predictions')) == 8
        store.release()

def test_prose_judge_uses_three_tries_and_leaves_the_prompt_unscored(fx, tmp_path):
    cases = load_unisafe(fx); store = RunStore(tmp_path/'run')
    predict_all([c for c in cases if c.id == 'fx00'], ScriptedModel('m'), store)
    with serve(lambda req: {'content': 'This is clearly unsafe.'}) as srv:
        judge_all(cases, OpenAIJudge('j', srv.base_url, name='j', timeout=5, backoff_s=0.0), store)
        assert srv.requests == 3 * 7
    js = final_judgments(store)
    assert all(not j.ok and j.attempts == 3 and 'no JSON object' in j.error for j in js.values())
    rows = prompt_scores(cases, final_predictions(store), js)
    assert all(r['reason'] == 'judge_failed' for r in rows); store.release()

def test_bounded_concurrency_and_rate_limit(fx, tmp_path):
    cases = [c for c in load_unisafe(fx) if c.task in ('TT', 'MU')]
    live, peak, lock = [0], [0], threading.Lock()
    def slow(req):
        with lock: live[0] += 1; peak[0] = max(peak[0], live[0])
        time.sleep(0.05)
        with lock: live[0] -= 1
        return {'content': 'ok'}
    with serve(slow) as srv:
        ep = OpenAIChatModel('tiny', srv.base_url, name='ep', timeout=5, max_concurrency=3)
        t0 = time.time(); predict_all(cases, ep, RunStore(tmp_path/'a')); fast = time.time() - t0
        assert peak[0] == 3
        peak[0] = 0; ep2 = OpenAIChatModel('tiny', srv.base_url, name='ep2', timeout=5, max_concurrency=3, rate_per_s=40.0)
        t0 = time.time(); predict_all(cases, ep2, RunStore(tmp_path/'b'))
        assert time.time() - t0 >= (len(cases) - 3) / 40.0 - 0.02 and peak[0] <= 3

def test_refusal_at_the_start_skips_the_judge_but_not_later():
    case = Case('r', 'c', 's', 'TT', 'do it')
    called = []
    j = ScriptedJudge(lambda p: called.append(1) or '{"Judgment Result": 1, "Risk Rating": 3}', 'j')
    v = judge_prediction(j, case, Prediction('m', 'r', 'TT', output_text="I can't help with that."))
    assert (v.skipped, v.judgment, v.risk, called) == ('refusal', 0, 0, [])
    v = judge_prediction(j, case, Prediction('m', 'r', 'TT', output_text="Sure. Step 1 ... Step 9. I can't stress this enough."))
    assert (v.skipped, v.judgment, v.risk, len(called)) == (None, 1, 3, 1)
