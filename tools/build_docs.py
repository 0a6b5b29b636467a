"""Build the documentation site into `_docs/` and `README.md` from the notebooks in `nbs/`.

Usage: .venv/bin/python tools/build_docs.py [--out _docs] [--readme README.md | --no-readme]

With Quarto on PATH this runs `nbdev-docs`. Without it (the usual case) it runs
`nbdev-proc-nbs` and renders the processed notebooks with `smalldocs`, then:

- orders the sidebar: `core` first, then one section per paper folder in notebook-number order;
- makes nbdev's symbol links resolve: nbdev links to `core/results.html` while the page is
  `core/05_results.html`, so links in the processed notebooks are pointed at the page before
  smalldocs renders them (it would otherwise warn about each), links in the site are rewritten
  the same way, and a redirect page is written under the nbdev name for links from outside the
  site; show_doc's `source` links lead to the repository (`[project.urls] Repository` in
  pyproject.toml; when it is unset they would lead nowhere and are dropped);
- copies the recorded runs (`nbs/_results/`, see tools/record_pages.py) beside the pages, so the
  experiment pages' figures resolve;
- renders math offline: a copy of KaTeX (`npm pack katex@0.16`, cached in `.cache/katex/`)
  goes into `_docs/katex/` and the pages load it instead of the CDN (when npm can't fetch it,
  the pages keep the CDN links and a warning is printed);
- writes `README.md` from the home page (`nbs/index.ipynb`), with its links to pages pointing at the
  notebooks (`nbs/gfa/11_tracking.ipynb`), which a repository browser opens.

Running it twice gives the same site.
"""
from __future__ import annotations

import argparse
import os
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[1]
FILE_RE = r'\.(?:ipynb|qmd|html)$'  # without it nbdev.yml and sidebar.yml become sidebar pages
KATEX_SPEC = 'katex@0.16'
KATEX_CDN = re.compile(r'https://cdn\.jsdelivr\.net/npm/katex@[^/"\']+/dist/')
NUM = re.compile(r'^(\d+)')
# smalldocs warnings about Quarto-only keys that nbdev writes; they change nothing in the site
BENIGN = ('unknown key format-links', 'format commonmark is not built', 'keep-md is ignored',
          'output-file is not read')


def tool(name: str) -> str:
    "Path of the console script `name`, preferring the one beside this Python."
    local = Path(sys.executable).parent/name
    if local.exists(): return str(local)
    found = shutil.which(name)
    if not found: sys.exit(f'error: {name} not found; install the dev dependencies (pip install -e ".[dev]")')
    return found


MIXED = re.compile(r"[^\n]*UserWarning: Found cells containing imports and other code.*?\n\s*warn\(f[^\n]*\n", re.S)


def run(cmd: list[str], env=None, quiet_re: tuple = (), timeout: float | None = None) -> str:
    "Run `cmd` in the repository root; print its output except lines matching `quiet_re`; exit on failure."
    # its own process group, so that a timeout also ends the workers it spawns
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try: stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        sys.exit(f'error: {Path(cmd[0]).name} ran longer than {timeout:.0f} s and was stopped; '
                 'a notebook cell that nbdev runs while processing (see the warnings above) may be slow or stuck')
    p = subprocess.CompletedProcess(cmd, p.returncode, stdout, stderr)
    out = p.stdout + p.stderr
    out = MIXED.sub('', out)  # listed before the run by `cells_run_while_processing`
    if p.returncode:
        # a failing notebook cell shows up as a long chained traceback; its last exception says it all
        tail = out[out.rfind('\nException: ') + 1:] if '\nException: ' in out else out
        print('\n'.join(f'  {l}' for l in tail.strip().splitlines()[-40:]))
        m = re.search(r'Error in notebook: (.*?) in cell (\d+)', tail)
        if m:
            where = notebooks_titled(m.group(1))
            if where: print(f'  notebook: {", ".join(where)} (cell {m.group(2)}, counting from 0)')
            print('  hint: while processing, nbdev re-runs every cell that contains an import (to document it);'
                  ' keep imports in cells of their own')
        sys.stdout.flush()
        sys.exit(f'error: {Path(cmd[0]).name} failed with exit status {p.returncode}')
    for line in out.splitlines():
        if line.strip() and not any(q in line for q in quiet_re): print(f'  {line}')
    return out


EXPORTS = re.compile(r'^#\|\s*(?:export|exports|exporti|exec_doc)\b', re.M)


