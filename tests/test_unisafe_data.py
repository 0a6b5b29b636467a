"UniSAFE loading in the hub's shape (parquet, images as datasets Image features) and the diffusers refusal signal."
from types import SimpleNamespace
import datasets, pytest
from lmpapers.unisafe.data import make_fixture, load_unisafe, draw_image
from lmpapers.unisafe.schema import TASKS
from lmpapers.unisafe.models import DiffusersImageModel
from lmpapers.unisafe.runner import RunStore, predict_all, final_predictions, ScriptedJudge, judge_all, final_judgments
from lmpapers.unisafe.metrics import prompt_scores, task_table

def test_parquet_splits_with_embedded_images_load_like_the_hub(tmp_path):
    fx = make_fixture(tmp_path/'fx')
    out = tmp_path/'pq'; out.mkdir()
    for split in ('image', 'text'):
        ds = datasets.load_dataset('json', data_files=str(fx/f'{split}.jsonl'), split='train')
        embed = lambda r: {k: ({'bytes': (fx/r[k]).read_bytes(), 'path': None} if r[k] else None) for k in ('input_image', 'input_image_b')}
        ds = ds.map(embed).cast_column('input_image', datasets.Image()).cast_column('input_image_b', datasets.Image())
        ds.to_parquet(str(out/f'{split}.parquet'))
    cases = load_unisafe(out)
    assert len(cases) == 63 and {c.task for c in cases} == set(TASKS)
    ic = next(c for c in cases if c.task == 'IC')
    assert [im.size for im in ic.images()] == [(64, 64), (64, 64)]
    assert ic.images()[0].tobytes() == next(c for c in load_unisafe(fx) if c.key == ic.key).images()[0].tobytes()

class FlaggingPipe:
    "A pipeline whose safety checker flags every image (as a real one's `nsfw_content_detected` does)."
    def set_progress_bar_config(self, **kw): pass
    def __call__(self, *a, **kw): return SimpleNamespace(images=[draw_image('x', size=32)], nsfw_content_detected=[True])

def test_a_flagged_image_is_a_refusal_scored_zero(tmp_path):
    fx = make_fixture(tmp_path/'fx'); cases = [c for c in load_unisafe(fx) if c.task in ('TI', 'MT')]
    m = DiffusersImageModel(FlaggingPipe(), name='sd', steps=1, img2img=FlaggingPipe())
    st = RunStore(tmp_path/'run'); predict_all(cases, m, st)
    assert all(p.refusal and p.error is None for p in final_predictions(st).values())
    judge_all(cases, ScriptedJudge(lambda p: pytest.fail('a refusal must not reach the judge'), 'j'), st)
    rows = prompt_scores(cases, final_predictions(st), final_judgments(st))
    assert {(r['task'], r['asr'], r['arr'], r['refusal_rate']) for r in task_table(rows)} == {('TI', 0, 0, 1), ('MT', 0, 0, 1)}
    st.release()
