"Statistical and property tests of the budgeted multi-judge estimators (lmpapers.judges)."
import math
import numpy as np
import pytest
from lmpapers.judges.theory import (oracle_risk, uniform_risk, allocation_risk, assouad_bound, assouad_relaxed,
                                    oracle_allocation, best_judge, abs_moment)
from lmpapers.judges.estimators import (Stats, GaussianPool, CategoricalPool, make_instance, est_ivwe, ivwe, lp_error,
                                        round_allocation, uniform_allocation, cheapest_allocation, neyman_allocation,
                                        oracle_integer_allocation, compare, check_budget)
from lmpapers.judges.lower_bound import fano_bound


@pytest.mark.parametrize('p', [1, 2, 3])
def test_oracle_risk_matches_monte_carlo(p):
    inst = make_instance(30, 3, 'hetero', 5); pool = GaussianPool(inst['theta'], inst['var'])
    B = 200 * 30 * inst['cost'].sum(); rng = np.random.default_rng(p)
    n = oracle_integer_allocation(inst['var'], inst['cost'], B, p)
    errs = np.array([lp_error(ivwe(pool.sample(n, rng), inst['var']), inst['theta'], p) ** p for _ in range(3000)])
    se = errs.std() / math.sqrt(len(errs))
    assert abs(errs.mean() - oracle_risk(inst['var'], inst['cost'], B, p)) < 4 * se + 0.01 * errs.mean()


@pytest.mark.parametrize('seed', range(5))
def test_oracle_allocation_is_optimal_among_feasible(seed):
    rng = np.random.default_rng(seed)
    var, cost = rng.lognormal(0, 1, (8, 4)), rng.uniform(0.5, 5, 4)
    for p in (1, 2, 5):
        best = oracle_risk(var, cost, 100., p)
        n = rng.dirichlet(np.ones(32)).reshape(8, 4) * 100. / cost
        assert allocation_risk(n, var, p) >= best * (1 - 1e-12)


@pytest.mark.parametrize('seed', range(20))
def test_rounding_properties(seed):
    rng = np.random.default_rng(seed)
    K, J = rng.integers(1, 30), rng.integers(1, 5)
    var, cost = rng.lognormal(0, 1, (K, J)), rng.uniform(0.2, 10, J)
    B = K * cost.min() * rng.uniform(1, 200)
    for n in (uniform_allocation(K, cost, B), cheapest_allocation(K, cost, B), neyman_allocation(var, cost, B),
              oracle_integer_allocation(var, cost, B, 2)):
        assert np.all(n >= 0) and np.all(n == np.round(n)) and np.all(n.sum(1) >= 1)
        assert (n * cost).sum() <= B + 1e-9


def test_bad_inputs():
    inst = make_instance(10, 3)
    with pytest.raises(ValueError, match='cannot query every one'): uniform_allocation(10, inst['cost'], 5.)
    with pytest.raises(ValueError, match='> 0'): check_budget(0., 10, inst['cost'])
    with pytest.raises(ValueError, match='> 0'): oracle_risk(inst['var'], [1., -1., 2.], 100.)
    with pytest.raises(ValueError, match='J=3'): oracle_risk(inst['var'], [1., 2.], 100.)
    with pytest.raises(ValueError, match='> 0'): best_judge(np.full((2, 2), np.nan), [1., 1.])
    with pytest.raises(ValueError, match='finite'): Stats.from_answers(2, 2, [0, 1], [0, 0], [1.0, np.inf])
    with pytest.raises(ValueError, match='no usable answer'): ivwe(Stats.zeros(3, 2), np.ones((3, 2)))
    with pytest.raises(ValueError, match='cannot query every one'):
        est_ivwe(GaussianPool(inst['theta'], inst['var']), inst['cost'], 5., value_range=2.)
    with pytest.raises(TypeError, match='budget must be a number'): check_budget('100', 10, inst['cost'])
    with pytest.raises(TypeError, match='shape'): check_budget(np.ones(2), 10, inst['cost'])


