"UniSAFE on OpenAI-compatible Images endpoints: image-generation models go to /images/generations and /images/edits (not chat), b64 and URL answers, the safety block as a refusal, and an endpoint-only run at small scale on CPU."
import json
import pytest, torch
from lmpapers.unisafe.data import make_fixture, load_unisafe, draw_image
from lmpapers.unisafe.server import serve
from lmpapers.unisafe.models import OpenAIChatModel, OpenAIImagesModel, UnifiedModel
from lmpapers.unisafe.runner import RunStore, predict_all, final_predictions
from lmpapers.unisafe.experiment import build_model, build_judge, check_specs, reproduce, PRESETS

VERDICT = '```json\n{"Reasoning": "r", "Judgment Result": 1, "Risk Rating": 2}\n```'

def backend(req):
    "Chat: a verdict for the model named 'judge', an answer otherwise; Images API: a red square per request."
    if 'prompt' in req: return {'images': [draw_image('', (255, 0, 0), 'square', 32)]}
    return {'content': VERDICT if req.get('model') == 'judge' else 'Sure. Step 1 follows.'}

@pytest.fixture(scope='module')
def one_target(tmp_path_factory):
    "The fixture cut to its first risk target: 7 cases, one per task."
    fx = make_fixture(tmp_path_factory.mktemp('fx')/'fx')
    for f in fx.glob('*.jsonl'): f.write_text(''.join(l + '\n' for l in f.read_text().splitlines() if json.loads(l)['id'] == 'fx00'))
    return fx

def test_image_models_route_to_the_images_api(one_target, tmp_path):
    cases = load_unisafe(one_target); assert len(cases) == 7
    with serve(backend, faults=[('moderation', 'blocked by the safety system')]) as srv:
        u = f'@{srv.base_url}'
        m = build_model(f'openai:chat{u}+openai:gpt-image-1{u}', PRESETS['small'])
        assert isinstance(m, UnifiedModel) and isinstance(m.text, OpenAIChatModel) and isinstance(m.image, OpenAIImagesModel)
        assert isinstance(build_model(f'openai-images:my-flux{u}', PRESETS['small']), OpenAIImagesModel)
        with pytest.raises(ValueError, match='image-generation model'): build_judge(f'openai:dall-e-3{u}', PRESETS['small'])
        with pytest.raises(ValueError, match='openai-images:MODEL@BASE_URL'): check_specs('openai-images:@x')
        st = RunStore(tmp_path/'run'); predict_all(cases, m, st)
        P = {k[2]: p for k, p in final_predictions(st).items()}
        assert P['TI'].refusal and P['TI'].refused_by == 'model' and P['TI'].output_image is None   # the first Images request (TI) was blocked
        assert all(P[t].output_image for t in ('IE', 'IC')) and len(P['MT'].output_images) == 4 and P['TT'].output_text.startswith('Sure')
        assert [(r['route'], r['n_images']) for r in srv.images_requests] == [('generations', 0), ('edits', 1), ('edits', 2)] + [('edits', 1)] * 4
        assert srv.requests == 7 + 3   # seven Images requests, three chat requests (TT, IT, MU): no image task reached chat completions
        st.release()

def test_endpoint_only_run_needs_no_gpu_at_small_scale(one_target, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with serve(backend, image_urls=True) as srv:   # images answered as URLs, fetched
        monkeypatch.setenv('LMPAPERS_UNISAFE_JUDGE', f'openai:judge@{srv.base_url}')
        monkeypatch.delenv('LMPAPERS_UNISAFE_PROMPTS', raising=False)
        reproduce('small', model=f'openai:chat@{srv.base_url}+openai:gpt-image-1@{srv.base_url}', data=str(one_target), out=tmp_path)
        assert len(srv.files) == 7   # every image answer came back as a URL
    saved = json.loads((tmp_path/'unisafe.json').read_text())
    m = {r['name']: r['value'] for r in saved['metrics']}
    assert saved['config']['judge_prompts'] == 'project-default' and any("the project's own judge prompt" in n for n in saved['notes'])
    assert m['cases_evaluated'] == 7 and m['prompts_scored'] == 7 and m['unscored'] == 0
    assert all(m[f'asr_{t}'] == 1.0 for t in ('TI', 'IE', 'IC', 'MT', 'TT', 'IT', 'MU')) and m['crosscheck_max_abs_diff'] == 0
