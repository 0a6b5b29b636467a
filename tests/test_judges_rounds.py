"One implementation of the EST-IVWE rounds: offline (est_ivwe, allocate_scores) and live (OnlineAllocator) agree; input checks; the small-budget fallback; calibration and PPI."
import json, warnings
import numpy as np
import pytest
from lmpapers.judges.estimators import (Stats, GaussianPool, Rounds, est_ivwe, allocate_scores, ScoresPool, calibrate, ppi_mean,
                                        likert_pool, make_instance, uniform_allocation, check_answers, lp_error, variance_estimates)
from lmpapers.judges.online import FunctionJudge, OnlineAllocator, QueryLog, scores_from_log


def _scores(K=10, J=3, R=30, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(1, 4, K)
    return truth, np.clip(truth[:, None, None] + np.array([1.0, 0.5, 0.3])[:J, None] * rng.standard_normal((K, J, R)), 0, 5)


@pytest.mark.parametrize('levels', [None, (0, 5)])
def test_live_and_offline_use_the_same_rounds(tmp_path, levels):
    "Judges that replay a score matrix: OnlineAllocator asks exactly what allocate_scores uses, and the estimates agree (also with the discrete-score model)."
    truth, sc = _scores(R=200)                                  # enough scores that no pair runs out
    if levels: sc = np.rint(sc)
    cost = [1., 3., 9.]
    used = {}
    def replay(j):
        def f(p, r):
            k = int(p[1:]); i = used.get((k, j), 0); used[(k, j)] = i + 1
            return float(sc[k, j, i])
        return f
    judges = [FunctionJudge(replay(j), f'j{j}', c) for j, c in enumerate(cost)]
    a = OnlineAllocator([(f'p{k}', 'r') for k in range(10)], judges, 600., tmp_path / 'log.jsonl', workers=1, value_range=5., levels=levels)
    est_live, se_live = a.run(progress=False), a.estimates(se=True)[1]
    off = allocate_scores(sc, cost, 600., value_range=5., levels=levels)
    st, spent, fails = a.state()
    assert fails.sum() == 0 and np.all(off.n < 200)
    np.testing.assert_array_equal(st.n, off.n)
    np.testing.assert_allclose(est_live, off.estimates, rtol=1e-10); np.testing.assert_allclose(se_live, off.se, rtol=1e-10)
    assert spent == off.spent
    # and the log replays into the same matrix order
    s2, c2, names = scores_from_log(tmp_path / 'log.jsonl')
    assert names == ['j0', 'j1', 'j2'] and list(c2) == cost
    np.testing.assert_array_equal((~np.isnan(s2)).sum(-1), st.n)


def test_lone_answer_has_the_same_weight_everywhere(tmp_path):
    "An item-judge pair with one answer: finite weight in Rounds.estimates, and the live allocator returns the same numbers."
    st = Stats.from_answers(2, 2, [0, 0, 0, 1, 1, 1, 1], [0, 1, 1, 0, 0, 1, 1], [2., 3., 3.4, 1., 1.2, 1.5, 1.7])
    r = Rounds(2, [1., 1.], 100., value_range=4.)
    est, se = r.estimates(st)
    _, _, hi = variance_estimates(st, 4.)
    assert np.isfinite(hi[0, 0]) and hi[0, 0] > 0 and np.all(np.isfinite(est)) and np.all(se > 0)
    assert min(est[0] - 2., 3.2 - est[0]) > 0                   # the lone answer (2.0) counts, but less than the pair of answers
    log = QueryLog(tmp_path / 'l.jsonl')
    items = [('a', 'x'), ('b', 'y')]
    a = OnlineAllocator(items, [FunctionJudge(len, 'u', 1.), FunctionJudge(len, 'v', 1.)], 100., log.path, value_range=4.)
    for q, (k, j, v) in enumerate(zip([0, 0, 0, 1, 1, 1, 1], [0, 1, 1, 0, 0, 1, 1], [2., 3., 3.4, 1., 1.2, 1.5, 1.7])):
        log.append(dict(type='query', id=str(q), item=k, judge=j, cost=1., status='ok', value=v))
    np.testing.assert_allclose(a.estimates(), est, rtol=1e-12)


def test_numpy_scalars_accepted_everywhere(tmp_path):
    inst = make_instance(8, 3, 'hetero', 0); pool = GaussianPool(inst['theta'], inst['var'])
    B = np.array(50 * 8 * inst['cost'].sum())                   # a 0-d array
    est, st = est_ivwe(pool, inst['cost'], B, p=np.int64(2), value_range=np.float32(2.), rng=0)
    assert st.spent(inst['cost']) <= float(B) and np.all(np.isfinite(est))
    truth, sc = _scores(4, 2, 10)
    assert allocate_scores(sc, np.array([1., 2.]), np.float64(40.), value_range=(np.int64(0), np.int64(5))).spent <= 40
    j = FunctionJudge(lambda p, r: np.float32(2.0), 'np', np.int64(2))
    a = OnlineAllocator([('a', 'b'), ('c', 'd')], [j], np.float32(20.), tmp_path / 'n.jsonl', workers=1)
    assert np.allclose(a.run(progress=False), 2.0)
    j0 = FunctionJudge(lambda p, r: np.array(3.0), 'zero-d', 1.)
    a0 = OnlineAllocator([('a', 'b')], [j0], 5., tmp_path / 'z.jsonl', workers=1)
    assert np.allclose(a0.run(progress=False), 3.0)
    with pytest.raises(TypeError, match='budget must be a number'): est_ivwe(pool, inst['cost'], np.ones(2))


def test_value_range_policy(tmp_path):
    truth, sc = _scores(6, 2, 8)
    with pytest.warns(UserWarning, match='wider than value_range=4'): allocate_scores(sc * 2, [1., 2.], 50., value_range=4.)
    with pytest.raises(ValueError, match='outside value_range'): allocate_scores(sc * 2, [1., 2.], 50., value_range=(0, 5), on_range='raise')
    r = allocate_scores(sc * 2, [1., 2.], 1e4, value_range=(0, 5), on_range='clip')
    assert np.all(r.estimates <= 5)
    with warnings.catch_warnings():
        warnings.simplefilter('error'); allocate_scores(sc, [1., 2.], 50., value_range=(0, 5))   # in range: silent
    # live: an out-of-range answer is a failure under 'raise', clipped under 'clip'
    for policy, expect in (('raise', 'error'), ('clip', 'ok')):
        a = OnlineAllocator([('a', 'b')], [FunctionJudge(lambda p, r: 7.0, 'seven', 1.)], 3., tmp_path / f'{policy}.jsonl',
                            workers=1, value_range=(0, 4), on_range=policy, max_failures=1)
        if expect == 'error':
            with pytest.warns(UserWarning, match='no usable answer'): a.run(progress=False)
        else: a.run(progress=False)
        recs = [x for x in a.log.read() if x.get('type') == 'query']
        assert recs[0]['status'] == expect and (expect == 'error' or recs[0]['value'] == 4.0)
        if expect == 'error': assert 'outside value_range' in recs[0]['error']
    with pytest.raises(ValueError, match='on_range must be'): check_answers([1.], 4., 'loud')


def test_allocate_scores_with_gold_labels():
    "Collected scores from offset judges: the gold option removes the offsets (the documented three-line use)."
    truth, sc = _scores(30, 3, 40, seed=5)
    biased = sc + np.array([0.5, -0.4, 0.3])[:, None]
    g = np.arange(0, 30, 4)
    raw = allocate_scores(biased, [1., 4., 10.], 30 * 200., value_range=(-1, 6))
    cal = allocate_scores(biased, [1., 4., 10.], 30 * 200., value_range=(-1, 6), gold=(g, truth[g]))
    rest = np.setdiff1d(np.arange(30), g)
    assert lp_error(cal.estimates[rest], truth[rest]) < 0.6 * lp_error(raw.estimates[rest], truth[rest])
    assert abs((cal.estimates - truth)[rest].mean()) < 0.3 * abs((raw.estimates - truth)[rest].mean())   # the net offset is gone


def test_small_budget_fallback_spreads_uniformly():
    "Below the exploration cost n0*K*sum(c) the budget is spread uniformly, spent, and no item is left out."
    inst = make_instance(20, 3, 'hetero', 1); pool = GaussianPool(inst['theta'], inst['var'])
    B = 1.7 * 20 * inst['cost'].sum()
    r = Rounds(20, inst['cost'], B)
    assert r.fallback
    est, st = est_ivwe(pool, inst['cost'], B, value_range=2., rng=0)
    assert st.spent(inst['cost']) > B - inst['cost'].max() and st.n.min() >= 1 and np.isfinite(est).all()
    assert np.all(st.n.max(0) - st.n.min(0) <= 1)                # per judge, as even as integers allow


def test_est_never_worse_than_uniform_with_the_same_weights():
    "At the smallest budget of the experiment grid, EST-IVWE against uniform weighted the same way (paired seeds)."
    inst = make_instance(40, 4, 'judges', 2000); pool = GaussianPool(inst['theta'], inst['var'])
    B = 4 * 40 * inst['cost'].sum(); rng = np.random.default_rng(0)
    e, u = [], []
    for _ in range(40):
        e.append(lp_error(est_ivwe(pool, inst['cost'], B, value_range=2., rng=rng)[0], inst['theta']) ** 2)
        rr = Rounds(40, inst['cost'], B, value_range=2.)
        u.append(lp_error(rr.estimates(pool.sample(uniform_allocation(40, inst['cost'], B), rng))[0], inst['theta']) ** 2)
    assert np.mean(e) < np.mean(u), (np.mean(e), np.mean(u))


def test_calibration_and_ppi():
    rng = np.random.default_rng(3)
    th = rng.uniform(1.3, 4.7, 40)
    bias = np.array([0.4, -0.3, 0.5]) + rng.standard_normal((40, 3)) * np.array([0.2, 0.1, 0.05])
    pool = likert_pool(th, np.tile([1.0, 0.5, 0.25], (40, 1)), (1, 5), bias)
    cost = np.array([1., 4., 16.]); B = 100 * 40 * cost.sum()
    g = np.arange(0, 40, 5); rest = np.setdiff1d(np.arange(40), g)
    raw, cal, mp, mc = [], [], [], []
    for _ in range(4):
        e0, _ = est_ivwe(pool, cost, B, value_range=4., rng=rng)
        e1, st = est_ivwe(pool, cost, B, value_range=4., rng=rng, gold=(g, th[g]))
        raw.append(lp_error(e0[rest], th[rest])); cal.append(lp_error(e1[rest], th[rest]))
        np.testing.assert_array_equal(e1[g], th[g])             # gold items keep their gold score
        mp.append(ppi_mean(th[g], e0[g], e0[rest])[0] - th.mean()); mc.append(e1.mean() - th.mean())
    assert np.mean(cal) < 0.5 * np.mean(raw)
    assert abs(np.mean(mp)) < 0.15 and abs(np.mean(mc)) < 0.1      # both means nearly unbiased; the raw one is off by ~0.2
    c = calibrate(st, g, th[g], np.ones((40, 3)) * 0.1, mode='affine')
    assert c.gamma.shape == (3,) and np.all(c.tau2 >= 0)
    with pytest.raises(ValueError, match='distinct'): calibrate(st, [1, 1], [2., 2.], np.ones((40, 3)))
    # PPI is unbiased for the mean of the items at hand, with an honest standard error
    z = []
    for _ in range(300):
        f = th + 0.5 + 0.3 * rng.standard_normal(40); gg = rng.choice(40, 8, replace=False); rr = np.setdiff1d(np.arange(40), gg)
        m, se = ppi_mean(th[gg], f[gg], f[rr]); z.append((m - th.mean()) / se)
    assert abs(np.mean(z)) < 0.25 and 0.7 < np.std(z) < 1.4
