"Reward hacking against the live coqtop: every attack is turned away with the right status, by the filter and, with the filter switched off, by the axiom audit and the per-attempt reset; honest proofs still pass."
import os, shutil, time
import pytest
import lmpapers.leanrl.coq as coq
from lmpapers.leanrl.oracle import find_escape
from lmpapers.leanrl.sandbox import Limits

HAVE_COQ = bool(shutil.which('coqtop'))
if not HAVE_COQ and os.environ.get('LMPAPERS_REQUIRE_COQ') == '1':
    raise RuntimeError('LMPAPERS_REQUIRE_COQ=1 but coqtop is not on PATH (apt-get install coq)')
pytestmark = pytest.mark.skipif(not HAVE_COQ, reason='coqtop not installed (apt-get install coq); LMPAPERS_REQUIRE_COQ unset')

LOOP_FIX = 'exact (let fix f (n : nat) : False := f n in f 0).'
# (name, statement, proof, status with the filter on). The filter turns all of these away before coqtop sees them.
FILTERED = [
    ('Axiom', 'False', 'Axiom z : False. exact z.'),
    ('Axioms', 'False', 'Axioms z w : False. exact z.'),
    ('Axioms 0=1', '0 = 1', 'Axioms c : 0 = 1. exact c.'),
    ('Parameter', 'False', 'Parameter z : False. exact z.'),
    ('Parameters', 'False', 'Parameters z w : False. exact z.'),
    ('Hypothesis', 'False', 'Hypothesis z : False. exact z.'),
    ('Hypotheses', 'False', 'Hypotheses (z : False) (w : True). exact z.'),
    ('Conjecture', 'False', 'Conjecture z : False. exact z.'),
    ('Variable', 'False', 'Variable z : False. exact z.'),
    ('Variables', 'False', 'Variables (z : False). exact z.'),
    ('Context', 'False', 'Context (c : False). exact c.'),
    ('#[local] Axiom', 'False', '#[local] Axiom z : False. exact z.'),
    ('Local Axiom', 'False', 'Local Axiom z : False. exact z.'),
    ('Global Parameter', 'False', 'Global Parameter z : False. exact z.'),
    ('Polymorphic Axiom', 'False', 'Polymorphic Axiom z : False. exact z.'),
    ('#[universes(polymorphic)] Axiom', 'False', '#[universes(polymorphic)] Axiom z : False. exact z.'),
    ('Axiom after a bullet', 'False', '- Axiom z : False. exact z.'),
    ('Axiom in braces', 'False', '{ Axiom z : False. exact z. }'),
    ('Axiom n = n+1', 'forall n, n = n + 1', 'Local Parameter z : forall n, n = n + 1. exact z.'),
    ('Admitted', 'False', 'Admitted.'),
    ('idtac then Admitted', 'False', 'idtac. Admitted.'),
    ('admit', 'False', 'admit.'),
    ('intros; admit', 'forall n, n = n + 1', 'intros; admit.'),
    ('give_up', 'False', 'give_up.'),
    ('exact_no_check', 'False', 'exact_no_check I.'),
    ('vm_cast_no_check', 'False', 'vm_cast_no_check I.'),
    ('change_no_check', 'False', 'change_no_check True. exact I.'),
    ('native_compute', 'True', 'native_compute. exact I.'),
    ('Unset Guard Checking', 'False', 'Unset Guard Checking. ' + LOOP_FIX),
    ('#[local] Unset Guard Checking', 'False', '#[local] Unset Guard Checking. ' + LOOP_FIX),
    ('Local Unset Guard Checking', 'False', 'Local Unset Guard Checking. ' + LOOP_FIX),
    ('Global Unset Guard Checking', 'False', 'Global Unset Guard Checking. ' + LOOP_FIX),
    ('Unset Positivity Checking', 'False', 'Unset Positivity Checking. exact I.'),
    ('Unset Universe Checking', 'False', '#[export] Unset Universe Checking. exact I.'),
    ('Load', 'False', 'Load "/etc/passwd".'),
    ('Drop', 'False', 'Drop.'),
    ('Redirect', 'True', 'Redirect "/tmp/lmp_hack" Print nat. exact I.'),
    ('Declare ML Module', 'False', 'Declare ML Module "unix".'),
    ('Require Classical', 'forall P : Prop, P \\/ ~ P', 'Require Import Classical. exact classic.'),
    ('From Require', 'forall P : Prop, P \\/ ~ P', 'From Coq Require Import Classical. exact classic.'),
    ('Extraction', 'True', 'Extraction "/tmp/lmp_hack.ml" nat. exact I.'),
    ('Time', 'True', 'Time exact I.'),
    ('Timeout', 'True', 'Timeout 1 exact I.'),
    ('Fail', 'False', 'Fail exact I. exact I.'),
    ('Succeed', 'True', 'Succeed exact I. exact I.'),
    ('Notation False := True', 'False', 'Notation "\'False\'" := True. exact I.'),
    ('Local Notation =', '1 = 2', 'Local Notation "x = y" := (x + y = y + x). lia.'),
    ('Infix =', '1 = 2', 'Infix "=" := (fun _ _ => True). exact I.'),
    ('another theorem', 'False', 'Theorem other : True. Proof. exact I. Qed.'),
    ('Lemma restated', 'False', 'Lemma lmp_goal_x : True. exact I. Qed.'),
    ('Goal', 'False', 'Goal True. exact I. Qed.'),
    ('Definition', 'False', 'Definition x := 0. exact I.'),
    ('Ltac', 'False', 'Ltac t := exact I. t.'),
    ('Inductive non-positive', 'False', 'Inductive bad := mk : (bad -> False) -> bad. exact I.'),
    ('Reset Initial', 'False', 'Reset Initial.'),
    ('Back', 'False', 'Back 2.'),
    ('Abort', 'False', 'Abort.'),
    ('Quit', 'False', 'Quit.'),
    ('Qed then Axiom', 'False', 'Qed. Axiom z : False.'),
    ('Print (huge output)', 'True', 'Print Coq.Init.Datatypes. exact I.'),
    ('Search (huge output)', 'True', 'Search nat. exact I.'),
    ('Set Printing', 'True', 'Set Printing All. exact I.'),
    ('Opaque', 'True', 'Opaque plus. exact I.'),
    ('Hint', 'True', 'Hint Resolve I : core. auto.'),
    ('prompt injection', 'False', 'idtac "<prompt>Coq < 3 || 0 < </prompt>". exact I.'),
    ('prompt in a comment', 'False', '(* </prompt> *) exact I.'),
]
# Attacks that reach coqtop: (name, statement, proof, status, accepted is always False)
LIVE = [
    ('non-terminating fix, guard on', 'False', LOOP_FIX, 'ok'),
    ('different statement via change', 'False', 'change True. exact I.', 'ok'),
    ('term of another type', '1 = 2', 'exact (eq_refl 1).', 'ok'),
    ('unfinished', 'forall n, n = n + 1', 'intros n. induction n.', 'ok'),
    ('infinite loop', 'True', 'do 1000000000 (idtac; idtac). exact I.', 'timeout'),
    ('recursive Ltac loop', 'True', 'let rec loop := idtac; loop in loop. exact I.', 'timeout|memory'),   # whichever limit it hits first
    ('unterminated string swallowing Qed', 'False', 'idtac "abc. exact I.', 'ok'),   # masked to the end: one unterminated sentence
]
HONEST = [
    ('True', 'exact I.'), ('forall n : nat, n + 0 = n', 'intros n. lia.'),
    ('forall P Q : Prop, P /\\ Q -> Q /\\ P', 'intros P Q H. destruct H as [HP HQ]. split.\n- exact HQ.\n- exact HP.'),
    ('2 + 2 = 4', 'reflexivity. Qed.'), ('True', '(* Axiom z : False. Admitted. *) 1: exact I.'),
    ('True', 'abstract exact I.'), ('forall n : nat, n <= n * n', 'intros n. induction n as [|n IH]; simpl; lia.'),
]

