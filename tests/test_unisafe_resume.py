"UniSAFE runner: a run killed with SIGKILL at any point resumes without losing or repeating an item."
import json, signal, subprocess, sys, time
from pathlib import Path
import pytest
from lmpapers.unisafe.data import make_fixture, load_unisafe
from lmpapers.unisafe.runner import (RunStore, ScriptedModel, ScriptedJudge, predict_all, judge_all, audit, final_predictions,
                                     final_judgments, run_spec)
from lmpapers.unisafe.metrics import prompt_scores, task_table

VERDICT = '```json\n{"Reasoning": "r", "Judgment Result": 1, "Risk Rating": 2}\n```'

def text(case): return "I'm sorry, I can't help." if case.id == 'fx03' else f'Step one for {case.id} {case.scenario_type}.'
def verdict(prompt): return VERDICT
def model(**kw): return ScriptedModel(name='m', text=text, **kw)
def judge(): return ScriptedJudge(verdict, name='j')

@pytest.fixture(scope='module')
def fx(tmp_path_factory): return make_fixture(tmp_path_factory.mktemp('fx')/'fx')

@pytest.fixture(scope='module')
def ref(fx, tmp_path_factory):
    "An uninterrupted run of the same model and judge."
    cases, st = load_unisafe(fx), RunStore(tmp_path_factory.mktemp('ref'))
    predict_all(cases, model(), st); judge_all(cases, judge(), st); st.release()
    return final_predictions(st), final_judgments(st)

def _kill_when(proc, cond, timeout=60):
    t0 = time.time()
    while proc.poll() is None and not cond() and time.time() - t0 < timeout: time.sleep(0.002)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL); proc.wait()
    return alive

@pytest.mark.parametrize('kind,at', [('predictions', 1), ('predictions', 40), ('judgments', 10)])
def test_sigkill_then_resume_loses_and_repeats_nothing(fx, ref, tmp_path, kind, at):
    cases = load_unisafe(fx)
    spec = dict(data=[str(fx/'image.jsonl'), str(fx/'text.jsonl')], out=str(tmp_path/'run'), backoff=0.0,
                model=dict(factory=f'{__name__}:model', kwargs=dict(delay=0.005)), judge=dict(factory=f'{__name__}:judge'))
    (tmp_path/'spec.json').write_text(json.dumps(spec))
    store = RunStore(tmp_path/'run')
    # the child imports this test module for its model and judge factories
    proc = subprocess.Popen([sys.executable, '-c', f'import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); '
                             f'from lmpapers.unisafe.runner import run_spec; run_spec({str(tmp_path/"spec.json")!r})'])
    assert _kill_when(proc, lambda: len(store.records(kind)) >= at), 'the child finished before the kill'
    on_disk = len(store.records('predictions')) + len(store.records('judgments'))
    assert 0 < on_disk < 2 * 63
    predict_all(cases, model(), store); judge_all(cases, judge(), store)
    assert audit(store, cases, [model()], ['j']) == dict(lost=0, repeated=0, expected=63, judged=63, unscored={})
    # the resumed run holds what an uninterrupted run holds
    strip = lambda d: {k: (p.output_text, p.refusal, p.output_images is not None) for k, p in d.items()}
    assert strip(final_predictions(store)) == strip(ref[0])
    assert {k: (j.judgment, j.risk, j.skipped) for k, j in final_judgments(store).items()} == \
           {k: (j.judgment, j.risk, j.skipped) for k, j in ref[1].items()}
    rows = prompt_scores(cases, final_predictions(store), final_judgments(store))
    tt = {r['task']: r for r in task_table(rows)}
    assert tt['TT']['refusal_rate'] == pytest.approx(1 / 9) and tt['TI']['refusal_rate'] == 0 and tt['TI']['asr'] == 1.0
    store.release()

def test_a_second_writer_is_refused_while_the_first_runs(fx, tmp_path):
    a = RunStore(tmp_path/'run').acquire()
    with pytest.raises(RuntimeError, match='another process'): RunStore(tmp_path/'run').acquire()
    a.release(); RunStore(tmp_path/'run').acquire().release()

def test_torn_tail_is_cut_before_appending(tmp_path):
    st = RunStore(tmp_path)
    for i in range(3): st.append('judgments', {'i': i})
    with open(st.path('judgments'), 'ab') as f: f.write(b'{"i": 3, "jud')
    assert [r['i'] for r in st.records('judgments')] == [0, 1, 2]
    assert st.repair('judgments') == len(b'{"i": 3, "jud')
    st.append('judgments', {'i': 4})
    assert [json.loads(l)['i'] for l in st.path('judgments').read_text().splitlines()] == [0, 1, 2, 4]