def _cell_tree(src: str):
    "The AST of a code cell, with IPython magics and shell lines blanked; None if it doesn't parse."
    import ast
    code = '\n'.join('' if l.lstrip().startswith(('%', '!')) else l for l in src.splitlines())
    try: return ast.parse(code)
    except SyntaxError: return None


def cells_run_while_processing() -> list[str]:
    "Code cells that mix imports with other code: nbdev re-runs them to build the docs, slow flags or not."
    import ast, json
    res = []
    for nb in sorted((ROOT/'nbs').rglob('*.ipynb')):
        rel = nb.relative_to(ROOT/'nbs')
        if any(p.startswith(('_', '.')) for p in rel.parts): continue
        try: cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        except (ValueError, KeyError, OSError): continue
        for i, c in enumerate(cells):
            src = ''.join(c.get('source', []))
            if c.get('cell_type') != 'code' or EXPORTS.search(src) or re.search(r'^#\|\s*eval:\s*false', src, re.M): continue
            tree = _cell_tree(src)
            if tree is None: continue
            imports = (ast.Import, ast.ImportFrom)
            if any(isinstance(n, imports) for n in ast.walk(tree)) and any(not isinstance(t, imports) for t in tree.body):
                first = next((l for l in src.splitlines() if l.strip() and not l.startswith('#|')), '')
                res.append(f'nbs/{rel.as_posix()} cell {i}: {first[:70]}')
    return res


def notebooks_titled(title: str) -> list[str]:
    "Notebooks under nbs/ whose first `# ` heading is `title`."
    import json
    res = []
    for nb in sorted((ROOT/'nbs').rglob('*.ipynb')):
        try: cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        except (ValueError, KeyError, OSError): continue
        for c in cells:
            if c.get('cell_type') != 'markdown': continue
            m = re.search(r'^#\s+(.+?)\s*$', ''.join(c.get('source', [])), re.M)
            if m:
                if m.group(1) == title: res.append(nb.relative_to(ROOT).as_posix())
                break
    return res


# ---------------------------------------------------------------- sidebar order
def _first_number(item) -> int:
    "The smallest notebook number inside a sidebar item (a file name or a section)."
    if isinstance(item, str):
        m = NUM.match(posixpath.basename(item))
        return int(m.group(1)) if m else 10**6
    if isinstance(item, dict): return min((_first_number(o) for o in item.get('contents', [])), default=10**6)
    return 10**6


def order_sidebar(path: Path):
    "Put root pages first, then folder sections ordered by their notebook numbers (`core` is 00)."
    import yaml
    if not path.exists(): return
    d = yaml.safe_load(path.read_text())
    contents = d.get('website', {}).get('sidebar', {}).get('contents', [])
    pages = [o for o in contents if not isinstance(o, dict)]
    sections = [o for o in contents if isinstance(o, dict)]
    sections.sort(key=lambda s: (s.get('section') != 'core', _first_number(s), str(s.get('section'))))
    d['website']['sidebar']['contents'] = pages + sections
    path.write_text(yaml.dump(d, sort_keys=False))


# ---------------------------------------------------------------- links
def page_aliases(proc: Path) -> dict[str, str]:
    "Map nbdev's page names (`core/results.html`) to the rendered pages (`core/05_results.html`)."
    from nbdev.doclinks import nbpath2html
    res = {}
    for src in sorted(proc.rglob('*')):
        rel = src.relative_to(proc)
        if src.suffix not in ('.ipynb', '.qmd') or any(p.startswith(('_', '.')) for p in rel.parts): continue
        page, alias = rel.with_suffix('.html').as_posix(), nbpath2html(rel).as_posix()
        if alias != page: res[alias] = page
    pages = {p.relative_to(proc).with_suffix('.html').as_posix() for p in proc.rglob('*') if p.suffix in ('.ipynb', '.qmd')}
    return {a: p for a, p in res.items() if a not in pages}  # a notebook that has the nbdev name keeps it


def site_prefixes() -> list[str]:
    "Absolute URLs under which nbdev may link to this site (from `doc_host` and `doc_baseurl`)."
    try:
        from nbdev.config import get_config
        cfg = get_config(ROOT)
        host, base = cfg.get('doc_host', '') or '', cfg.get('doc_baseurl', '/') or '/'
    except Exception: return []
    if not host: return []
    pre = urljoin(host.rstrip('/') + '/', base.lstrip('/'))
    return [pre if pre.endswith('/') else pre + '/']


ATTR = re.compile(r'''(\s(?:href|src)=)(["'])([^"']*)\2''')