@pytest.fixture(scope='module')
def session():
    s = coq.CoqSession(Limits(wall_s=2, memory_mb=1024))
    yield s
    s.close()

def test_every_filtered_attack_is_rejected_before_coqtop(session):
    assert len(FILTERED) + len(LIVE) >= 60
    for f in ('/tmp/lmp_hack.out', '/tmp/lmp_hack.ml'):
        if os.path.exists(f): os.remove(f)
    bad = [(n, r.status, r.accepted) for n, st, p in FILTERED for r in [session.check(st, p)] if r.accepted or r.status != 'rejected']
    assert not bad
    assert not os.path.exists('/tmp/lmp_hack.out') and not os.path.exists('/tmp/lmp_hack.ml')

def test_live_attacks_fail_with_their_status(session):
    for n, st, p, want in LIVE:
        r = session.check(st, p)
        assert (n, r.accepted) == (n, False) and r.status in want.split('|'), (n, r.status)
    for st, p in HONEST: assert session.check(st, p).accepted, (st, p)   # the session recovered from every attack

def test_huge_output_is_stopped(session, monkeypatch):
    "coqtop elides deep terms and the filter blanks strings, so a flood comes from goals; the cap is lowered to see it quickly."
    monkeypatch.setattr(coq, 'MAX_OUTPUT', 5000)
    r = session.check('True', 'do 1000 pose proof I. exact I.')
    assert (r.accepted, r.status) == (False, 'memory') and 'output' in r.error
    monkeypatch.undo()
    assert session.check('True', 'exact I.').accepted

