"The Lean REPL client against every recorded transcript, the Lean oracle driven by recordings, LeanDojo without a toolchain."
import json, os
from pathlib import Path
import pytest
import sys
import lmpapers.leanrl.lean as lean
from lmpapers.leanrl.lean import (LeanDojoOracle, LeanOracle, LeanREPL, ReplayTransport, SubprocessTransport, dojo_verdicts,
                                  lean_repl_command, parse_reply, read_transcript, statement_head, transcript_stems)
from lmpapers.leanrl.sandbox import Limits, shareable_copy

DATA = Path(__file__).parent/'data'/'leanrl'
SHARED = Path(__file__).resolve().parents[2]/'shared'/'data'/'lean-repl-transcripts'
TRANSCRIPTS = SHARED if SHARED.is_dir() else DATA/'lean-repl-transcripts'
STEMS = transcript_stems(TRANSCRIPTS)

def test_every_recorded_session_is_found():
    assert len(STEMS) == 55   # 57 inputs, 2 of them without an expected output upstream

@pytest.mark.parametrize('stem', STEMS, ids=lambda p: p.name)
def test_transcript_replays_and_round_trips(stem):
    pairs = read_transcript(stem)
    repl = LeanREPL(ReplayTransport(pairs))
    for req, rep in pairs:
        r = repl.run(req)
        assert r.to_json() == rep                          # every field the REPL sent is kept
        if 'proofStatus' in rep: assert r.kind == 'tactic' and r.proof_status == rep['proofStatus']
        if set(rep) == {'message'}: assert r.kind == 'error' and r.failed
        for m, raw in zip(r.messages, rep.get('messages', [])): assert m.pos == (raw['pos']['line'], raw['pos']['column'])
    with pytest.raises(RuntimeError, match='exhausted'): repl.run({'cmd': 'x'})

def test_protocol_facts_at_head():
    "Omitted empty lists, bare error replies for failing tactics, proofStatus values."
    kinds, statuses = set(), set()
    for s in STEMS:
        for _, rep in read_transcript(s):
            r = parse_reply(rep); kinds.add(r.kind)
            if r.proof_status: statuses.add(r.proof_status.split(':')[0])
            assert rep.get('messages', None) != [] and rep.get('sorries', None) != []
    assert kinds == {'command', 'tactic', 'error'} and {'Completed', 'Incomplete'} <= statuses
    assert parse_reply(read_transcript(TRANSCRIPTS/'unknown_tactic')[1][1]).message.startswith('Lean error:')

def test_replay_refuses_an_unrecorded_request():
    repl = LeanREPL(ReplayTransport(read_transcript(TRANSCRIPTS/'proof_step')))
    with pytest.raises(ValueError, match='mismatch'): repl.command('def g : Nat := by sorry')

def test_oracle_tactic_and_command_modes_on_recordings():
    o = LeanOracle(LeanREPL(ReplayTransport(read_transcript(TRANSCRIPTS/'readme'))), mode='tactic', recheck=False)
    r = o.check('def f (x : Unit) : Nat := by', 'apply Int.natAbs\nexact -37')
    assert r.verdicts == ['sound', 'sound'] and r.status == 'ok'
    # command mode: the recorded session 'invalid_line_break' elaborated `theorem bar : 1 = 1 := by` + `rfl` without the line break
    pairs = read_transcript(TRANSCRIPTS/'invalid_line_break')[1:]
    o = LeanOracle(LeanREPL(ReplayTransport([({'cmd': 'theorem bar : 1 = 1 := by\nrfl'}, pairs[0][1])])))
    r = o.check('theorem bar : 1 = 1', 'rfl')
    assert r.accepted is False and r.error == 'Unknown identifier `byrfl`'
    # a recorded failing whole-proof command: errors map to the failing tactic, "unsolved goals" alone does not
    rep = {"messages": [{"severity": "error", "pos": {"line": 3, "column": 2}, "endPos": {"line": 3, "column": 9}, "data": "type mismatch"},
                        {"severity": "error", "pos": {"line": 1, "column": 27}, "endPos": {"line": 1, "column": 29}, "data": "unsolved goals\n⊢ x"}], "env": 1}
    cmd = 'theorem t (x : Nat) : x = x := by\nintro\nexact h\nrfl'
    o = LeanOracle(LeanREPL(ReplayTransport([({'cmd': cmd}, rep)])))
    r = o.check('theorem t (x : Nat) : x = x := by', 'intro\nexact h\nrfl')
    assert r.verdicts == ['sound', 'failed', 'after'] and r.error == 'type mismatch' and not r.accepted

def test_sorry_is_never_accepted():
    rep = json.loads((TRANSCRIPTS/'proof_step.expected.out').read_text().split('\n\n')[0])
    o = LeanOracle(LeanREPL(ReplayTransport([({'cmd': 'def f : Nat := by\nsorry'}, rep)])))
    r = o.check('def f : Nat', 'sorry')
    assert r.accepted is False and r.verdicts == ['failed'] and 'sorry' in r.error   # the truncation convention (default)
    o = LeanOracle(LeanREPL(ReplayTransport([({'cmd': 'def f : Nat := by\nsorry'}, rep)])), sorry_fails=False)
    r = o.check('def f : Nat', 'sorry')
    assert r.accepted is False and r.verdicts == ['sound']                             # without it: incomplete, not failed

