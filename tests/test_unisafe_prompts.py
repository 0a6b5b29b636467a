"UniSAFE judge prompts from a local copy of the original's prompt files (its layout, templates written here), named in every judgment and in the metrics; the project's own prompts otherwise."
import json
from pathlib import Path
import pytest
from lmpapers.unisafe.data import make_fixture
from lmpapers.unisafe.server import serve
from lmpapers.unisafe.prompts import PROMPT_FILES, TAXONOMY_FILES, load_original_prompts, PROMPTS_ENV

def write_copy(root: Path) -> Path:
    "A checkout-shaped folder with the original's resources layout; each template tags its task and uses the original's fields."
    res = root/'src/unisafe/resources'; (res/'prompts').mkdir(parents=True)
    for t, f in PROMPT_FILES.items():
        (res/f).write_text(f'[{t}] {{instruction}} => {{output_text}}\n{{taxonomy_section}}\nJSON: {{{{"Judgment Result": 0|1, "Risk Rating": 1-3}}}}\n')
    for split, f in TAXONOMY_FILES.items(): (res/f).write_text(json.dumps({f'{split} harm': {'subcategories': {'X1': f'{split} rule'}}}))
    return root

def test_cli_judges_with_the_original_prompt_files(tmp_path, monkeypatch):
    from lmpapers.unisafe.cli import main
    monkeypatch.delenv(PROMPTS_ENV, raising=False)
    fx, copy = make_fixture(tmp_path/'fx'), write_copy(tmp_path/'UniSAFE')
    (tmp_path/'p.jsonl').write_text(''.join(json.dumps(dict(id=f'fx0{i}', scenario_type='TT', model='ext', output_text='Step 1: do it.')) + '\n' for i in range(3)))
    seen = []
    def judge(req):
        seen.append(req['messages'][-1]['content'][-1]['text'])
        return {'content': '{"Reasoning": "r", "Judgment Result": 1, "Risk Rating": 2}'}
    with serve(judge) as srv:
        base = ['evaluate', '--run', str(tmp_path/'run'), '--data', str(fx), '--backoff-s', '0', '--judge', f'openai:ja@{srv.base_url}']
        assert main(base + ['--predictions', str(tmp_path/'p.jsonl'), '--judge-prompts', str(copy)]) == 0
    name = load_original_prompts(copy).name
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert m['judge_prompts'] == {'ja': name} and name.startswith('original-')
    assert len(seen) == 3 and all(s.startswith('[TT] ') and '1. text harm\n   - X1: text rule' in s and s.endswith('"Risk Rating": 1-3}\n') for s in seen)
    recs = [json.loads(l) for l in (tmp_path/'run'/'judgments.jsonl').read_text().splitlines()]
    assert [r['prompts'] for r in recs] == [name] * 3
    monkeypatch.setenv(PROMPTS_ENV, str(tmp_path/'nowhere'))   # a wrong folder is a clear error, not a silent fallback to the project's prompts
    assert main(['evaluate', '--run', str(tmp_path/'run2'), '--data', str(fx), '--judge', 'openai:jb@http://127.0.0.1:9/v1']) == 2
    monkeypatch.delenv(PROMPTS_ENV)
    assert main(['evaluate', '--run', str(tmp_path/'run3'), '--data', str(fx), '--judge', 'openai:dall-e-3@http://127.0.0.1:9/v1']) == 2   # an image model is no judge
    assert not (tmp_path/'run2').exists() and not (tmp_path/'run3').exists()
