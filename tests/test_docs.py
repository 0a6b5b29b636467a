"""The documentation site: every notebook has a page, every exported symbol is documented, links
resolve, math renders from the local KaTeX copy, README.md matches nbs/index.ipynb, and the home
page looks like a page in a real browser.

The site is built once per module into `_docs/` (ignored by git); the README the build writes goes
to a temporary file and is compared with the committed README.md.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
LIB = ROOT/'lmpapers'
DOCS = ROOT/'_docs'
CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')


def notebooks() -> list[Path]:
    "Notebooks under nbs/ that become pages (none in, or named, `_*` or `.*`), relative to nbs/."
    return sorted(p.relative_to(NBS) for p in NBS.rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts))


class Page(HTMLParser):
    "What the tests need from one HTML page: ids, links, headings and sidebar sections."
    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.headings = set(), [], []
        self.sections = {}        # sidebar section title -> hrefs inside it
        self._li = []             # open <li>: the section dict it opens, or None
        self._want_title = None   # a section whose title is the next menu-text
        self._heading = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'data-anchor-id'):
            if a.get(k): self.ids.add(a[k])
        for k in ('href', 'src'):
            if a.get(k) is not None: self.links.append(a[k])
        cls = (a.get('class') or '').split()
        if tag == 'li':
            sec = {'title': None, 'hrefs': []} if 'sidebar-item-section' in cls else None
            self._li.append(sec)
            if sec is not None: self._want_title = sec
        if tag == 'span' and 'menu-text' in cls and self._want_title is not None:
            self._heading = ('section', self._want_title)
        if tag == 'a' and a.get('href'):
            for sec in self._li:
                if sec is not None: sec['hrefs'].append(a['href'])
        if re.fullmatch(r'h[1-6]', tag): self._heading = ('h', [])

    def handle_data(self, data):
        if self._heading is None: return
        kind, dest = self._heading
        if kind == 'section':
            dest['title'] = data.strip()
            self.sections.setdefault(dest['title'], dest['hrefs'])
            self._want_title, self._heading = None, None
        else: dest.append(data)

    def handle_endtag(self, tag):
        if tag == 'li' and self._li: self._li.pop()
        if re.fullmatch(r'h[1-6]', tag) and self._heading and self._heading[0] == 'h':
            self.headings.append(''.join(self._heading[1]).strip())
            self._heading = None


@functools.lru_cache(None)
def parse(path: Path) -> Page: return Page(path.read_text(encoding='utf-8'))


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('docs')
    readme = tmp/'README.md'
    p = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--out', DOCS.name, '--readme', str(readme)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f'the docs build failed:\n{p.stdout}\n{p.stderr}'
    return SimpleNamespace(root=DOCS, readme=readme, log=p.stdout, err=p.stderr)


def test_readme_is_up_to_date(site):
    assert site.readme.exists(), f'the build wrote no README:\n{site.log}'
    committed = ROOT/'README.md'
    msg = 'README.md is out of date with nbs/index.ipynb; run `make docs` and commit README.md'
    assert committed.exists(), msg
    assert committed.read_text(encoding='utf-8') == site.readme.read_text(encoding='utf-8'), msg


def test_build_prints_no_warnings(site):
    "The build names every problem it sees (a broken link, a notebook cell it must run, KaTeX missing) as a warning; there must be none."
    lines = [l.strip() for l in (site.log + '\n' + site.err).splitlines() if re.search(r'\bwarn(ing)?s?\b', l, re.I)]
    assert not lines, f'the docs build printed {len(lines)} warning(s):\n' + '\n'.join(lines[:40])


def test_readme_links_work_in_a_repository_browser():
    "README.md is read at the repository's root: its links are relative and lead to files that exist there."
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    links = re.findall(r'\]\(([^)\s]+)\)', text) + re.findall(r'href="([^"]+)"', text)
    bad = [l for l in links if l.startswith('/') or (_local(l) and not (ROOT/unquote(urlsplit(l).path)).exists())]
    assert not bad, f'README.md links that lead nowhere from the repository root: {bad}'


def test_every_notebook_has_a_page(site):
    nbs = notebooks()
    assert Path('index.ipynb') in nbs
    missing = [str(nb) for nb in nbs if not (site.root/nb.with_suffix('.html')).exists()]
    assert not missing, f'notebooks without a page: {missing}'


def _defining_notebooks(py: Path) -> dict[str, Path]:
    "Top-level names defined in a generated module -> the notebook (relative to nbs/) of their cell."
    res, nb = {}, None
    for line in py.read_text(encoding='utf-8').splitlines():
        m = re.match(r'# %% (\S+\.ipynb)', line) or re.match(r'# AUTOGENERATED!.*File to edit: (\S+\.ipynb)', line)
        if m:
            nb = (py.parent/m.group(1)).resolve().relative_to(NBS.resolve())
            continue
        m = re.match(r'(?:async\s+)?(?:def|class)\s+(\w+)', line)
        if m and nb is not None:
            res.setdefault(m.group(1), nb)
            # `@patch`ed methods are defined at the top level as `def meth(self:Cls, ...)`
            p = re.match(r'def\s+(\w+)\s*\(\s*self\s*:\s*(\w+)', line)
            if p: res.setdefault(f'{p.group(2)}.{p.group(1)}', nb)
    return res


def test_exported_symbols_are_documented(site):
    ns = {}
    exec((LIB/'_modidx.py').read_text(encoding='utf-8'), ns)
    checked, missing = 0, []
    for mod, syms in ns['d']['syms'].items():
        py = ROOT/(mod.replace('.', '/') + '.py')
        if not py.exists(): py = ROOT/mod.replace('.', '/')/'__init__.py'
        if not py.exists(): continue
        where = _defining_notebooks(py)
        for full in syms:
            name = full[len(mod) + 1:]
            if name.split('.')[-1].startswith('_') or name not in where: continue  # private, or a method in a class body
            nb = where[name]
            page = site.root/nb.with_suffix('.html')
            checked += 1
            if not page.exists():
                missing.append(f'{full} (its notebook {nb} has no page)')
                continue
            doc = parse(page)
            if name.lower() not in doc.ids and name not in doc.headings: missing.append(f'{full} (expected on {nb.with_suffix(".html")})')
    assert not missing, 'exported but not documented (no show_doc heading): ' + ', '.join(missing)
    if ns['d']['syms']: assert checked, 'no exported symbol was checked'


def test_sidebar_has_a_section_per_folder(site):
    folders = sorted({nb.parts[0] for nb in notebooks() if len(nb.parts) > 1})
    doc = parse(site.root/'index.html')
    assert set(folders) <= set(doc.sections), f'sidebar sections {list(doc.sections)}, folders {folders}'
    for folder in folders:
        pages = {str(nb.with_suffix('.html')) for nb in notebooks() if nb.parts[0] == folder}
        assert pages <= set(doc.sections[folder]), f'sidebar section {folder!r} lacks {pages - set(doc.sections[folder])}'
    if 'core' in folders: assert next(iter(doc.sections)) == 'core', f'core is not the first section: {list(doc.sections)}'


def _local(link: str) -> bool:
    s = urlsplit(link)
    return not (s.scheme or s.netloc or link.startswith(('#', 'mailto:', 'javascript:', 'data:')) or not link)


def test_internal_links_resolve(site):
    broken = []
    pages = sorted(site.root.rglob('*.html'))
    assert pages
    for page in pages:
        doc, here = parse(page), page.parent
        for link in doc.links:
            if link.startswith('#'):
                if len(link) > 1 and unquote(link[1:]) not in doc.ids: broken.append(f'{page.relative_to(site.root)}: {link}')
                continue
            if not _local(link): continue
            s = urlsplit(link)
            target = (site.root/s.path.lstrip('/')) if s.path.startswith('/') else (here/unquote(s.path))
            target = target.resolve()
            if target.is_dir(): target = target/'index.html'
            if not target.exists(): broken.append(f'{page.relative_to(site.root)}: {link}'); continue
            if s.fragment and target.suffix == '.html' and unquote(s.fragment) not in parse(target).ids:
                broken.append(f'{page.relative_to(site.root)}: {link} (no such anchor)')
    assert not broken, 'broken links:\n' + '\n'.join(broken)


def _repo_source_base() -> str:
    from nbdev.config import get_config
    cfg = get_config(ROOT)
    assert cfg.git_url, 'no repository URL: set [project.urls] Repository in pyproject.toml (nbdev reads it for [source] links)'
    return f'{cfg.git_url}/blob/{cfg.branch}/'


def test_source_links(site):
    "Every page that documents exported code links to its source in the repository, at a line that defines a symbol."
    base = _repo_source_base()
    bad, pages_with, n = [], set(), 0
    for page in sorted(site.root.rglob('*.html')):
        for link in parse(page).links:
            if not link.startswith(base): continue
            n += 1
            pages_with.add(page.relative_to(site.root).as_posix())
            path, _, frag = link[len(base):].partition('#')
            f = ROOT/path
            if not f.is_file(): bad.append(f'{page.relative_to(site.root)}: {link} (no file {path})'); continue
            m = re.fullmatch(r'L(\d+)', frag)
            lines = f.read_text(encoding='utf-8').splitlines()
            if not m or not 0 < int(m.group(1)) <= len(lines): bad.append(f'{page.relative_to(site.root)}: {link} (no such line)'); continue
            line = lines[int(m.group(1)) - 1].lstrip()
            if not line.startswith(('def ', 'class ', 'async def ', '@')) and not re.match(r'\w+\s*[:=]', line):
                bad.append(f'{page.relative_to(site.root)}: {link} (line {m.group(1)} defines nothing: {line[:60]!r})')
    assert not bad, 'source links that lead nowhere:\n' + '\n'.join(bad[:30])
    exporting = [nb for nb in notebooks() if re.search(r'^#\|\s*export\b', ''.join(
        ''.join(c['source']) for c in json.loads((NBS/nb).read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'code'), re.M)]
    missing = [str(nb) for nb in exporting if nb.with_suffix('.html').as_posix() not in pages_with]
    assert not missing, f'pages of notebooks that export code without a [source] link: {missing}'
    assert n >= len(exporting)


def _experiment_pages() -> dict[str, str]:
    "Paper -> its experiment page (relative to the site), from the entry points and the notebooks they are made from."
    import importlib.metadata as md
    res = {}
    for ep in md.entry_points(group='lmpapers.papers'):
        py = ROOT/(ep.value.split(':')[0].replace('.', '/') + '.py')
        nb = (py.parent/re.search(r'File to edit: (\S+\.ipynb)', py.read_text(encoding='utf-8')).group(1)).resolve()
        res[ep.name] = nb.relative_to(NBS.resolve()).with_suffix('.html').as_posix()
    return res


def test_experiment_pages_show_the_run(site):
    "Each experiment page has its paper's verdict table and every figure of its recorded run, and the figures are in the site."
    pages = _experiment_pages()
    assert len(pages) == 9
    for paper, rel in pages.items():
        rec = json.loads((NBS/'_results'/f'{paper}.json').read_text(encoding='utf-8'))
        html = (site.root/rel).read_text(encoding='utf-8')
        assert re.search(r'<th[^>]*>\s*verdict\s*</th>', html), f'{rel}: no verdict table'
        assert html.count('<td') >= 4 * len(rec['verdicts']), f'{rel}: the verdict table lacks rows'
        srcs = [s for s in parse(site.root/rel).links if '_results/figures/' in s]
        assert len(srcs) == len(rec['figures']) >= 1, f'{rel}: {len(srcs)} figures, the recorded run has {len(rec["figures"])}'
        for s in srcs: assert ((site.root/rel).parent/s).resolve().is_file(), f'{rel}: figure {s} is not in the site'


def test_nbdev_page_names_resolve(site):
    "nbdev links to `core/results.html`; that name must lead to the page `core/05_results.html`."
    from nbdev.doclinks import nbpath2html
    for nb in notebooks():
        alias = site.root/nbpath2html(nb)
        assert alias.exists(), f'{nbpath2html(nb)} (nbdev name of {nb}) is missing'


def test_math_uses_local_katex(site):
    cdn = re.compile(r'cdn\.jsdelivr\.net/npm/katex')
    if not (site.root/'katex'/'katex.min.js').exists():
        pytest.skip('KaTeX could not be fetched with npm; pages load it from the CDN')
    for f in ('katex.min.css', 'contrib/auto-render.min.js'): assert (site.root/'katex'/f).exists(), f
    assert list((site.root/'katex'/'fonts').glob('*.woff2')), 'KaTeX fonts missing'
    for page in site.root.rglob('*.html'):
        text = page.read_text(encoding='utf-8')
        assert not cdn.search(text), f'{page.relative_to(site.root)} still loads KaTeX from the CDN'
        if 'katex.min.js' in text:
            assert 'katex/katex.min.js' in text


def test_search_index(site):
    data = json.loads((site.root/'search.json').read_text(encoding='utf-8'))
    assert len(data) > 0
    hrefs = json.dumps(data)
    for nb in notebooks(): assert str(nb.with_suffix('.html')) in hrefs, f'{nb} is not in search.json'


# ---------------------------------------------------------------- in a browser
def _chromium():
    for name in CHROMIUM_NAMES:
        if shutil.which(name): return shutil.which(name)
    if os.environ.get('LMPAPERS_REQUIRE_CHROMIUM') == '1': pytest.fail('chromium is required (LMPAPERS_REQUIRE_CHROMIUM=1) but not on PATH')
    pytest.skip('chromium is not installed (apt-get install chromium); the browser checks need it')


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope='module')
def server(site):
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(site.root)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown()
    httpd.server_close()


def _browse(browser, *args, timeout=60):
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync',
               f'--user-data-dir={profile}', *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_home_page_screenshot(site, server, tmp_path):
    browser = _chromium()
    from PIL import Image
    png = tmp_path/'home.png'
    p = _browse(browser, '--window-size=1280,900', '--hide-scrollbars', f'--screenshot={png}', server + 'index.html')
    assert png.exists(), f'chromium wrote no screenshot:\n{p.stderr[-2000:]}'
    shutil.copy(png, site.root/'screenshot-home.png')
    im = Image.open(png).convert('RGB')
    assert im.size == (1280, 900)
    counts = im.getcolors(im.width * im.height)  # [(pixels, (r, g, b)), ...]
    colours = len(counts)
    nonwhite = sum(n for n, rgb in counts if min(rgb) < 235) / (im.width * im.height)
    assert colours > 20, f'the screenshot has only {colours} colours'
    assert nonwhite > 0.03, f'the screenshot is nearly blank ({nonwhite:.1%} non-white)'


SHOTS = {'derivation': 'judges/60_derivation.html', 'experiment': 'gfa/19_experiments.html', 'api': 'core/05_results.html'}


def test_page_screenshots(site, server):
    "A derivation, an experiment and an API page, as a reader's browser draws them (saved beside the site as screenshot-*.png)."
    browser = _chromium()
    from PIL import Image
    for name, rel in SHOTS.items():
        png = site.root/f'screenshot-{name}.png'
        p = _browse(browser, '--window-size=1280,2400', '--hide-scrollbars', '--virtual-time-budget=1500', f'--screenshot={png}', server + rel)
        assert png.exists(), f'chromium wrote no screenshot of {rel}:\n{p.stderr[-2000:]}'
        im = Image.open(png).convert('RGB')
        counts = im.getcolors(im.width * im.height)
        nonwhite = sum(n for n, rgb in counts if min(rgb) < 235) / (im.width * im.height)
        assert len(counts) > 20 and nonwhite > 0.03, f'the screenshot of {rel} is nearly blank ({len(counts)} colours, {nonwhite:.1%} non-white)'


CHECK_PAGE = """<!DOCTYPE html><html><body><pre id="out">pending</pre><script>
const pages = %s, width = %d, res = {};
const f = document.createElement('iframe');
f.style.width = width + 'px'; f.style.height = '900px'; f.style.border = '0';
document.body.appendChild(f);
let i = 0;
function look() {
  const d = f.contentDocument, el = d.documentElement;
  const tables = [...d.querySelectorAll('table')].filter(t => [...t.querySelectorAll('th')].some(th => th.textContent.trim() === 'verdict'));
  const imgs = [...d.querySelectorAll('img')].filter(im => (im.getAttribute('src') || '').includes('_results/figures/'));
  res[pages[i]] = {verdict_tables: tables.length, figures: imgs.length,
                   drawn: imgs.filter(im => im.complete && im.naturalWidth > 0).length,
                   overflow: el.scrollWidth - el.clientWidth};
  i++; next();
}
function next() {
  if (i >= pages.length) { document.getElementById('out').textContent = 'RESULT' + JSON.stringify(res) + 'END'; return; }
  f.onload = () => { for (const im of f.contentDocument.querySelectorAll('img')) im.loading = 'eager'; setTimeout(look, 300); };
  f.src = pages[i];
}
next();
</script></body></html>"""


def test_experiment_pages_in_a_browser(site, server):
    "In Chromium, at a phone's width, every experiment page draws its verdict table and its figures, and no page is wider than the screen."
    browser = _chromium()
    pages = sorted(_experiment_pages().values()) + [SHOTS['derivation'], SHOTS['api']]
    check = site.root/'_browser_check.html'
    check.write_text(CHECK_PAGE % (json.dumps(['/' + p for p in pages]), 420), encoding='utf-8')
    try: p = _browse(browser, '--window-size=500,1000', f'--virtual-time-budget={1000 * len(pages)}', '--dump-dom', server + check.name, timeout=120)
    finally: check.unlink()
    m = re.search(r'RESULT(.*?)END', p.stdout, re.S)
    assert m, f'the check page did not finish:\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}'
    res = json.loads(m.group(1))
    for page in sorted(_experiment_pages().values()):
        r = res['/' + page]
        assert r['verdict_tables'] == 1, f'{page}: {r["verdict_tables"]} verdict tables in the browser'
        assert r['figures'] >= 1 and r['drawn'] == r['figures'], f'{page}: {r["drawn"]} of {r["figures"]} figures drawn'
    wide = {k: v['overflow'] for k, v in res.items() if v['overflow'] > 1}
    assert not wide, f'pages wider than a 420 px screen (px past the edge): {wide}'


def test_math_renders_in_browser(site, server):
    if not (site.root/'katex'/'katex.min.js').exists(): pytest.skip('KaTeX could not be fetched with npm')
    pages = [p for p in sorted(site.root.rglob('*.html')) if 'katex/katex.min.js' in p.read_text(encoding='utf-8')]
    if not pages: pytest.skip('no page has math')
    browser = _chromium()
    rel = pages[0].relative_to(site.root).as_posix()
    p = _browse(browser, '--virtual-time-budget=5000', '--dump-dom', server + rel)
    assert 'class="katex"' in p.stdout, f'math on {rel} was not rendered by KaTeX'


def _build_docs_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location('build_docs', ROOT/'tools'/'build_docs.py')
    bd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bd)
    return bd


def test_sidebar_order(tmp_path):
    "core first, then paper folders in notebook-number order, whatever their names."
    import yaml
    sb = tmp_path/'sidebar.yml'
    sb.write_text(yaml.dump({'website': {'sidebar': {'contents': [
        'index.ipynb',
        {'section': 'bastion', 'contents': ['bastion/40_derivation.ipynb']},
        {'section': 'core', 'contents': ['core/00_data.ipynb']},
        {'section': 'judges', 'contents': ['judges/60_derivation.ipynb']},
        {'section': 'gfa', 'contents': ['gfa/10_derivation.ipynb', 'gfa/19_experiment.ipynb']}]}}}))
    _build_docs_module().order_sidebar(sb)
    contents = yaml.safe_load(sb.read_text())['website']['sidebar']['contents']
    assert contents[0] == 'index.ipynb'
    assert [c['section'] for c in contents[1:]] == ['core', 'gfa', 'bastion', 'judges']


def test_link_rewriting(tmp_path):
    "nbdev's page names and root-absolute links become relative links to the rendered pages."
    bd = _build_docs_module()
    proc, out = tmp_path/'proc', tmp_path/'site'
    for nb in ('index.ipynb', 'core/05_results.ipynb', 'judges/61_ivwe.ipynb'):
        (proc/nb).parent.mkdir(parents=True, exist_ok=True)
        (proc/nb).write_text('{}')
        (out/nb).parent.mkdir(parents=True, exist_ok=True)
        (out/nb).with_suffix('.html').write_text('<h1 id="x">x</h1>')
    aliases = bd.page_aliases(proc)
    assert aliases == {'core/results.html': 'core/05_results.html', 'judges/ivwe.html': 'judges/61_ivwe.html'}
    (out/'judges'/'61_ivwe.html').write_text(
        '<a href="/core/results.html#results">a</a><a href="../core/results.html">b</a><a href="ivwe.html#x">c</a>'
        '<a href="https://docs.example.org/lmpapers/index.html">d</a><a href="https://elsewhere.org/core/results.html">e</a>')
    assert bd.fix_links(out, aliases, ['https://docs.example.org/lmpapers/']) == 4
    assert (out/'judges'/'61_ivwe.html').read_text() == (
        '<a href="../core/05_results.html#results">a</a><a href="../core/05_results.html">b</a><a href="61_ivwe.html#x">c</a>'
        '<a href="../index.html">d</a><a href="https://elsewhere.org/core/results.html">e</a>')
    assert bd.write_redirects(out, aliases) == 2
    assert 'location.replace("05_results.html"' in (out/'core'/'results.html').read_text()


def test_links_before_rendering_and_in_the_readme(tmp_path):
    "Links to nbdev page names are pointed at the pages in the processed notebooks; the README's lead to the notebooks."
    bd = _build_docs_module()
    aliases = {'core/results.html': 'core/05_results.html'}
    (tmp_path/'core').mkdir()
    nb = tmp_path/'core'/'06_cli.ipynb'
    nb.write_text(json.dumps({'cells': [{'source': ['[`Results`](/core/results.html#results) ',
                                                    '<a href="/core/results.html">x</a> https://example.org/core/results.html']}]}))
    (tmp_path/'_skip').mkdir(); (tmp_path/'_skip'/'a.ipynb').write_text('"/core/results.html"')
    assert bd.alias_links_in_proc(tmp_path, aliases) == 2
    text = nb.read_text()
    assert '(/core/05_results.html#results)' in text and '\\"/core/05_results.html\\"' in text
    assert 'https://example.org/core/results.html' in text and '/core/results.html' in (tmp_path/'_skip'/'a.ipynb').read_text()
    md_ = '[`Results`](/core/results.html#results) [a](core/05_results.llms.md) [b](https://x.org/core/results.html) [c](/gone.html)'
    assert bd.readme_links(md_, aliases, {'core/05_results.html'}) == (
        '[`Results`](nbs/core/05_results.ipynb#results) [a](nbs/core/05_results.ipynb) [b](https://x.org/core/results.html) [c](/gone.html)')


def test_links_to_undocumented_methods_lead_to_their_class(tmp_path):
    bd = _build_docs_module()
    (tmp_path/'a.html').write_text('<h3 id="results">Results</h3><h3 id="results.add">add</h3><a href="#results.save">s</a>'
                                   '<a href="#results.add">a</a><a href="#nothing.here">n</a>')
    (tmp_path/'b.html').write_text('<a href="a.html#results.save.x">s</a><a href="https://x.org/a.html#results.save">e</a>')
    assert bd.method_anchors(tmp_path) == 2
    assert '<a href="#results">s</a><a href="#results.add">a</a><a href="#nothing.here">n</a>' in (tmp_path/'a.html').read_text()
    assert (tmp_path/'b.html').read_text() == '<a href="a.html#results">s</a><a href="https://x.org/a.html#results.save">e</a>'