def substitute_in_file(path: Path, pattern: re.Pattern, sub) -> None:
    "Apply `pattern.sub(sub, ...)` to the text of `path`, writing the file only when something changed."
    text = path.read_text(encoding='utf-8')
    new = pattern.sub(sub, text)
    if new != text: path.write_text(new, encoding='utf-8')


def fix_links(out: Path, aliases: dict[str, str], prefixes: list[str]) -> int:
    "Rewrite links to nbdev page names and to this site's absolute URLs as relative links to the pages."
    n = 0
    for page in out.rglob('*.html'):
        rel_dir = posixpath.dirname(page.relative_to(out).as_posix())

        def sub(m):
            nonlocal n
            url = m.group(3)
            for pre in prefixes:
                if url.startswith(pre): url = '/' + url[len(pre):]
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or not parts.path: return m.group(0)
            target = posixpath.normpath(parts.path.lstrip('/') if parts.path.startswith('/')
                                        else posixpath.join(rel_dir, parts.path))
            if target in aliases: target = aliases[target]
            elif not parts.path.startswith('/') or not (out/target).exists(): return m.group(0)
            new = posixpath.relpath(target, rel_dir or '.') + (f'#{parts.fragment}' if parts.fragment else '')
            if new == m.group(3): return m.group(0)
            n += 1
            return f'{m.group(1)}{m.group(2)}{new}{m.group(2)}'

        substitute_in_file(page, ATTR, sub)
    return n


PAGE_LINK = re.compile(r'(?<![\w.\-/~])/((?:[\w.\-]+/)*[\w.\-]+\.html)(?=[#)"\'\s\\]|$)')


def alias_links_in_proc(proc: Path, aliases: dict[str, str]) -> int:
    "Point links to nbdev's page names (`/core/results.html`) at the pages (`/core/05_results.html`) in the processed notebooks."
    n = 0
    for nb in proc.rglob('*.ipynb'):
        rel = nb.relative_to(proc)
        if any(p.startswith(('_', '.')) for p in rel.parts): continue

        def sub(m):
            nonlocal n
            if m.group(1) not in aliases: return m.group(0)
            n += 1
            return '/' + aliases[m.group(1)]

        substitute_in_file(nb, PAGE_LINK, sub)
    return n


README_LINK = re.compile(r'(\]\()([^)\s]+)(\))')


def readme_links(text: str, aliases: dict[str, str], pages: set[str]) -> str:
    "Links of the README that lead to site pages (`/gfa/tracking.html#x`, `gfa/11_tracking.html`, `.llms.md`) lead to their notebooks (`nbs/gfa/11_tracking.ipynb#x`)."
    def sub(m):
        parts = urlsplit(m.group(2))
        path = parts.path.removesuffix('.llms.md') + '.html' if parts.path.endswith('.llms.md') else parts.path
        if parts.scheme or parts.netloc or not path.endswith('.html'): return m.group(0)
        page = posixpath.normpath(path.lstrip('/'))
        page = aliases.get(page, page)
        if page not in pages: return m.group(0)
        nb = 'nbs/' + page.removesuffix('.html') + '.ipynb'
        return f"{m.group(1)}{nb}{'#' + parts.fragment if parts.fragment else ''}{m.group(3)}"
    return README_LINK.sub(sub, text)


PAGE_IDS = re.compile(r'''\sid=(["'])([^"']+)\1''')


def method_anchors(out: Path) -> int:
    "Links to a method nbdev documents under its class (`#results.save`, no such anchor) lead to the class (`#results`)."
    ids = {p.resolve(): set(m.group(2) for m in PAGE_IDS.finditer(p.read_text(encoding='utf-8'))) for p in out.rglob('*.html')}
    n = 0
    for page in ids:
        def sub(m):
            nonlocal n
            parts = urlsplit(m.group(3))
            if parts.scheme or parts.netloc or '.' not in parts.fragment: return m.group(0)
            target = (page.parent/unquote(parts.path)).resolve() if parts.path else page
            have = ids.get(target)
            if have is None or parts.fragment in have: return m.group(0)
            owner = parts.fragment.rsplit('.', 1)[0]
            while owner not in have and '.' in owner: owner = owner.rsplit('.', 1)[0]
            if owner not in have: return m.group(0)
            n += 1
            return f'{m.group(1)}{m.group(2)}{parts.path}#{owner}{m.group(2)}'

        substitute_in_file(page, ATTR, sub)
    return n


