"RecordLog under SIGKILL: a writer killed mid-line or at a random moment loses no record whose append returned and repeats none; the judges' live allocator and the UniSAFE runner resume on it without paying twice or going over budget."
import json, os, random, signal, subprocess, sys, textwrap, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest
from lmpapers.core.records import RecordLog, scan_records

HERE = str(Path(__file__).parent)


def _run(code: str, **kw):
    return subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], **kw)


def test_writer_killed_mid_line(tmp_path):
    "The child appends 20 records, writes half of the 21st with os.write and SIGKILLs itself; resuming continues cleanly."
    log = tmp_path / 'r.jsonl'
    child = _run(f'''
        import os, signal
        from lmpapers.core.records import RecordLog
        log = RecordLog({str(log)!r})
        for i in range(20): log.append(dict(i=i, pad='x' * 50))
        fd = os.open(log.path, os.O_WRONLY | os.O_APPEND); os.write(fd, b'{{"i": 20, "pad": "xxx')
        os.kill(os.getpid(), signal.SIGKILL)
    ''')
    assert child.wait() == -signal.SIGKILL
    assert [r['i'] for r in RecordLog(log)] == list(range(20))            # the torn line is left out, nothing else
    resumed = RecordLog(log)
    for i in range(20, 25): resumed.append(dict(i=i))
    assert [r['i'] for r in RecordLog(log)] == list(range(25))           # not glued: every line parses
    assert log.read_bytes().endswith(b'{"i": 24}\n')
    assert Path(str(log) + '.torn').read_bytes() == b'{"i": 20, "pad": "xxx\n'


_LOOP = '''
    import sys
    from lmpapers.core.records import RecordLog
    log = RecordLog({path!r})
    start = len(log.records())                       # resume after the last complete record
    for i in range(start, start + 400):
        log.append(dict(i=i, pad='x' * 32768))
        print(i, flush=True)                         # acknowledged: this append returned
'''


def test_random_kills_lose_and_repeat_nothing(tmp_path):
    "Six writers in turn, each SIGKILLed at a random moment while appending 32 KB records: every acknowledged record is there once, in order."
    path, rng, acked, torn = tmp_path / 'loop.jsonl', random.Random(0), [], 0
    for _ in range(6):
        p = _run(_LOOP.format(path=str(path)), stdout=subprocess.PIPE, text=True)
        got = []
        t = threading.Thread(target=lambda: got.extend(int(l) for l in p.stdout), daemon=True); t.start()
        while not got and p.poll() is None: time.sleep(0.005)            # let it start appending
        time.sleep(rng.uniform(0.0, 0.15))
        p.send_signal(signal.SIGKILL); p.wait(); t.join(10)
        acked += got
        _, end, size = scan_records(path); torn += size > end
        ids = [r['i'] for r in RecordLog(path)]
        assert ids == list(range(len(ids)))                             # no gap, no repeat
        assert set(acked) <= set(ids)                                   # nothing whose append returned is lost
    assert len(acked) > 6 and RecordLog(path).records()[-1]['pad'] == 'x' * 32768
    print(f'{torn} of 6 kills left a torn line')


# ---------------------------------------------------------------- the judges' live allocator

class _Judge(BaseHTTPRequestHandler):
    "A chat-completions endpoint that bills every request it receives, then answers after a short delay."
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        srv = self.server
        with srv.lock: srv.paid += srv.prices[body['model']]; srv.n += 1
        time.sleep(0.004)                                               # queries are in flight when the kill comes
        out = json.dumps(dict(choices=[dict(message=dict(role='assistant', content=f'{srv.rng.uniform(0, 4):.2f}'))])).encode()
        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(out)))
        self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass


@pytest.fixture
def endpoint():
    srv = ThreadingHTTPServer(('127.0.0.1', 0), _Judge)
    srv.lock, srv.paid, srv.n, srv.prices, srv.rng = threading.Lock(), 0.0, 0, dict(cheap=1.0, dear=3.0), random.Random(1)
    srv.handle_error = lambda *a: None                                   # replies to a killed client go nowhere
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


def _allocator(url, log, budget, workers=4):
    from lmpapers.judges.online import OpenAIJudge, OnlineAllocator
    judges = [OpenAIJudge(url, 'cheap', 1.0, api_key=''), OpenAIJudge(url, 'dear', 3.0, api_key='')]
    return OnlineAllocator([(f'prompt {k}', 'a response') for k in range(8)], judges, budget, log, workers=workers, timeout=30)


def test_judges_allocator_killed_at_random_never_overspends(endpoint, tmp_path):
    "SIGKILL the live allocator three times at random request counts with queries in flight, then finish: money paid <= money logged <= budget."
    from lmpapers.judges.online import QueryLog
    url, log, budget, rng = f'http://127.0.0.1:{endpoint.server_port}/v1', tmp_path / 'judges.jsonl', 240., random.Random(2)
    for kill in range(3):
        p = _run(f'''
            import sys; sys.path.insert(0, {HERE!r})
            from test_core_records import _allocator
            _allocator({url!r}, {str(log)!r}, {budget!r}).run(progress=False)
        ''')
        target = endpoint.n + rng.randint(3, 25)
        while endpoint.n < target and p.poll() is None: time.sleep(0.001)
        assert p.poll() is None, 'the run finished before the kill'
        p.send_signal(signal.SIGKILL); p.wait()
        before = QueryLog(log).read()
        a = _allocator(url, log, budget)
        assert a.log.read()[:len(before)] == before                        # nothing logged is lost on resume
        assert endpoint.paid <= a.state()[1] <= budget                      # a query in flight at the kill is charged
    a = _allocator(url, log, budget)
    a.run(progress=False)
    recs = [r for r in a.log.read() if r.get('type') == 'query']
    ok = [r['id'] for r in recs if r['status'] == 'ok']
    assert len(ok) == len(set(ok)) and len(ok) <= endpoint.n              # one answer per paid request at most
    assert endpoint.paid <= a.state()[1] <= budget, (endpoint.paid, a.state()[1])
    assert a.state()[1] > budget - 3 * 3                                   # and the budget was used


