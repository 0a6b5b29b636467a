"""Sampling stays lossless with the bandit in the loop: the specdec core's statistical test (exact law of the first three
tokens of a random 8-token target at temperature 0.8, top-k 6, top-p 0.9; chi-square on each token's marginal and the
joint, Bonferroni over 4 tests at family-wise level 0.01) with MetaSD choosing each round among a sampled model drafter
(block-divergence reward from its q), a sampled bigram chain and a fixed tree. UCB's state is carried across samples
(each sample's law given the earlier ones is the target's, so the samples are still independent draws of it); NormalHedge
restarts per sample (carried, full information settles on the model drafter within a few samples).
N per selector: env METASD_LOSSLESS_N (default 1000, kept short: it sees gross errors such as a drafter's q
left out of the acceptance ratio; the core's own test runs 15000 for power against 2% shifts)."""
import os
import pytest
import torch
from lmpapers.core.models import model_config, build_model
from lmpapers.specdec.drafters import ModelDrafter
from lmpapers.specdec.generate import speculative_generate, exact_sequence_law, chi2_gof, BigramTableDrafter
from lmpapers.metasd.meta import MetaSD
from lmpapers.metasd.selectors import make_selector

N = int(os.environ.get('METASD_LOSSLESS_N', 1000))
ALPHA, T, K, P, NTOK = 0.01, 0.8, 6, 0.9, 3

def _cfg():
    return model_config(vocab_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                        num_key_value_heads=1, head_dim=16, initializer_range=0.2)

@pytest.fixture(scope='module')
def setup():
    torch.set_num_threads(1)
    tgt = build_model(_cfg(), seed=0).eval(); prompt = torch.tensor([1, 5, 2])
    return tgt, prompt, exact_sequence_law(tgt, prompt, NTOK, T, K, P)

@pytest.mark.parametrize('selector,reset', [('ucb', 'carry'), ('hedge', 'query')])
def test_metasd_sampling_matches_plain_sampling(setup, selector, reset):
    tgt, prompt, law = setup
    arms = [ModelDrafter(build_model(_cfg(), seed=3).eval(), k=2, sample=True, seed=1), BigramTableDrafter(8, 'chain', seed=7),
            BigramTableDrafter(8, 'tree', seed=8)]
    m, g = MetaSD(arms, make_selector(selector, seed=2), reset=reset), torch.Generator().manual_seed(11)
    counts, accepted = torch.zeros([8] * NTOK), 0
    for _ in range(N):
        o = speculative_generate(tgt, prompt, m, NTOK, T, K, P, eos_token_id=None, generator=g)
        counts[tuple(o.sequences[0, 3:].tolist())] += 1; accepted += sum(s.accepted for s in o.steps)
    pulls = [sum(r['arm'] == i for q in m.queries for r in q) for i in range(3)]
    assert accepted > 0.1 * N and sum(p > 0 for p in pulls) == 3, pulls   # drafts accepted; every arm drafted
    assert any(r['kind'] == 'divergence' for q in m.queries for r in q if r['arm'] == 0)
    others = lambda i: tuple(j for j in range(NTOK) if j != i)
    pv = [chi2_gof(counts.sum(others(i)), law.sum(others(i)))[2] for i in range(NTOK)] + [chi2_gof(counts, law)[2]]
    print(selector, 'pulls', pulls, 'p-values', [round(p, 4) for p in pv])
    assert min(pv) > ALPHA / 4