def test_minif2f_statements_and_header():
    rows = [json.loads(l) for l in (DATA/'minif2f_head.jsonl').read_text().splitlines()]
    for row in rows:
        assert row['formal_statement'].rstrip().endswith(':= by') and not statement_head(row['formal_statement']).endswith('by')
    # the header is trusted (it sets maxHeartbeats 0); only proofs are screened, and it is elaborated once
    hdr = {'cmd': rows[0]['header']}
    stmt = statement_head(rows[0]['formal_statement'])
    name = stmt.split()[1]
    audit = lambda env: ({'cmd': f'#print axioms {name}', 'env': env},     # every accepted proof is audited (Lean's wording)
                         {'messages': [{'severity': 'info', 'pos': {'line': 1, 'column': 0}, 'endPos': {'line': 1, 'column': 6},
                                        'data': f"'{name}' depends on axioms: [propext, Classical.choice, Quot.sound]"}], 'env': env + 10})
    o = LeanOracle(LeanREPL(ReplayTransport([(hdr, {'env': 0}), ({'cmd': stmt + ' := by\nnorm_num', 'env': 0}, {'env': 1}), audit(1),
                                             ({'cmd': stmt + ' := by\nsimp', 'env': 0}, {'env': 2}), audit(2)])), header=rows[0]['header'])
    assert o.check(rows[0]['formal_statement'], 'norm_num').accepted and o.check(rows[0]['formal_statement'], 'simp').accepted
    assert o.check(rows[0]['formal_statement'], 'set_option maxHeartbeats 0 in\nnlinarith').status == 'rejected'

def test_no_toolchain_errors_are_clear(monkeypatch):
    monkeypatch.delenv('LEAN_REPL', raising=False)
    monkeypatch.setenv('PATH', '/nonexistent')
    assert lean_repl_command() is None
    with pytest.raises(FileNotFoundError, match='LEAN_REPL'): SubprocessTransport()
    with pytest.raises(ImportError, match='lean-dojo'): LeanDojoOracle()

def test_dojo_adapter_with_stand_in_types():
    class TacticState: pass
    class ProofFinished: pass
    class LeanError: error = 'bad'
    class Dojo:
        def run_tac(self, s, t): return {'intro x': TacticState(), 'simp': ProofFinished()}.get(t, LeanError())
    assert dojo_verdicts(Dojo(), TacticState(), 'intro x\nsimp').accepted is True
    r = dojo_verdicts(Dojo(), TacticState(), 'intro x\nring\nsimp')
    assert r.verdicts == ['sound', 'failed', 'after'] and r.error == 'bad'
    assert dojo_verdicts(Dojo(), TacticState(), 'intro x\n#eval 1').status == 'rejected'

def test_dojo_errors_map_to_statuses(monkeypatch):
    "LeanDojo is not installed here: stand-in classes named as LeanDojo's exceptions and results (mapping by class name)."
    import types
    class TacticState: pass
    class ProofGivenUp: pass
    class TimeoutError:                                  # LeanDojo's returned result, not the builtin
        error = 'timed out'
    class DojoTacticTimeoutError(Exception): pass
    class DojoHardTimeoutError(Exception): pass
    class DojoCrashError(Exception):
        @property
        def is_out_of_memory(self): return str(self) == 'OOM'
    class DojoInitError(Exception): pass
    plan = {'slow': DojoTacticTimeoutError('t'), 'hard': DojoHardTimeoutError('t'), 'oom': DojoCrashError('OOM'),
            'eof': DojoCrashError('Unexpected EOF'), 'odd': KeyError('not LeanDojo')}
    class Dojo:
        def run_tac(self, s, t):
            if t in plan: raise plan[t]
            return {'intro x': TacticState(), 'give_up_tac': ProofGivenUp(), 'wait': TimeoutError()}[t]
    run = lambda last: dojo_verdicts(Dojo(), TacticState(), f'intro x\n{last}')
    got = {t: (run(t).status, run(t).verdicts) for t in ('slow', 'hard', 'oom', 'eof', 'wait', 'give_up_tac')}
    assert got == {'slow': ('timeout', ['sound', 'failed']), 'hard': ('timeout', ['sound', 'failed']), 'oom': ('memory', ['sound', 'failed']),
                   'eof': ('crashed', ['sound', 'failed']), 'wait': ('timeout', ['sound', 'failed']), 'give_up_tac': ('ok', ['sound', 'failed'])}
    with pytest.raises(KeyError): run('odd')                                    # anything else is not swallowed
    assert run('sorry').verdicts == ['sound', 'failed']                         # truncation: sorry fails without reaching LeanDojo
    # the oracle: an error raised on entering the Dojo is a status too
    class Entering:
        def __init__(self, thm, timeout): self.thm = thm
        def __enter__(self):
            if self.thm == 'bad': raise DojoInitError('not_a_theorem')
            if self.thm == 'crash': raise DojoCrashError('OOM')
            return Dojo(), TacticState()
        def __exit__(self, *a): return False
    monkeypatch.setitem(sys.modules, 'lean_dojo', types.SimpleNamespace(Dojo=Entering))
    o = LeanDojoOracle()
    assert [o.check(t, 'intro x\nslow').status for t in ('bad', 'crash', 'ok')] == ['invalid', 'memory', 'timeout']

