"The TRL subclass: outcome-only per-token advantages reproduce TRL's own exactly; per-token ones reach the loss."
import pytest, torch
from lmpapers.rl.grpo import group_advantages
from lmpapers.rl.trainer import TokenAdvantageGRPOTrainer, tiny_grpo_setup

def _reward(completions, **kw): return [float(len(c) % 3 == 0) + 0.5 * ('a' in c) for c in completions]

def test_outcome_only_reproduces_trl_advantages_and_rejects_bad_shapes(tmp_path, one_thread):
    seen = []
    def hook(completions, advantages, completion_ids, **kw):
        ours = group_advantages(torch.tensor(_reward(completions)), 4)
        seen.append((advantages.clone(), ours))
        return ours[:, None].expand_as(completion_ids).clone()
    model, tok, ds, cfg = tiny_grpo_setup(str(tmp_path), steps=2)
    tr = TokenAdvantageGRPOTrainer(model=model, reward_funcs=_reward, args=cfg, train_dataset=ds, processing_class=tok, token_advantages=hook)
    tr.train()
    assert len(seen) == 2 and all(torch.equal(a, b) for a, b in seen)
    assert any(a.abs().sum() > 0 for a, _ in seen)      # the check is not vacuous: some groups have reward spread
    bad = TokenAdvantageGRPOTrainer(model=model, reward_funcs=_reward, args=cfg, train_dataset=ds, processing_class=tok,
                                    token_advantages=lambda completion_ids, **kw: torch.zeros(completion_ids.shape[0]))
    with pytest.raises(ValueError, match='shape'): bad.train()
    with pytest.raises(TypeError): TokenAdvantageGRPOTrainer(model=model, reward_funcs=_reward, args=cfg, train_dataset=ds,
                                                              processing_class=tok, token_advantages=3)