def test_honest_proofs_are_accepted(session):
    res = [session.check(st, p) for st, p in HONEST]
    assert all(r.accepted and r.status == 'ok' and set(r.verdicts) == {'sound'} for r in res), [(r.status, r.error) for r in res]

# The same attacks with the filter switched off: the audit after Qed and the reset between attempts hold on their own.
AUDITED = [
    ('Axiom', 'False', 'Axiom z : False. exact z.'),
    ('Axioms', 'False', 'Axioms z w : False. exact z.'),
    ('Axioms 0=1', '0 = 1', 'Axioms c : 0 = 1. exact c.'),
    ('Parameters', 'False', 'Parameters z w : False. exact z.'),
    ('Hypotheses', 'False', 'Hypotheses (z : False) (w : True). exact z.'),
    ('Conjecture', 'False', 'Conjecture z : False. exact z.'),
    ('Variable', 'False', 'Variable z : False. exact z.'),
    ('Context', 'False', 'Context (c : False). exact c.'),
    ('#[local] Axiom', 'False', '#[local] Axiom z : False. exact z.'),
    ('Local Unset Guard Checking', 'False', '#[local] Unset Guard Checking. ' + LOOP_FIX),
    ('Axiom n = n+1', 'forall n, n = n + 1', 'Local Parameter z : forall n, n = n + 1. exact z.'),
]

@pytest.fixture
def unfiltered(monkeypatch):
    monkeypatch.setattr(coq, 'find_escape', lambda proof, lang='coq': None)
    s = coq.CoqSession(Limits(wall_s=5, memory_mb=1024))
    yield s
    s.close()

def test_audit_alone_rejects_assumptions(unfiltered):
    res = {n: unfiltered.check(st, p) for n, st, p in AUDITED}
    assert {n: (r.accepted, r.status) for n, r in res.items()} == {n: (False, 'unsound') for n, _, _ in AUDITED}
    assert all(r.verdicts == ['unchecked'] * len(r.tactics) for r in res.values())
    assert 'z : False' in res['Axioms'].error and 'guarded' in res['Local Unset Guard Checking'].error

def test_nothing_leaks_from_one_attempt_to_the_next(unfiltered):
    s = unfiltered
    t0 = time.monotonic()
    assert s.check('False', 'Axioms z : False. exact z.').status == 'unsound'
    for st in ('False', 'forall n, n = n + 1', '1 = 2'):      # the three leaked uses of z
        r = s.check(st, 'exact z.' if st != 'forall n, n = n + 1' else 'exact (False_ind _ z).')
        assert not r.accepted and r.status == 'ok' and 'z' in r.error
    # a notation cannot even be declared: string contents are blanked before coqtop sees them
    assert not s.check('False', 'Notation "\'False\'" := True. exact I.').accepted
    assert s.check('True', 'Global Unset Guard Checking. exact I.').status == 'unsound'   # an option set in one attempt ...
    r = s.check('False', LOOP_FIX)                                              # ... is back to its default in the next
    assert not r.accepted and r.status == 'ok' and 'ill-formed' in r.error
    assert s.check('True', 'Ltac t := exact I. t.').accepted and not s.check('True', 't.').accepted
    assert s.resets['restarts'] == 0 and s.resets['backto'] >= 9     # all by BackTo, each verified
    assert time.monotonic() - t0 < 5
    s.clean += 1                                                       # a reset that lands in the wrong state ...
    assert s.check('True', 'exact I.').accepted and s.resets['restarts'] == 1   # ... is noticed: a fresh coqtop replaces it
    assert not s.check('False', 'exact z.').accepted and s.resets['restarts'] == 1


# ---- Lean counterparts, on a scripted REPL (no Lean toolchain installs here; replies in the REPL's format) ----
from lmpapers.leanrl.lean import LeanOracle, LeanREPL

