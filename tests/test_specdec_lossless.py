"""Statistical test that speculative sampling is lossless: speculative samples of the first three tokens
follow the exact plain-sampling law (temperature 0.8, top-k 6, top-p 0.9) of a small random target.

Setup: target = random 1-layer Qwen3 with 8 tokens (initializer_range=0.2), prompt [1, 5, 2]; the exact law
of all 8^3 continuations is enumerated. Drafters: a sampled chain (q-based rejection sampling) and a fixed
5-node tree (sequential acceptance with residual renormalisation). Tests: chi-square goodness of fit on each
token's marginal and on the joint (cells with expected count < 5 pooled), 8 tests, family-wise level 0.01
(Bonferroni). N (default 15000 per drafter, env SPECDEC_LOSSLESS_N; 50000 resolves a 1% shift) is checked to give
the first-token test power >= 0.8 against moving SHIFT = 2% of probability mass between the two most likely first
tokens (the hardest such shift to see), computed from the non-central chi-square distribution.
"""
import os, torch, pytest
from lmpapers.core.models import model_config, build_model
from lmpapers.specdec.generate import speculative_generate, exact_sequence_law, chi2_gof, BigramTableDrafter
from lmpapers.bastion.experiment import lossless_power

N = int(os.environ.get('SPECDEC_LOSSLESS_N', 15000))
SHIFT = 0.02 if N < 50000 else 0.01
ALPHA, TESTS, T, K, P, NTOK = 0.01, 8, 0.8, 6, 0.9, 3

def _target():
    cfg = model_config(vocab_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=1, head_dim=16, initializer_range=0.2)
    return build_model(cfg, seed=0).eval()

def _power(p1: torch.Tensor, n: int) -> float:
    "Power of the first-token chi-square test against moving SHIFT from the most likely token to the second."
    return lossless_power(p1, n, SHIFT, tests=TESTS, alpha=ALPHA)

@pytest.fixture(scope='module')
def setup():
    torch.set_num_threads(1)
    tgt = _target(); prompt = torch.tensor([1, 5, 2])
    return tgt, prompt, exact_sequence_law(tgt, prompt, NTOK, T, K, P)

def test_power_is_enough(setup):
    _, _, law = setup
    pw = _power(law.sum((1, 2)), N)
    print(f'N={N}: power {pw:.3f} against a {SHIFT:.0%} shift between the two most likely first tokens')
    if N >= 15000: assert pw >= 0.8

@pytest.mark.parametrize('mode', ['chain', 'tree'])
def test_speculative_sampling_matches_plain_sampling(setup, mode):
    tgt, prompt, law = setup
    dr, g = BigramTableDrafter(8, mode, seed=7), torch.Generator().manual_seed(11 if mode == 'chain' else 12)
    counts = torch.zeros([8] * NTOK)
    accepted = 0
    for _ in range(N):
        o = speculative_generate(tgt, prompt, dr, NTOK, T, K, P, eos_token_id=None, generator=g)
        counts[tuple(o.sequences[0, 3:].tolist())] += 1
        accepted += sum(s.accepted for s in o.steps)
    assert accepted > 0.1 * N                                  # drafts are really accepted (the test exercises acceptance)
    others = lambda i: tuple(j for j in range(NTOK) if j != i)
    pv = [chi2_gof(counts.sum(others(i)), law.sum(others(i)))[2] for i in range(NTOK)] + [chi2_gof(counts, law)[2]]
    tv = 0.5 * (counts / N - law).abs().sum().item()
    print(mode, 'p-values', [round(p, 4) for p in pv], 'joint TV', round(tv, 4))
    assert min(pv) > ALPHA / TESTS

def test_detects_a_wrong_sampler(setup):
    "Control: verifying against the un-warped distribution (a common bug) is rejected with far fewer samples."
    tgt, prompt, law = setup
    dr, g, c = BigramTableDrafter(8, 'chain', seed=7), torch.Generator().manual_seed(3), torch.zeros(8)
    for _ in range(min(N, 3000)):
        c[speculative_generate(tgt, prompt, dr, 1, T, 0, 1.0, eos_token_id=None, generator=g).sequences[0, 3]] += 1
    assert chi2_gof(c, law.sum((1, 2)))[2] < ALPHA / TESTS