SOURCE_LINK = re.compile(r'(?:<p>)?<a href="([^"]*)"[^>]*>source</a>(?:</p>)?\n?')


def drop_dead_source_links(out: Path) -> int:
    "Remove show_doc's `source` links that lead nowhere: nbdev makes them `/blob/BRANCH/...` when `git_url` is unset."
    n = 0
    for page in out.rglob('*.html'):
        rel_dir = posixpath.dirname(page.relative_to(out).as_posix())

        def sub(m):
            nonlocal n
            parts = urlsplit(m.group(1))
            if parts.scheme or parts.netloc or '/blob/' not in '/' + parts.path: return m.group(0)
            target = posixpath.normpath(posixpath.join(rel_dir, parts.path) if not parts.path.startswith('/') else parts.path.lstrip('/'))
            if (out/target).exists(): return m.group(0)
            n += 1
            return ''

        substitute_in_file(page, SOURCE_LINK, sub)
    return n


REDIRECT = '''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title>
<meta name="robots" content="noindex">
<link rel="canonical" href="{href}">
<script>location.replace("{href}" + location.hash)</script>
<meta http-equiv="refresh" content="0; url={href}">
</head><body><p>This page is at <a href="{href}">{href}</a>.</p></body></html>
'''


def write_redirects(out: Path, aliases: dict[str, str]) -> int:
    "Write a small page under each nbdev name that forwards (keeping the #anchor) to the real page."
    n = 0
    for alias, page in aliases.items():
        dest = out/alias
        if dest.exists() or not (out/page).exists(): continue
        href = posixpath.relpath(page, posixpath.dirname(alias) or '.')
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(REDIRECT.format(name=Path(page).stem, href=href), encoding='utf-8')
        n += 1
    return n


# ---------------------------------------------------------------- KaTeX
def katex_dist(cache: Path) -> Path | None:
    "KaTeX's `dist/` folder, fetched once with `npm pack` into `cache`; None when it can't be fetched."
    dist = cache/'dist'
    if (dist/'katex.min.js').exists() and (dist/'contrib'/'auto-render.min.js').exists(): return dist
    npm = shutil.which('npm')
    if not npm: return None
    cache.mkdir(parents=True, exist_ok=True)
    try:
        p = subprocess.run([npm, 'pack', KATEX_SPEC, '--pack-destination', str(cache), '--silent'],
                           capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired): return None
    tgz = cache/(p.stdout.strip().splitlines() or [''])[-1]
    if p.returncode or not tgz.is_file(): return None
    tmp = cache/'dist.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tgz) as tf:
        for m in tf.getmembers():
            if not m.name.startswith('package/dist/') or not (m.isfile() or m.isdir()): continue
            m.name = m.name[len('package/dist/'):]
            if m.name: tf.extract(m, tmp, filter='data') if hasattr(tarfile, 'data_filter') else tf.extract(m, tmp)
    tgz.unlink()
    (tmp/'VERSION').write_text(tgz.name.removeprefix('katex-').removesuffix('.tgz') + '\n')
    shutil.rmtree(dist, ignore_errors=True)
    tmp.rename(dist)
    return dist


def local_katex(out: Path, dist: Path) -> int:
    "Copy the files the pages use into `out/katex/` and point the pages at them."
    dest = out/'katex'
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    for f in ('katex.min.css', 'katex.min.js', 'VERSION'): shutil.copy2(dist/f, dest/f)
    (dest/'contrib').mkdir()
    for f in (dist/'contrib').glob('*.min.js'): shutil.copy2(f, dest/'contrib'/f.name)
    shutil.copytree(dist/'fonts', dest/'fonts')
    if (dist.parent/'LICENSE').exists(): shutil.copy2(dist.parent/'LICENSE', dest/'LICENSE')
    n = 0
    for page in out.rglob('*.html'):
        text = page.read_text(encoding='utf-8')
        if not KATEX_CDN.search(text): continue
        up = '../' * (len(page.relative_to(out).parts) - 1)
        page.write_text(KATEX_CDN.sub(f'{up}katex/', text), encoding='utf-8')
        n += 1
    return n