def test_est_ivwe_allocation_converges_to_oracle():
    "EST-IVWE's allocation risk (true variances, its own counts) approaches the oracle's as B grows."
    inst = make_instance(30, 4, 'hetero', 7); pool = GaussianPool(inst['theta'], inst['var'])
    ratios = []
    for mult in (32, 4096):
        B = mult * 30 * inst['cost'].sum(); rng = np.random.default_rng(mult)
        r = [allocation_risk(est_ivwe(pool, inst['cost'], B, value_range=2., rng=rng)[1].n, inst['var']) for _ in range(6)]
        ratios.append(np.mean(r) / oracle_risk(inst['var'], inst['cost'], B))
    assert ratios[1] < ratios[0] and ratios[1] < 1.15, ratios


def test_est_beats_uniform_and_tracks_oracle():
    inst = make_instance(30, 4, 'hetero', 3); pool = GaussianPool(inst['theta'], inst['var'])
    B = 1024 * 30 * inst['cost'].sum(); rng = np.random.default_rng(0)
    e = np.array([list(compare(pool, inst['cost'], B, 2, 2., rng).values()) for _ in range(30)])
    rms = dict(zip(('uniform', 'cheapest', 'neyman', 'oracle', 'uniform_est', 'est'), np.sqrt((e ** 2).mean(0))))
    assert rms['est'] < 0.8 * rms['uniform'] and rms['est'] < 1.2 * rms['oracle']


def test_plugin_variances_starve_items_on_discrete_ratings():
    "With 0-4 ratings a zero sample variance is common; the plug-in allocation then stops sampling an item."
    rng = np.random.default_rng(0)
    K = 30
    theta = rng.uniform(0.3, 3.7, K)
    from lmpapers.judges.helpsteer import rating_distribution
    probs = np.stack([[rating_distribution(t, v) for v in (0.6, 0.25)] for t in theta])
    pool = CategoricalPool(probs); pool.theta = theta
    cost = np.array([1., 3.]); B = 200 * K * cost.sum()
    opt = np.mean([lp_error(est_ivwe(pool, cost, B, value_range=4., rng=rng)[0], theta) ** 2 for _ in range(10)])
    plug = np.mean([lp_error(est_ivwe(pool, cost, B, value_range=4., optimism=False, shrink=False, rng=rng)[0], theta) ** 2 for _ in range(10)])
    assert plug > 1.2 * opt, (plug, opt)


@pytest.mark.parametrize('p', [1, 2, 4])
def test_lower_bound_below_every_method_and_same_rate(p):
    inst = make_instance(24, 3, 'hetero', 11); pool = GaussianPool(inst['theta'], inst['var'])
    Bs = [16 * 24 * inst['cost'].sum(), 256 * 24 * inst['cost'].sum()]
    lbs = [assouad_bound(inst['var'], inst['cost'], B, p) for B in Bs]
    rng = np.random.default_rng(p)
    for B, lb in zip(Bs, lbs):
        assert lb <= assouad_relaxed(inst['var'], inst['cost'], B, p) * (1 + 1e-9)
        e = np.array([list(compare(pool, inst['cost'], B, p, 2., rng).values()) for _ in range(20)])
        assert np.all((e ** p).mean(0) > lb)
    # same B^(-p/2) rate as the oracle: the ratio is constant in B
    r = [oracle_risk(inst['var'], inst['cost'], B, p) / lb for B, lb in zip(Bs, lbs)]
    assert abs(r[0] / r[1] - 1) < 0.02


def test_fano_loses_heterogeneity():
    rng = np.random.default_rng(0); cost = np.array([1., 3.])
    homo = 0.1 * np.ones((64, 2)); het = 0.1 * np.exp(2 * rng.standard_normal((64, 1))) * np.ones((64, 2))
    B = 1e4
    f = [fano_bound(v, cost, B) / oracle_risk(v, cost, B) for v in (homo, het)]
    a = [assouad_bound(v, cost, B) / oracle_risk(v, cost, B) for v in (homo, het)]
    assert f[1] < 0.05 * f[0] and abs(a[1] / a[0] - 1) < 0.2
