"UniSAFE reproduce: what each scale needs, said in one line."
import pytest, torch
from lmpapers.core.scales import ScaleUnavailable
from lmpapers.unisafe.experiment import reproduce, build_part, PRESETS
from lmpapers.core.cli import check_reproduce

def test_reproduce_takes_every_cli_option(): check_reproduce('unisafe', reproduce)

@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the no-GPU refusal')
def test_full_scale_needs_a_gpu(tmp_path):
    with pytest.raises(ScaleUnavailable, match='needs a CUDA GPU'): reproduce('full', out=tmp_path)

def test_tiny_takes_no_model_or_data_and_no_smoke(tmp_path):
    with pytest.raises(ValueError, match="unisafe at scale 'tiny' takes no --data"): reproduce('tiny', data='x', out=tmp_path)
    with pytest.raises(ValueError, match='smoke'): reproduce('tiny', smoke=True, out=tmp_path)

def test_model_specs_are_checked():
    with pytest.raises(ValueError, match='openai:MODEL@BASE_URL'): build_part('openai:gpt', PRESETS['full'], 'cpu', torch.float32, False)
    ep = build_part('openai:m@http://127.0.0.1:9/v1', PRESETS['full'], 'cpu', torch.float32, False)
    assert ep.name == 'm' and ep.max_concurrency == 4
