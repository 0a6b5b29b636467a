"Live-judge plumbing: an OpenAI-compatible endpoint (local http.server), a tiny local HF model, crash/resume of the log."
import json, math, subprocess, sys, threading, time, textwrap
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import numpy as np
import pytest
from lmpapers.judges.online import OpenAIJudge, HFJudge, FunctionJudge, OnlineAllocator, QueryLog, parse_score


class _Handler(BaseHTTPRequestHandler):
    "Speaks the chat-completions JSON format; its behaviour per request is set on the server."
    def do_POST(self):
        n = int(self.headers['Content-Length']); body = json.loads(self.rfile.read(n))
        srv = self.server; srv.requests.append(body); i = len(srv.requests)
        mode = srv.mode(i)
        if mode == 'http500': self.send_response(500); self.end_headers(); return
        if mode == 'sleep': time.sleep(1.0)
        content = 'not a number' if mode == 'garbage' else f'{srv.score(body):.2f}'
        out = dict(id=f'c{i}', object='chat.completion', model=body['model'],
                   choices=[dict(index=0, message=dict(role='assistant', content=content), finish_reason='stop')])
        data = json.dumps(out).encode()
        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(data)))
        self.end_headers(); self.wfile.write(data)
    def log_message(self, *a): pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    srv.requests, srv.mode = [], (lambda i: 'ok')
    rng = np.random.default_rng(0)
    srv.score = lambda body: float(np.clip(2.0 + 0.5 * rng.standard_normal(), 0, 4))
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    yield srv
    srv.shutdown()


def test_openai_judge_request_format(server):
    j = OpenAIJudge(f'http://127.0.0.1:{server.server_port}/v1', 'judge-model', cost=2.0, api_key='k')
    v = j('What is 2+2?', '4')
    assert 0 <= v <= 4
    body = server.requests[-1]
    assert body['model'] == 'judge-model' and body['messages'][0]['role'] == 'user' and 'What is 2+2?' in body['messages'][0]['content']


def test_openai_judge_failures_are_logged_and_retried(server, tmp_path):
    server.mode = lambda i: {3: 'http500', 5: 'garbage', 7: 'sleep'}.get(i, 'ok')
    j = OpenAIJudge(f'http://127.0.0.1:{server.server_port}/v1', 'm', cost=1.0, timeout=0.3)
    items = [(f'p{k}', 'r') for k in range(3)]
    a = OnlineAllocator(items, [j], budget=40., log_path=tmp_path / 'log.jsonl', workers=1, timeout=0.5)
    est = a.run(progress=False)
    recs = [r for r in a.log.read() if r.get('type') == 'query']
    errors = ' '.join(r['error'] for r in recs if r['status'] == 'error')
    assert 'HTTP' in errors and 'no number' in errors and ('timed out' in errors or 'timeout' in errors)
    assert not np.isnan(est).any() and np.all(np.abs(est - 2.0) < 1.0)
    st, spent, fails = a.state()
    assert spent <= 40. and fails.sum() == 3


def test_resume_after_hard_kill(tmp_path):
    "A process killed mid-run (os._exit) loses no logged answer; the resumed run never re-asks them."
    log = tmp_path / 'run.jsonl'
    script = textwrap.dedent(f'''
        import os, numpy as np
        from lmpapers.judges.online import FunctionJudge, OnlineAllocator
        calls = [0]
        def judge(p, r):
            calls[0] += 1
            if calls[0] == 60: os._exit(3)
            return float(int(p[1:]) / 10 + np.random.default_rng(calls[0]).standard_normal() * 0.2)
        items = [(f'p{{k}}', 'r') for k in range(10)]
        OnlineAllocator(items, [FunctionJudge(judge, 'j', 1.0)], 400., {str(log)!r}, workers=1).run(progress=False)
    ''')
    rc = subprocess.run([sys.executable, '-c', script]).returncode
    assert rc == 3
    before = [r for r in QueryLog(log).read() if r.get('type') == 'query']
    assert len(before) == 59
    asked = []
    def judge(p, r):
        asked.append(p); return float(int(p[1:]) / 10)
    a = OnlineAllocator([(f'p{k}', 'r') for k in range(10)], [FunctionJudge(judge, 'j', 1.0)], 400., log, workers=1)
    a.run(progress=False)
    after = [r for r in QueryLog(log).read() if r.get('type') == 'query']
    assert after[:59] == before and len(after) == 59 + len(asked)
    assert a.state()[1] <= 400 and a.state()[1] > 390


def _tiny_lm():
    transformers = pytest.importorskip('transformers')
    from tokenizers import Tokenizer, models, pre_tokenizers
    words = ['[UNK]', '0', '1', '2', '3', '4', 'Rate', 'how', 'helpful', 'the', 'response', 'is']
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token='[UNK]'))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, unk_token='[UNK]')
    import torch
    torch.manual_seed(0)
    cfg = transformers.Qwen3Config(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256)
    return transformers.Qwen3ForCausalLM(cfg), tok


def test_hf_judge_tiny_random_model(tmp_path):
    model, tok = _tiny_lm()
    j = HFJudge(model, tok, cost=0.5, name='tiny', sample=False)
    pr = j.probs('a prompt', 'a response')
    assert pr.shape == (5,) and abs(pr.sum() - 1) < 1e-9
    assert abs(j('a prompt', 'a response') - pr @ np.arange(5)) < 1e-9
    js = HFJudge(model, tok, cost=0.5, name='tiny-s', sample=True, seed=1)
    vals = {js('a prompt', 'a response') for _ in range(30)}
    assert vals <= {0., 1., 2., 3., 4.} and len(vals) > 1
    a = OnlineAllocator([('a', 'b'), ('c', 'd')], [js], budget=20., log_path=tmp_path / 'hf.jsonl', workers=1)
    est = a.run(progress=False)
    assert np.all((est >= 0) & (est <= 4))


def test_parse_and_validation():
    assert parse_score('I would say 3') == 3.0
    with pytest.raises(ValueError): parse_score('5', 0, 4)
    with pytest.raises(ValueError, match='unique'):
        OnlineAllocator([('a', 'b')], [FunctionJudge(len, 'x', 1.), FunctionJudge(len, 'x', 1.)], 10., '/tmp/unused.jsonl')
