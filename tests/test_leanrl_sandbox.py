"The sandbox against a real prover: every escape, an infinite loop, a memory bomb, a killed worker; the pool survives all."
import os, shutil, time
import pytest
from lmpapers.leanrl.oracle import COQ_ESCAPES, LEAN_ESCAPES, find_escape
from lmpapers.leanrl.sandbox import Limits, ProverProcess, WorkerPool, network_isolation

HAVE_COQ = bool(shutil.which('coqtop'))
if not HAVE_COQ and os.environ.get('LMPAPERS_REQUIRE_COQ') == '1':
    raise RuntimeError('LMPAPERS_REQUIRE_COQ=1 but coqtop is not on PATH (apt-get install coq)')
needs_coq = pytest.mark.skipif(not HAVE_COQ, reason='coqtop not installed (apt-get install coq); LMPAPERS_REQUIRE_COQ unset')

COQ_TRIES = ['Drop.', 'Load "/etc/passwd".', 'Redirect "/tmp/lmp_redirect" Print nat.', 'Extraction "/tmp/lmp_extr.ml" nat.',
             'Recursive Extraction Library Datatypes.', 'Cd "/tmp".', 'Declare ML Module "unix".', 'Add LoadPath "/tmp" as X.',
             'Require Import Extraction.', 'Quit.', 'Admitted.', 'Abort.', 'exact I. Qed. Theorem t : False. Admitted.',
             'intros. (* ok *) Drop.', 'Reset Initial.', 'Back 2.']
LEAN_TRIES = ['#eval IO.Process.exit 0', 'run_cmd Lean.logInfo "x"', 'run_tac pure ()', 'unsafe def f : Nat := 1',
              'exact (IO.getEnv "HOME")', 'set_option maxHeartbeats 0 in\n  nlinarith', 'run_elab pure ()', '#exit']

def test_every_listed_escape_is_rejected_on_text():
    assert all(find_escape(p, 'coq') for p in COQ_TRIES)
    assert all(find_escape(p, 'lean') for p in LEAN_TRIES)
    assert not find_escape('intros n. induction n. reflexivity. simpl. rewrite IHn. reflexivity.', 'coq')
    assert not find_escape('nlinarith [sq_nonneg (a - b)] -- #eval in a comment\n  simp [IOU]', 'lean')

def test_network_isolation_is_detected_and_recorded():
    prefix, status = network_isolation()
    assert status.startswith('unshare') == bool(prefix) and (prefix or status.startswith('none'))
    if prefix:   # inside the namespace there is only a loopback interface
        import subprocess
        r = subprocess.run(prefix + ['cat', '/proc/net/dev'], capture_output=True, text=True, timeout=10)
        names = {l.split(':')[0].strip() for l in r.stdout.splitlines()[2:]}
        assert names <= {'lo'}
        p = ProverProcess(['cat'], Limits(wall_s=5))          # provers start inside it
        p.send('x\n'); p.read_until(lambda s: s.find('\n') + 1 or None, time.monotonic() + 5)   # cat runs: unshare is done
        assert os.readlink(f'/proc/{p.proc.pid}/ns/net') != os.readlink('/proc/self/ns/net')
        assert p.network.startswith('unshare')
        p.kill()

@needs_coq
def test_pool_survives_escapes_loop_memory_and_a_killed_worker():
    from lmpapers.leanrl.coq import CoqOracle
    for f in ('/tmp/lmp_redirect.out', '/tmp/lmp_extr.ml'):
        if os.path.exists(f): os.remove(f)
    # 800 MiB: the axiom audit after a `lia` proof reads the library's opaque proofs (about 420 MB resident in coqtop 8.16)
    with CoqOracle(Limits(wall_s=3, memory_mb=800), n_workers=2) as o:
        items = [('True', p) for p in COQ_TRIES] + [
            ('True', 'do 1000000000 (idtac; idtac). exact I.'),                        # effectively an infinite loop
            ('True', 'pose (x := List.repeat (List.repeat 0 10000) 10000). compute in x. exact I.'),   # memory bomb
            ('forall n : nat, n + 0 = n', 'intros n. lia.')]
        res = o.check_many(items)
        assert [r.status for r in res[:len(COQ_TRIES)]] == ['rejected'] * len(COQ_TRIES)
        assert res[-3].status == 'timeout' and res[-3].verdicts[0] == 'failed'
        assert res[-2].status == 'memory'
        assert res[-1].accepted and res[-1].status == 'ok'
        assert o.stats['restarts'] >= 2
        # kill a live worker's prover from outside: the next attempt on it is recorded, the pool restarts it, the batch completes
        w = next(w for w in o.pool.workers if w is not None)
        os.killpg(w.proc.proc.pid, 9)
        after = o.check_many([('True', 'exact I.')] * 4)
        assert len(after) == 4 and sum(r.accepted for r in after) >= 3
        assert {r.status for r in after} <= {'ok', 'crashed'}
    assert not os.path.exists('/tmp/lmp_redirect.out') and not os.path.exists('/tmp/lmp_extr.ml')

@needs_coq
def test_coq_verdicts_positions_and_incomplete_proofs():
    from lmpapers.leanrl.coq import CoqSession
    s = CoqSession(Limits(wall_s=10))
    try:
        r = s.check('forall P Q : Prop, P /\\ Q -> Q /\\ P', 'intros P Q H. destruct H as [HP HQ]. split. exact HP. exact HQ.')
        assert r.verdicts == ['sound', 'sound', 'sound', 'failed', 'after'] and r.error_pos == r.tactics[3].start
        r = s.check('forall P Q : Prop, P /\\ Q -> Q /\\ P', 'intros P Q H. destruct H as [HP HQ]. split.\n- exact HQ.\n- exact HP.')
        assert r.accepted and r.sound_prefix == 7
        r = s.check('1 = 1', 'admit.')
        assert not r.accepted and r.status == 'rejected'              # admit is turned away by the filter (Qed would refuse it too)
        r = s.check('True', 'exact I')                                # no final period
        assert r.verdicts == ['failed'] and 'unterminated' in r.error
        with pytest.raises(ValueError, match='statement'): s.check('Foo Bar Baz', 'exact I.')
        # malformed input (an unclosed bracket) must not leave stale replies for the next attempt
        assert s.check('True', 'destruct H as [HA HB. exact I.').verdicts[0] == 'failed'
        assert s.check('forall P : Prop, P -> P', 'intros P H. exact H.').accepted
    finally: s.close()

def test_pool_records_a_raising_worker():
    class Boom:
        def check(self, s, p): raise OSError('gone')
        def close(self): pass
    pool = WorkerPool(Boom, 2)
    out = pool.check_many([('a', 'b')] * 3)
    assert [r.status for r in out] == ['crashed'] * 3 and pool.stats['restarts'] == 3
    with pytest.raises(ValueError): WorkerPool(Boom, 0)
    with pytest.raises(ValueError): Limits(wall_s=0)
