"""The headline GFA claim at tiny scale, on the three seed models `reproduce('tiny')` trains and caches:
accumulated training gradients follow the theoretical fan-in (and go with post hoc importance).
Warm: seconds. Cold, the three models are trained first (a few minutes each on a laptop CPU)."""
from dataclasses import replace
import numpy as np
import pytest
from scipy.stats import spearmanr
from lmpapers.gfa.experiment import PRESETS
from lmpapers.gfa.importance import ablation_importance
from lmpapers.gfa.theory import fanin
from lmpapers.gfa.tracking import tracked_lm, gfa_config, GFA_TRAIN, block_scores, lm_rows
from lmpapers.core.guards import num_threads

SEEDS = PRESETS['tiny']['seeds']

pytestmark = pytest.mark.usefixtures('one_thread')   # see tests/conftest.py

@pytest.fixture(scope='module')
def seed_models():
    with num_threads(1): return [tracked_lm(gfa_config(), replace(GFA_TRAIN, seed=s)) for s in SEEDS]

def test_accumulated_gradients_follow_fanin(seed_models):
    f = fanin(8)
    for model, tok, stats, hist in seed_models:
        g = block_scores(stats, 'grad_norm')
        assert spearmanr(f, g).statistic > 0.6, g     # each seed: fan-in and accumulated gradient rank alike
        assert g[0] > 2 * g[-1], g                    # the first block's accumulated gradient is several times the last's

def test_accumulated_gradients_go_with_importance(seed_models):
    _, _, ev = lm_rows(seq_len=GFA_TRAIN.seq_len, n_train=GFA_TRAIN.steps * GFA_TRAIN.batch_size)
    rho = [spearmanr(block_scores(st, 'grad_norm'), ablation_importance(m, ev[:PRESETS['tiny']['eval_rows']])['delta_loss']).statistic
           for m, _, st, _ in seed_models]
    assert min(rho) > 0.2 and np.mean(rho) > 0.4, rho
