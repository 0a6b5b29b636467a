"Papers are independent: the methods two papers share live in `specdec`; no paper imports another."
import ast, re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAPERS = ('bastion', 'metasd')


def _imports(path: Path) -> set[str]:
    "Package names a generated module or a notebook imports from `lmpapers` (relative `..x` and absolute `lmpapers.x`)."
    text = path.read_text()
    return set(re.findall(r'from \.\.(\w+)', text)) | set(re.findall(r'(?:from|import) lmpapers\.(\w+)', text))


def _exported(path: Path) -> set[str]:
    "The names in a generated module's `__all__`, read without importing it."
    tree = ast.parse(path.read_text())
    return next(set(ast.literal_eval(n.value)) for n in tree.body
                if isinstance(n, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in n.targets))


def test_papers_do_not_import_each_other():
    for paper in PAPERS:
        others = set(PAPERS) - {paper}
        files = sorted((ROOT/'lmpapers'/paper).glob('*.py')) + sorted((ROOT/'nbs'/paper).glob('*.ipynb'))
        assert len(files) > 4, f'no sources found for {paper}'
        for f in files:
            bad = _imports(f) & others
            assert not bad, f'{f.relative_to(ROOT)} imports {sorted(bad)}: move what is shared into lmpapers.specdec'


def test_shared_layer_holds_the_shared_methods():
    spec = ROOT/'lmpapers'/'specdec'
    assert {'BlockDiffusionDrafter', 'DrafterConfig', 'block_drafter'} <= _exported(spec/'block_diffusion.py')
    assert 'prompt_suite' in _exported(spec/'prompts.py')
    assert not (ROOT/'lmpapers'/'bastion'/'drafter.py').exists(), 'the block drafter lives in lmpapers/specdec/block_diffusion.py'
    assert not _imports(ROOT/'lmpapers'/'specdec'/'block_diffusion.py') & set(PAPERS)
    assert not _imports(ROOT/'lmpapers'/'specdec'/'prompts.py') & set(PAPERS)
