"The experiment's batched, teacher-forced accuracy check decides what greedy sparse decoding (`generate_sparse`) decides, prompt by prompt."
import pytest, torch
from lmpapers.core.models import model_config, build_model
from lmpapers.spot.integration import TopK, TopP, generate_sparse
from lmpapers.spot.baselines import oracle_scorer, quest_scorer
from lmpapers.spot.experiment import answer_match, prefill, dense_agreement, calibrate_top_p, wilson_ci, paired_gap_ci

V = 256

def tiny(seed=0):
    return build_model(model_config('tiny', 'qwen3', vocab_size=V, initializer_range=0.2, num_hidden_layers=2), seed=seed).eval()

@pytest.mark.parametrize('method', [None, TopK(oracle_scorer, 5, 1, 2), TopK(quest_scorer(4), 6, 1, 1), TopP(oracle_scorer, 0.5, 1, 8, 1, 1)])
def test_teacher_forced_check_is_greedy_sparse_decoding(method):
    m = tiny()
    ids = torch.randint(3, V, (5, 40), generator=torch.Generator().manual_seed(1))
    greedy = [(generate_sparse(m, ids[i:i + 1], method, max_new_tokens=4)[0][0] if method is not None
               else m.generate(ids[i:i + 1], attention_mask=torch.ones(1, 40, dtype=torch.long), max_new_tokens=4, do_sample=False, pad_token_id=0)[0, 40:]).tolist()
              for i in range(5)]
    answers = [g[:2 + i % 3] for i, g in enumerate(greedy)]              # answers of 2-4 tokens: greedy decoding's own
    out = answer_match(m, ids, answers, method)
    assert out['correct'].all()
    wrong = [a[:-1] + [(a[-1] + 1) % V] for a in answers]               # the last answer token changed: not what greedy decodes
    assert not answer_match(m, ids, wrong, method)['correct'].any()
    cache = prefill(m, ids)
    again = answer_match(m, ids, answers, method, cache)                  # a shared prefill is copied, not consumed
    assert torch.equal(again['argmax'], out['argmax']) and torch.equal(answer_match(m, ids, answers, method, cache)['argmax'], out['argmax'])

def test_agreement_keys_and_calibration():
    m = tiny()
    ids = torch.randint(3, V, (6, 48), generator=torch.Generator().manual_seed(2))
    ans = [[5, 6, 7]] * 6
    dense = answer_match(m, ids, ans)
    assert dense['keys'] is None and dense_agreement(dense, dense) == 1.0
    assert answer_match(m, ids, ans, TopK(oracle_scorer, 8, 1, 2))['keys'] == pytest.approx(8.0)
    p, k = calibrate_top_p(m, lambda p: TopP(oracle_scorer, p, 1, 32, 1, 2), ids, ans, keys=8.0)
    assert 0 < p < 1 and abs(k - 8.0) < 1.0
    with pytest.raises(ValueError, match='one non-empty answer'): answer_match(m, ids, ans[:2])
    with pytest.raises(ValueError, match='one non-empty answer'): answer_match(m, ids, [[]] * 6)

def test_intervals():
    for k, n in ((0, 10), (3, 10), (10, 10), (99, 100)):
        lo, hi = wilson_ci(k, n)
        assert 0 <= lo <= k / n <= hi <= 1
    a, b = torch.tensor([1, 1, 0, 1]).bool(), torch.tensor([1, 0, 0, 1]).bool()
    est, (lo, hi) = paired_gap_ci([(a, b), (b, b)])
    assert est == pytest.approx(0.125) and lo <= est <= hi
    assert paired_gap_ci([(b, b)])[1] == [0.0, 0.0]                     # identical outcomes: no uncertainty about the gap
    with pytest.raises(ValueError): paired_gap_ci([(a, b[:2])])
