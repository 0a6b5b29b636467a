"""The CaDDTree-style stop rule (notebook 46, (5)) and the per-category oracle DDTree of the experiment (notebook 49):
on a convex measured cost the first failure of the marginal rule is the best prefix by throughput, found here by trying
every size; the oracle takes each category's fastest budget; the BASTION / other ratio and its interval come from the rows."""
import numpy as np
import pytest
import torch
from lmpapers.bastion.trees import ConvexLatency, caddtree_tree, convex_minorant, fixed_budget_tree, path_confidence
from lmpapers.bastion.experiment import oracle_budget_rows, ratio_interval

def _lq(seed, sharp):
    return (torch.randn(8, 64, generator=torch.Generator().manual_seed(seed)) * sharp).log_softmax(-1)

@pytest.mark.parametrize('seed', range(4))
def test_caddtree_cut_is_the_best_prefix_on_a_convex_cost(seed):
    rng = np.random.default_rng(seed)
    sizes = [1, 2, 4, 8, 12, 16, 24, 32, 64, 128]
    prof = {n: list(1.0 + 0.01 * max(0, n - 8) ** 1.3 + rng.exponential(0.05, 5)) for n in sizes}   # noisy, one-sided
    lat = ConvexLatency(prof)
    t = lat.curve(300)
    assert (np.diff(t) >= -1e-12).all() and (np.diff(t, 2) >= -1e-12).all()
    for sharp in (1.0, 3.0, 6.0):
        lq = _lq(seed, sharp)
        full = fixed_budget_tree(lq, 250)
        E = 1 + np.concatenate([[0.0], np.cumsum(path_confidence(full).numpy())])
        best = int(np.argmax(E / (0.2 + t[:251])))
        tree = caddtree_tree(lq, lat, 0.2, 250)
        assert tree.n == best and tree.tokens.tolist() == full.tokens[:best].tolist()

def test_caddtree_sizes_follow_confidence_and_cost():
    lat = ConvexLatency({n: 1.0 + 0.004 * n for n in (1, 4, 16, 64, 256)})
    sizes = [caddtree_tree(_lq(0, s), lat, 0.1).n for s in (0.5, 2.0, 5.0)]
    assert sizes[0] < sizes[1] < sizes[2], sizes                    # sharper marginals: deeper trees pay
    steep = ConvexLatency({n: 1.0 + 0.05 * n for n in (1, 4, 16, 64, 256)})
    assert caddtree_tree(_lq(0, 5.0), steep, 0.1).n < sizes[2]      # a costlier verify pass: smaller trees
    with pytest.raises(ValueError, match='draft_seconds'): caddtree_tree(_lq(0, 1.0), lat, -1.0)
    with pytest.raises(ValueError, match='increasing'): convex_minorant([1, 1], [0, 1])

def test_oracle_rows_and_ratio_interval():
    rows = []
    for p, cat in enumerate(['a', 'a', 'b', 'b']):
        for m, w in (('ar', 4.0), ('d8', 1.0 if cat == 'a' else 3.0), ('d16', 2.0), ('bas', 1.0)):
            rows.append(dict(method=m, prompt=p, category=cat, wall=w, new=10))
    orows, pick = oracle_budget_rows(rows, ['d8', 'd16'], 'oracle')
    assert pick == {'a': 'd8', 'b': 'd16'} and [r['wall'] for r in orows] == [1.0, 1.0, 2.0, 2.0]
    assert all(r['method'] == 'oracle' for r in orows) and all(r['method'] != 'oracle' for r in rows)   # copies, input untouched
    v, (lo, hi) = ratio_interval(rows + orows, 'bas', 'oracle')
    assert v == pytest.approx(1.5) and 1.0 <= lo <= v <= hi <= 2.0
    v, (lo, hi) = ratio_interval(rows, 'bas', 'ar')
    assert v == lo == hi == pytest.approx(4.0)
    with pytest.raises(ValueError, match='no rows'): ratio_interval(rows, 'bas', 'missing')
    with pytest.raises(ValueError, match='at least one'): oracle_budget_rows(rows, [], 'oracle')

def test_roofline_latency_fits_a_knee_between_profiled_sizes_and_the_context():
    from lmpapers.bastion.trees import RooflineLatency
    rng = np.random.default_rng(1)
    true = lambda n, L: 2.0 + 0.001 * L + 0.02 * max(0, n - 40)
    prof = {(n, L): [true(n, L) * rng.lognormal(0, 0.01) for _ in range(4)] for n in (1, 4, 16, 32, 64, 128) for L in (64, 512)}
    lat = RooflineLatency(prof, quantile=0.5, knots=100)
    assert 34 < lat.knee < 46 and lat.knee not in (32, 64)                 # between the profiled sizes, fitted
    for n, L in ((10, 300), (50, 100), (100, 450)): assert lat(n, L) == pytest.approx(true(n, L), rel=0.02)
    t = lat.curve(200, context=300)
    assert (np.diff(t) >= -1e-12).all() and (np.diff(t, 2) >= -1e-12).all()
    with pytest.raises(ValueError, match='two tree sizes'): RooflineLatency({(8, 64): 1.0, (8, 128): 1.0})