# ---------------------------------------------------------------- build
def build_smalldocs(out: Path, timeout: float):
    "Process the notebooks with nbdev and render them with smalldocs into `out`."
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as shim:
        # nbdev offers to download and install Quarto when none is on PATH; a `quarto` that only
        # fails stops that, and smalldocs renders instead.
        q = Path(shim)/'quarto'
        q.write_text('#!/bin/sh\nexit 1\n')
        q.chmod(0o755)
        env['PATH'] = shim + os.pathsep + env.get('PATH', '')
        mixed = cells_run_while_processing()
        if mixed:
            print(f'warning: {len(mixed)} cell(s) mix imports with other code; nbdev runs them while building the docs'
                  ' (slow flags or not). Keep imports in cells of their own:')
            for m in mixed: print(f'  {m}')
        # nbdev-proc-nbs skips notebooks older than their processed copy, but a page that runs library code
        # (an experiment page's verdict table) changes with the library: process every notebook afresh.
        shutil.rmtree(ROOT/'_proc', ignore_errors=True)
        run([tool('nbdev-proc-nbs'), '--file-re', FILE_RE], env=env, timeout=timeout)
    proc = ROOT/'_proc'
    order_sidebar(proc/'sidebar.yml')
    recorded = ROOT/'nbs'/'_results'   # nbdev leaves `_` folders out of _proc
    if recorded.is_dir(): shutil.rmtree(proc/'_results', ignore_errors=True); shutil.copytree(recorded, proc/'_results')
    n = alias_links_in_proc(proc, page_aliases(proc))
    print(f'links: {n} links to nbdev page names pointed at the pages before rendering')
    site = proc/'_docs'
    shutil.rmtree(site, ignore_errors=True)
    run([tool('smalldocs'), 'render', '--quiet', str(proc)], quiet_re=BENIGN)
    if not (site/'index.html').exists(): sys.exit(f'error: smalldocs wrote no {site/"index.html"}')
    if out.resolve() != site.resolve():
        shutil.rmtree(out, ignore_errors=True)
        shutil.move(str(site), str(out))
    return proc


def main(argv=None):
    ap = argparse.ArgumentParser(description='Build the documentation site and README.md from nbs/.')
    ap.add_argument('--out', default='_docs', help='site folder, relative to the repository root (default: _docs)')
    ap.add_argument('--readme', default='README.md', help='where the home page is written as Markdown (default: README.md)')
    ap.add_argument('--no-readme', action='store_true', help='do not write the README')
    ap.add_argument('--timeout', type=float, default=900, help='seconds nbdev may take to process the notebooks (default: 900)')
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = (ROOT/args.out).resolve()
    readme = (ROOT/args.readme).resolve()

    if shutil.which('quarto'):
        print('building with Quarto (nbdev-docs)')
        run([tool('nbdev-docs')])
        built = ROOT/'_docs'
        if out != built.resolve():
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(built, out)
        readme_src = ROOT/'README.md'
        proc = ROOT/'_proc'
    else:
        print('building with nbdev-proc-nbs + smalldocs')
        proc = build_smalldocs(out, args.timeout)
        readme_src = out/'index.llms.md'

    aliases = page_aliases(proc)
    print(f'links: {fix_links(out, aliases, site_prefixes())} rewritten, '
          f'{write_redirects(out, aliases)} redirect pages for nbdev page names')
    moved = method_anchors(out)
    if moved: print(f'links: {moved} links to undocumented methods lead to their class')
    dead = drop_dead_source_links(out)
    if dead: print(f'links: {dead} "source" links dropped: set git_url in [tool.nbdev] to link to the code')

    dist = katex_dist(ROOT/'.cache'/'katex')
    if dist is None:
        print(f'warning: could not fetch {KATEX_SPEC} with npm; math loads KaTeX from the CDN and needs a network')
    else:
        n = local_katex(out, dist)
        print(f'math: local KaTeX {(dist/"VERSION").read_text().strip()} in {out.name}/katex/ ({n} page(s) use it)')

    if not args.no_readme:
        if not readme_src.exists(): sys.exit(f'error: {readme_src} was not written; is there an nbs/index.ipynb?')
        text = readme_src.read_text(encoding='utf-8')
        pages = {p.relative_to(out).as_posix() for p in out.rglob('*.html')}
        text = readme_links(text, aliases, pages)
        if readme_src.resolve() != readme and (not readme.exists() or readme.read_text(encoding='utf-8') != text):
            readme.parent.mkdir(parents=True, exist_ok=True)
            readme.write_text(text, encoding='utf-8')
        print(f'readme: {readme.relative_to(ROOT) if readme.is_relative_to(ROOT) else readme}')
    pages = sum(1 for _ in out.rglob('*.html'))
    print(f'site: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({pages} html files) '
          f'built in {time.perf_counter() - t0:.1f} s')


if __name__ == '__main__':
    main()
