"The pass@k pipeline: MiniF2F and ProofNet through `datasets` from the local copy, the unbiased estimator against enumeration, and the harness (plain and self-correction) on live Coq and on the scripted Lean REPL."
import itertools, math, os, random, shutil, sys
from collections import Counter
from fractions import Fraction
from pathlib import Path
import pytest
from lmpapers.core.scales import ScaleUnavailable
from lmpapers.leanrl.passk import (benchmark_folder, feedback_prompt, lean_oracles, load_minif2f, load_proofnet, mean_pass_at_k,
                                   pass_at_k, pass_at_k_unbiased)
from lmpapers.leanrl.oracle import CheckResult
from lmpapers.leanrl.sandbox import Limits, shareable_copy

DATA = Path(__file__).parent/'data'/'leanrl'
HAVE_BENCH = benchmark_folder() is not None
PY = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable

@pytest.mark.skipif(not HAVE_BENCH, reason='no local copy of shared/data/lean-benchmarks')
def test_benchmarks_load_from_the_local_copy():
    mf, pn = load_minif2f(), load_proofnet(split='valid')
    assert (len(mf), len(pn)) == (488, 185) and mf.column_names == ['name', 'statement', 'header', 'split']
    assert Counter(mf['split']) == Counter(valid=244, test=244) and set(pn['split']) == {'valid'}
    assert all(s.startswith(('theorem ', 'def ', 'noncomputable def ')) and not s.rstrip().endswith((':=', ':= by')) for s in list(mf['statement']) + list(pn['statement']))
    assert len(set(mf['header'])) == 1 and len(set(pn['header'])) == 20   # ProofNet headers differ (opens, local definitions): one Lean oracle each
    assert sum(' def ' in ' ' + s[:20] for s in load_proofnet()['statement']) == 14   # ProofNet also asks for definitions (e.g. a CommGroup)
    with pytest.raises(ScaleUnavailable, match='no such file'): load_minif2f('/nonexistent/minif2f.jsonl')
    with pytest.raises(ValueError, match="split 'train' not in"): load_minif2f(split='train')

def test_unbiased_estimator_against_enumeration(fresh_seeds):
    for n in range(1, 8):
        for c in range(n + 1):
            s = [1] * c + [0] * (n - c)
            for k in range(1, n + 1):
                subs = list(itertools.combinations(range(n), k))
                want = Fraction(sum(any(s[i] for i in sub) for sub in subs), len(subs))
                assert abs(pass_at_k_unbiased(n, c, k) - float(want)) < 1e-12, (n, c, k)
    r = random.Random(fresh_seeds(1)[0])
    for _ in range(20):                                      # large n: the product form against exact big-integer binomials
        n = r.randint(50, 2000); c = r.randint(0, n); k = r.randint(1, n)
        assert abs(pass_at_k_unbiased(n, c, k) - float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))) < 1e-12, (n, c, k)
    assert mean_pass_at_k([0, 8], 8, 8) == 0.5
    for bad in ((0, 0, 1), (4, 5, 1), (4, 1, 0), (4, 1, 5)):
        with pytest.raises(ValueError): pass_at_k_unbiased(*bad)
    with pytest.raises(TypeError): pass_at_k_unbiased(4, 1.0, 1)

LIB = {'forall P Q : Prop, P -> P \\/ Q': ['intros P Q H. right. exact H.', 'intros P Q H. left. exact H.'], '2 + 2 = 4': ['reflexivity.', 'exact I.']}

def library_sampler(prompts, seed):
    "Draws each proof from a list of candidates; a revision prompt excludes the candidate its error comment names."
    r, out = random.Random(seed), []
    for p in prompts:
        cands = LIB[p.split('Theorem: ', 1)[1].rsplit('.\nProof.', 1)[0]]
        if p.startswith('(* failed attempt: '): cands = [c for c in cands if c not in p.split(' error: ')[0]] or cands
        out.append(r.choice(cands))
    return out

@pytest.mark.skipif(not shutil.which('coqtop'), reason='coqtop not installed')
def test_harness_on_live_coq_plain_and_self_correction(fresh_seeds):
    from lmpapers.leanrl.coq import CoqOracle
    ths = [dict(name='or_l', statement='forall P Q : Prop, P -> P \\/ Q'), dict(name='two', statement='2 + 2 = 4')]
    seed = fresh_seeds(1)[0]
    with CoqOracle(Limits(wall_s=10, memory_mb=1024), n_workers=1) as coq:
        plain = pass_at_k(library_sampler, coq, ths, n=6, ks=(1, 3, 6), seed=seed)
        sc = pass_at_k(library_sampler, coq, ths, n=6, ks=(1, 3, 6), mode='self_correction', seed=seed)
        with pytest.raises(ValueError, match='every k must be'): pass_at_k(library_sampler, coq, ths, n=2, ks=(4,))
        with pytest.raises(ValueError, match='returned 1 completions for 4'): pass_at_k(lambda p, s: ['x'], coq, ths, n=2)
    c = [p['correct'] for p in plain['per_theorem']]
    assert plain['pass_at'] == {k: mean_pass_at_k(c, 6, k) for k in (1, 3, 6)} and plain['statuses'] == {'ok': 12}
    assert sc['first_round'] == plain['pass_at']           # round one is plain sampling at the same seed
    assert sc['pass_at'] == {1: 1.0, 3: 1.0, 6: 1.0} and sc['fixed_by_feedback'] == 12 - sum(c) and sc['attempts'] == 24 - sum(c)

def test_harness_lean_path_on_the_scripted_repl():
    rows = [dict(name='a', statement='theorem a (x : Nat) : x = x', header='import Mathlib\n'),
            dict(name='b', statement='theorem b : True', header='import Mathlib\nopen Real\n')]
    prompts = []
    def sampler(ps, seed):
        prompts.extend(ps)
        return [[{'role': 'assistant', 'content': '```lean4\nsimp\n```'}] if 'lmp_wrong' in p else '' if i % 2 else 'exact lmp_wrong'
                for i, p in enumerate(ps)]
    oracles = lean_oracles(rows, argv=[PY, str(shareable_copy(DATA/'scripted_repl.py'))], limits=Limits(wall_s=5))
    assert len(oracles) == 2
    try: res = pass_at_k(sampler, oracles, rows, n=2, ks=(1, 2), mode='self_correction')
    finally:
        for o in oracles.values(): o.close()
    assert (res['first_round'], res['pass_at']) == ({1: 0.0, 2: 0.0}, {1: 0.5, 2: 1.0})
    assert res['statuses'] == {'ok': 4, 'no_proof': 4}
    assert prompts[2] == 'import Mathlib\nopen Real\ntheorem b : True := by\n'
    assert prompts[4] == "import Mathlib\n/- failed attempt: exact lmp_wrong error: unknown identifier 'lmp_wrong' -/\ntheorem a (x : Nat) : x = x := by\n"

def test_feedback_prompt_cannot_close_its_comment():
    bad = CheckResult([], [], False, 'ok', error='*) Axiom x : False. (*')
    p = feedback_prompt(dict(statement='True'), 'exact I. *)', bad)
    assert p.count('*)') == 1 and p.endswith('*)\nTheorem: True.\nProof.')