@pytest.mark.skipif(not lean_repl_command(), reason='no Lean REPL here (set $LEAN_REPL or put lake on PATH)')
def test_real_repl_if_present():
    t = SubprocessTransport()
    try:
        o = LeanOracle(LeanREPL(t))
        assert o.check('theorem t : 1 + 1 = 2', 'rfl').accepted
        assert o.check('theorem t : 1 + 1 = 3', 'rfl').verdicts == ['failed']
    finally: t.close()


# ---- the client against a scripted hostile REPL: a real subprocess speaking the REPL's protocol (tests/data/leanrl/scripted_repl.py) ----
# the prover runs as an unprivileged user: a system python it can read (this interpreter may live under /root)
PY = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
SCRIPTED = [PY, str(shareable_copy(DATA/'scripted_repl.py'))]   # readable by the prover's user, wherever the checkout lives

def scripted_oracle(wall_s=0.25, **kw):
    t = SubprocessTransport(SCRIPTED, limits=Limits(wall_s=wall_s), env={'SCRIPTED_REPL_SLOW': '0.5', 'PATH': os.environ.get('PATH', '')})
    return t, LeanOracle(LeanREPL(t), header='import Mathlib', **kw)

# (proof, status): each hostile reply gets its own status, and the next honest check is answered by its own reply
HOSTILE = [('lmp_slow', 'timeout'), ('lmp_stray', 'garbled'), ('lmp_garbage', 'garbled'), ('lmp_nonjson', 'garbled'),
           ('lmp_list', 'garbled'), ('lmp_empty', 'empty'), ('lmp_die', 'crashed')]

def test_client_pairs_every_reply_with_its_request(monkeypatch):
    t, o = scripted_oracle()
    try:
        assert o.check('theorem t : True', 'trivial').accepted                 # header elaborated, proof audited
        for proof, status in HOSTILE:
            r = o.check('theorem t : True', proof)
            assert (r.status, r.accepted, r.verdicts) == (status, False, ['unchecked']), (proof, r)
            # the REPL is restarted first: a late `accepted` reply (lmp_slow's, 0.5 s after a 0.25 s deadline) is never read here
            w = o.check('theorem t : True', 'exact lmp_wrong')
            assert (w.status, w.accepted, w.verdicts, w.error) == ('ok', False, ['failed'], "unknown identifier 'lmp_wrong'"), (proof, w)
        assert t.restarts == {'timeout': 1, 'garbled': 4, 'empty': 1, 'died': 1} and t.generation == 8
        monkeypatch.setattr(lean, 'MAX_REPLY', 1 << 20)                         # 4 MiB without a blank line: a flood
        assert o.check('theorem t : True', 'lmp_flood').status == 'memory'
        assert o.check('theorem t : True', 'trivial').accepted                 # header elaborated again in the new process
        assert o._env[0] == t.generation == 9
    finally: o.close()

def test_statement_errors_and_sorry_on_the_scripted_repl():
    t, o = scripted_oracle()
    try:
        r = o.check('theorem t (x : lmp_bad_stmt) : True', 'trivial')
        assert (r.status, r.accepted, r.verdicts) == ('invalid', False, ['unchecked']) and 'statement' in r.error
        r = o.check('theorem t : True', 'intro x\nsorry\nsimp')                # truncation: sorry is the failing step
        assert (r.status, r.accepted, r.verdicts) == ('ok', False, ['sound', 'failed', 'after'])
        r = o.check('theorem t : True', 'exact lmp_wrong\nsorry')               # an earlier error comes first
        assert r.verdicts == ['failed', 'after'] and 'lmp_wrong' in r.error
        o.mode = 'tactic'
        assert o.check('theorem t : True', 'intro x\nexact lmp_wrong').verdicts == ['sound', 'failed']
        assert o.check('theorem t : True', 'simp\nadmit').verdicts == ['sound', 'failed']
        assert o.check('theorem t : True', 'simp').accepted                    # completed, re-checked, audited
        assert t.restarts == {}
    finally: o.close()
    # a recorded statement error in tactic mode: the attempt is invalid, not tactic 0
    bad = {'messages': [{'severity': 'error', 'pos': {'line': 1, 'column': 12}, 'endPos': {'line': 1, 'column': 15}, 'data': 'unknown identifier'}], 'env': 0}
    o = LeanOracle(LeanREPL(ReplayTransport([({'cmd': 'theorem t : Foo := by sorry'}, bad)])), mode='tactic')
    assert o.check('theorem t : Foo', 'simp').status == 'invalid'
    with pytest.raises(TypeError, match='extract_proof'): o.check('theorem t : True', [{'role': 'assistant', 'content': 'simp'}])
