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
    out, p = run_in_sandbox('readlink /proc/self/ns/net; cat /proc/net/dev')   # the prover's own view
    mode = p.sandbox['mode']
    if mode != 'none':
        assert out.split()[0] != os.readlink('/proc/self/ns/net') and p.network.startswith(mode)
        assert {l.split(':')[0].strip() for l in out.splitlines()[3:]} <= {'lo'}
    p.kill()

# ---- the sandbox against escapes: each must be blocked (where bwrap is missing, what the fallback cannot hold is recorded) ----
from lmpapers.leanrl.sandbox import sandbox_mode
MODE = sandbox_mode()[0]
if MODE != 'bwrap' and os.environ.get('LMPAPERS_REQUIRE_BWRAP') == '1':
    raise RuntimeError(f'LMPAPERS_REQUIRE_BWRAP=1 but the sandbox here is {sandbox_mode()}')

def run_in_sandbox(script, limits=Limits(wall_s=10), wait=8.0):
    "Run a shell script as the prover; (its output, the ProverProcess) once it exits or `wait` passes."
    p = ProverProcess(['sh', '-c', script], limits, merge_stderr=True)
    end = time.monotonic() + wait
    while p.alive() and time.monotonic() < end: p.drain(); time.sleep(0.02)
    return p.drain(), p

def test_prover_runs_unprivileged_in_a_private_scratch_folder():
    out, p = run_in_sandbox('id -u; pwd; echo $TMPDIR; echo ok > inside && cat inside')
    uid, cwd, tmp, ok = out.split()[:4]
    assert cwd == tmp == p.sandbox['scratch'] and ok == 'ok'
    assert int(uid) != 0 and p.sandbox['user'] != 'root'
    p.kill(); assert not os.path.exists(cwd)                                   # the scratch folder goes with the prover

def test_writes_outside_the_scratch_folder_are_blocked(tmp_path):
    target = tmp_path/'escaped'                                                # a folder root may write to (as the prover may not)
    out, p = run_in_sandbox(f'echo x > {target}; echo x > /tmp/lmp_escape_$$; echo x > /dev/shm/lmp_escape; echo done')
    p.kill()
    assert 'done' in out and not target.exists()
    if MODE == 'bwrap':
        assert p.sandbox['readonly'] and not any(f.startswith('lmp_escape') for f in os.listdir('/tmp'))
    else:
        assert not p.sandbox['readonly']                                       # recorded: world-writable folders stay writable

def test_fork_bomb_file_bomb_and_cpu_are_limited():
    bomb = ("import os, time\nn, err = 0, None\nfor i in range(300):\n    try:\n        if os.fork() == 0: time.sleep(2); os._exit(0)\n"
            "        n += 1\n    except OSError as e: err = e; break\nprint('forked', n, err, flush=True)\ntime.sleep(5)")
    out, p = run_in_sandbox(f'python3 -c "{bomb}"', wait=1.5)                # 300 forks against the default nproc (256)
    p.kill()
    n = int(out.split('forked')[1].split()[0])
    assert n < 256 and 'Resource temporarily unavailable' in out, out
    out, p = run_in_sandbox('head -c 300000000 /dev/zero > big; echo status $?; echo bytes=$(stat -c %s big)')   # 300 MB, 64 MiB default
    p.kill()
    assert int(out.split('bytes=')[1].split()[0]) <= (64 << 20) and 'status 0' not in out, out   # SIGXFSZ stopped the writer
    out, p = run_in_sandbox('while :; do :; done', Limits(wall_s=10, cpu_s=1), wait=6)
    assert not p.alive() and 'CPU time limit' in _exit_text(p)
    p.kill()

def _exit_text(p):
    from lmpapers.leanrl.sandbox import _describe_exit
    return _describe_exit(p.proc.returncode)

def _available(m):
    try: return sandbox_mode(m)[0] == m
    except RuntimeError: return False

@pytest.mark.filterwarnings('ignore:prover sandbox')
@pytest.mark.parametrize('mode', ['bwrap', 'unshare', 'none'])
def test_a_setsid_child_does_not_survive_the_kill(mode):
    if not _available(mode): pytest.skip(f'{mode} does not start here: {mode} sandbox not tested')
    p = ProverProcess(['sh', '-c', 'setsid sh -c "while :; do sleep 0.05; done" & echo up; sleep 30'], Limits(wall_s=10, namespace=mode))
    assert p.sandbox['mode'] == mode
    p.read_until(lambda s: s.find('up') + 2 if 'up' in s else None, time.monotonic() + 5); time.sleep(0.1)
    # find the setsid child from outside: the `while` loop in the prover's tree
    from lmpapers.leanrl.sandbox import _descendants
    tree = _descendants(p.proc.pid)
    loops = [q for q in tree if b'while' in open(f'/proc/{q}/cmdline', 'rb').read()]
    assert loops
    sid = [int(open(f'/proc/{q}/stat').read().rsplit(')', 1)[1].split()[4]) for q in loops]
    assert all(s != os.getsid(p.proc.pid) for s in sid)                        # it is in a session of its own
    p.kill()
    def alive():
        out = []
        for q in loops:
            try: st = open(f'/proc/{q}/stat').read()
            except OSError: continue
            if st.rsplit(')', 1)[1].split()[0] != 'Z': out.append(q)
        return out
    deadline = time.monotonic() + 5                                             # SIGKILL is delivered asynchronously: on a busy machine a
    while alive() and time.monotonic() < deadline: time.sleep(0.05)             # killed process can take a moment to leave the table
    assert not alive()

def test_limits_validate():
    for bad in (dict(nproc=0), dict(fsize_mb=0), dict(cpu_s=-1), dict(namespace='docker'), dict(memory_mb=10)):
        with pytest.raises(ValueError): Limits(**bad)
    assert Limits().memory_mb >= 8192                                          # sized for `import Mathlib`

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
        r = s.check('Foo Bar Baz', 'exact I.')                         # a broken statement voids the attempt, no tactic is blamed
        assert (r.status, r.verdicts) == ('invalid', ['unchecked']) and 'statement' in r.error
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

def test_a_prover_outlives_the_thread_that_started_it():
    "A pool's worker thread ends after each batch: its prover must stay up (bwrap's parent-death signal follows the thread)."
    import threading
    box = []
    t = threading.Thread(target=lambda: box.append(ProverProcess(['cat'], Limits(wall_s=5)))); t.start(); t.join()
    time.sleep(0.1)
    p = box[0]
    p.send('still here\n')
    assert p.read_until(lambda s: s.find('\n') + 1 or None, time.monotonic() + 5) == 'still here\n'
    p.kill(); assert not p.alive()