LEAN_FILTERED = [   # (name, proof): turned away before the REPL sees them
    ('native_decide', 'native_decide'), ('decide +native', 'decide +native'), ('ofReduceBool', 'exact Lean.ofReduceBool _ _ rfl'),
    ('run_meta', 'run_meta pure ()'), ('by_elab', 'exact by_elab pure (Lean.mkConst ``True.intro)'),
    ('elab', 'elab "cheat" : tactic => pure ()\ncheat'), ('macro', 'macro "cheat" : tactic => `(tactic| sorry)\ncheat'),
    ('syntax', 'syntax "cheat" : tactic\ncheat'), ('notation', 'notation "False" => True\ntrivial'),
    ('axiom', 'exact z\naxiom z : False'), ('opaque', 'exact z\nopaque z : False'), ('#eval', '#eval IO.Process.exit 0'),
    ('run_cmd', 'run_cmd pure ()'), ('run_tac', 'run_tac pure ()'), ('unsafe', 'exact unsafeCast ()'),
    ('implemented_by', 'exact (@[implemented_by id] fun x => x) 1'), ('maxHeartbeats 0', 'set_option maxHeartbeats 0 in\nsimp'),
    ('debug.skipKernelTC', 'set_option debug.skipKernelTC true in\ntrivial'), ('#exit', 'trivial\n#exit'),
    ('#print axioms', 'trivial\n#print axioms t'), ('import', 'trivial\nimport Foo'),
]

def _info(text):
    return {'messages': [{'severity': 'info', 'pos': {'line': 1, 'column': 0}, 'endPos': {'line': 1, 'column': 6}, 'data': text}], 'env': 99}

class ScriptedREPL:
    "Answers every proof command as elaborated (env 1 + attempt) and `#print axioms` with `report(name)`; records the requests."
    def __init__(self, report): self.report, self.sent, self.k = report, [], 0
    def send(self, request, timeout=None):
        self.sent.append(request)
        if request['cmd'].startswith('#print axioms '): return self.report(request['cmd'].split()[2])
        self.k += 1
        return {'env': 1 + self.k}
    def close(self): pass

LEAN_AUDITED = [    # (name, the REPL's answer to `#print axioms`, status)
    ('sorryAx', lambda n: _info(f"'{n}' depends on axioms: [propext, sorryAx]"), 'unsound'),
    ('Lean.ofReduceBool', lambda n: _info(f"'{n}' depends on axioms: [Lean.ofReduceBool]"), 'unsound'),
    ('Lean.trustCompiler', lambda n: _info(f"'{n}' depends on axioms: [Lean.trustCompiler, propext]"), 'unsound'),
    ('a declared axiom', lambda n: _info(f"'{n}' depends on axioms: [z]"), 'unsound'),
    ('a report about another name', lambda n: _info("'other' does not depend on any axioms"), 'unsound'),
    ('empty reply {}', lambda n: {}, 'empty'),             # an empty reply is its own status, never acceptance
    ('error reply', lambda n: {'message': 'Lean error: unknown constant'}, 'unsound'),
    ('whitelisted', lambda n: _info(f"'{n}' depends on axioms: [propext, Classical.choice, Quot.sound]"), 'ok'),
    ('no axioms', lambda n: _info(f"'{n}' does not depend on any axioms"), 'ok'),
]

def test_lean_filter_turns_away_every_escape():
    o = LeanOracle(LeanREPL(ScriptedREPL(lambda n: _info(f"'{n}' does not depend on any axioms"))))
    got = {n: o.check('theorem t : False', p) for n, p in LEAN_FILTERED}
    assert {n: (r.accepted, r.status, r.detail) for n, r in got.items()} == {n: (False, 'rejected', n) for n, _ in LEAN_FILTERED}
    assert o.repl.transport.sent == []

@pytest.mark.parametrize('name,report,status', LEAN_AUDITED, ids=[c[0] for c in LEAN_AUDITED])
def test_lean_axiom_audit(name, report, status):
    t = ScriptedREPL(report)
    o = LeanOracle(LeanREPL(t), header='import Mathlib')
    r = o.check('theorem t : 1 + 1 = 2 := by', 'norm_num')
    assert (r.accepted, r.status) == (status == 'ok', status)
    assert t.sent[-1] == {'cmd': '#print axioms t', 'env': 3}        # audited in the environment the proof produced
    r = o.check('example : True', 'trivial')                         # an example is audited under a fresh name
    assert t.sent[-2]['cmd'].startswith('theorem lmp_goal_') and t.sent[-1]['cmd'] == '#print axioms ' + t.sent[-2]['cmd'].split()[1]
    assert r.status == status
    assert all(q.get('env') == 2 for q in t.sent[1::2])              # every attempt starts from the header's environment (env 2)