def test_judges_allocator_resumes_past_a_torn_record(tmp_path):
    "A kill that leaves half an answer record: the resumed run's first record is not glued onto it, so no paid answer is lost or asked again."
    from lmpapers.judges.online import FunctionJudge, OnlineAllocator, QueryLog
    log, budget = tmp_path / 'torn.jsonl', 7800.
    p = _run(f'''
        import os, signal
        from lmpapers.judges.online import FunctionJudge, OnlineAllocator
        calls = [0]
        def judge(p, r):
            calls[0] += 1
            if calls[0] == 50:                                          # killed while writing this answer's record
                fd = os.open({str(log)!r}, os.O_WRONLY | os.O_APPEND); os.write(fd, b'{{"type": "query", "id": "')
                os.kill(os.getpid(), signal.SIGKILL)
            return 1.0 + (calls[0] % 3)
        items = [(f'p{{k}}', 'r') for k in range(20)]
        OnlineAllocator(items, [FunctionJudge(judge, 'j', 12.0)], {budget!r}, {str(log)!r}, workers=1).run(progress=False)
    ''')
    assert p.wait() == -signal.SIGKILL
    before = QueryLog(log).read()
    assert sum(r.get('type') == 'query' for r in before) == 49
    asked = []
    a = OnlineAllocator([(f'p{k}', 'r') for k in range(20)], [FunctionJudge(lambda p_, r_: asked.append(p_) or 2.0, 'j', 12.0)],
                        budget, log, workers=1)
    a.run(progress=False)
    after = QueryLog(log).read()                                          # raises if a record had been glued onto the torn one
    assert after[:len(before)] == before
    assert sum(r.get('type') == 'query' for r in after) == 49 + len(asked)
    assert (50 + len(asked)) * 12.0 <= budget                             # 50 calls paid before the kill, the rest after
    assert a.state()[1] == (50 + len(asked)) * 12.0                       # the torn answer is charged once, as lost
    assert Path(str(log) + '.torn').read_bytes() == b'{"type": "query", "id": "\n'


# ---------------------------------------------------------------- the UniSAFE runner

def unisafe_model():
    from lmpapers.unisafe.runner import ScriptedModel
    return ScriptedModel(name='m', text=lambda c: f'Step one for {c.id}.', delay=0.004)

def unisafe_judge():
    from lmpapers.unisafe.runner import ScriptedJudge
    return ScriptedJudge(lambda prompt: '```json\n{"Reasoning": "r", "Judgment Result": 1, "Risk Rating": 2}\n```', name='j')


@pytest.mark.parametrize('seed', [0, 1])
def test_unisafe_run_killed_then_torn_resumes(tmp_path, seed):
    "A UniSAFE run SIGKILLed at a random point, its predictions file then torn mid-line: the resumed run loses and repeats nothing."
    from lmpapers.unisafe.data import make_fixture, load_unisafe
    from lmpapers.unisafe.runner import RunStore, predict_all, judge_all, audit
    fx = make_fixture(tmp_path / 'fx'); cases = load_unisafe(fx)
    spec = dict(data=[str(fx / 'image.jsonl'), str(fx / 'text.jsonl')], out=str(tmp_path / 'run'), backoff=0.0,
                model=dict(factory='test_core_records:unisafe_model'), judge=dict(factory='test_core_records:unisafe_judge'))
    (tmp_path / 'spec.json').write_text(json.dumps(spec))
    store, at = RunStore(tmp_path / 'run'), random.Random(seed).randint(1, 50)
    p = _run(f'''
        import sys; sys.path.insert(0, {HERE!r})
        from lmpapers.unisafe.runner import run_spec; run_spec({str(tmp_path / "spec.json")!r})
    ''')
    while p.poll() is None and len(store.records('predictions')) < at: time.sleep(0.002)
    assert p.poll() is None, 'the run finished before the kill'
    p.send_signal(signal.SIGKILL); p.wait()
    n = len(store.records('predictions'))
    with open(store.path('predictions'), 'ab') as f: f.write(b'{"model": "m", "id": "fx0')   # as a kill mid-write leaves
    assert len(store.records('predictions')) == n
    predict_all(cases, unisafe_model(), store); judge_all(cases, unisafe_judge(), store)
    assert audit(store, cases, [unisafe_model()], ['j']) == dict(lost=0, repeated=0, expected=63, judged=63, unscored={})
    assert store.log('predictions').torn_path.read_bytes().endswith(b'{"model": "m", "id": "fx0\n')
    store.release()
