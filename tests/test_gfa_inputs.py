"Bad calibration/evaluation rows are refused at the boundary with a message that says what is expected."
import pytest
from lmpapers.core.guards import fork_rng
import torch
from lmpapers.core.models import build_model, model_config
from lmpapers.gfa.importance import ablation_importance
from lmpapers.gfa.pruning import select_layers, layer_ranking, taylor_scores, block_hidden_states
from lmpapers.gfa.cascadeformer import time_generation

pytestmark = pytest.mark.usefixtures('one_thread')   # see tests/conftest.py

SMALL = dict(vocab_size=128, num_hidden_layers=4, hidden_size=32, intermediate_size=64, head_dim=8, num_attention_heads=4, num_key_value_heads=2)
with fork_rng(): M = build_model(model_config('tiny', **SMALL), 0).eval()   # collecting this file leaves the global RNG alone
G = torch.Generator().manual_seed(0)
BAD = [(torch.randint(0, 128, (16,), generator=G), ValueError, r'2-D \[batch, seq\]'),
       (torch.rand(2, 16, generator=G), TypeError, 'integer token ids'),
       ([[1, 2, 3]], TypeError, 'torch.Tensor'),
       (torch.full((2, 16), 128), ValueError, 'vocabulary has 128'),
       (torch.full((2, 16), -1), ValueError, 'negative'),
       (torch.zeros(2, 1, dtype=torch.long), ValueError, '>= 2 tokens')]

@pytest.mark.parametrize('rows,err,msg', BAD)
@pytest.mark.parametrize('call', [lambda r: select_layers(M, 1, 'bi', r), lambda r: select_layers(M, 1, 'taylor', r),
                                  lambda r: layer_ranking(M, 'ppl', r), lambda r: taylor_scores(M, r),
                                  lambda r: block_hidden_states(M, r), lambda r: ablation_importance(M, r)])
def test_bad_rows_refused(call, rows, err, msg):
    with pytest.raises(err, match=msg): call(rows)

def test_bad_prompt_refused():
    with pytest.raises(ValueError, match='one row'): time_generation({'m': M}, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match='integer'): time_generation({'m': M}, torch.zeros(1, 4))
