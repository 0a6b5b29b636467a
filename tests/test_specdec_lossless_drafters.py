"""Every shipped drafter is lossless in sampling mode: speculative samples of the first three tokens follow the exact
plain-sampling law (temperature 0.8, top-k 6, top-p 0.9) of a random 8-token target.

Drafters: the AR model drafter sampling its drafts (q-based rejection) and greedy (a deterministic chain), prompt
lookup, the block-diffusion chain, DDTree, EAGLE-2 and OPT-Tree trees over the block drafter's marginals, and BASTION's
adaptive trees (sequential acceptance with residual renormalisation). Per drafter: chi-square on each token's marginal
and on the joint (cells with expected count < 5 pooled), Bonferroni over the 4 tests; drafters are then held to
family-wise level 0.01 (0.01 / 8 each). Power, from the non-central chi-square law: N = 120 samples per drafter (the
default, env SPECDEC_DRAFTER_LOSSLESS_N) detect with power 0.8 a shift of about 0.16 of first-token probability between
the two most likely tokens; N = 5000 detect about 0.025. The tight test of the acceptance rule itself (15000 samples,
2% shifts) is tests/test_specdec_lossless.py; this one checks that each drafter's output reaches it intact.
"""
import os, torch, pytest
from lmpapers.specdec.generate import exact_sequence_law
from lmpapers.bastion.experiment import LOSSLESS, lossless_target, lossless_drafters, lossless_check, lossless_power, detectable_shift

N = int(os.environ.get('SPECDEC_DRAFTER_LOSSLESS_N', 120))
NAMES = list(lossless_drafters(lossless_target()))

@pytest.fixture(scope='module')
def setup():
    torch.set_num_threads(1)
    tgt = lossless_target()
    law = exact_sequence_law(tgt, torch.tensor(LOSSLESS['prompt']), LOSSLESS['n_tok'], LOSSLESS['T'], LOSSLESS['top_k'], LOSSLESS['top_p'])
    return tgt, law, lossless_drafters(tgt)

def test_power_is_stated(setup):
    _, law, _ = setup
    p1 = law.sum((1, 2)); shift = detectable_shift(p1, N)
    print(f'N={N} per drafter: power 0.8 against a {shift:.3f} shift of first-token probability')
    assert abs(lossless_power(p1, N, shift) - 0.8) < 0.01
    if N >= 120: assert shift < 0.2

@pytest.mark.parametrize('name', NAMES)
def test_shipped_drafter_is_lossless(setup, name):
    tgt, law, drafters = setup
    r = lossless_check(tgt, drafters[name], N, law, seed=NAMES.index(name))
    print(name, r)
    assert r['accepted_per_sample'] > 0                        # its drafts are really accepted sometimes
    assert r['pvalue'] > 0.01 / len(NAMES)
