"Shared pytest setup for every suite in tests/."
import os

# Triton's `@triton.jit` picks its CPU interpreter from this variable when a kernel module is imported,
# so it must be set before any test module imports triton or a kernel. Kept first and additive:
# a value already in the environment (e.g. TRITON_INTERPRET=0 on a GPU machine) wins.
os.environ.setdefault('TRITON_INTERPRET', '1')

import pytest

@pytest.fixture
def one_thread():
    "Tiny models run fastest on one torch thread, and far faster than on several when other processes share the cores."
    from lmpapers.core.guards import num_threads
    with num_threads(1): yield

# The longest files first: `make test` runs two workers that each take whole files (`--dist loadfile`); a 200 s file
# started last would leave one worker running it alone at the end.
SLOW_FIRST = ('test_spot_reproduce.py', 'test_specdec_lossless.py', 'test_docs.py', 'test_bastion_reproduce.py', 'test_metasd_reproduce.py',
              'test_spot_smoke.py')

def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))   # stable: the rest keep their order

# --- Seeds: every run draws a session seed; tests that want fresh seeds derive theirs from it ---
# A fault that only some seeds show stays invisible if the tests always use the seeds the code was developed with.
# The session seed is drawn at random unless `pytest --seed N` or `LMPAPERS_TEST_SEED=N` replays one; it is printed in
# the header and the summary, and a failing test's report names it with the command that replays it.
import hashlib, random, secrets

SEED_ENV = 'LMPAPERS_TEST_SEED'

def pytest_addoption(parser):
    parser.addoption('--seed', type=int, default=None, metavar='N',
                     help=f'replay the session seed N (default: ${SEED_ENV} if set, else drawn at random in [0, 2**31))')

def _parse_seed(v, where):
    try: s = int(v)
    except (TypeError, ValueError): raise pytest.UsageError(f'{where} must be an integer in [0, 2**31), got {v!r}') from None
    if not 0 <= s < 2**31: raise pytest.UsageError(f'{where} must be in [0, 2**31), got {s}')
    return s

def pytest_configure(config):
    if config.getoption('seed') is not None: s = _parse_seed(config.getoption('seed'), '--seed')
    elif os.environ.get(SEED_ENV, '').strip(): s = _parse_seed(os.environ[SEED_ENV], SEED_ENV)
    else: s = secrets.randbelow(2**31)
    config.lmpapers_seed = s
    os.environ[SEED_ENV] = str(s)   # xdist workers (started after this) and subprocesses of tests see the same seed

def replay_command(seed: int, nodeid: str|None = None) -> str:
    return f"pytest --seed {seed}{' ' + repr(nodeid) if nodeid else ''}   (or: {SEED_ENV}={seed} make test)"

def pytest_report_header(config):
    return f'lmpapers test seed: {config.lmpapers_seed} (replay: {replay_command(config.lmpapers_seed)})'

def pytest_terminal_summary(terminalreporter, exitstatus, config):
    terminalreporter.write_line(f'lmpapers test seed: {config.lmpapers_seed} (replay: {replay_command(config.lmpapers_seed)})')

def derive_seeds(session_seed: int, name: str, k: int) -> list[int]:
    "`k` distinct seeds in [0, 2**31) derived from the session seed and a test's name (the same in every process)."
    if isinstance(k, bool) or not isinstance(k, int) or k < 1: raise ValueError(f'k must be a positive int, got {k!r}')
    rng = random.Random(int.from_bytes(hashlib.sha256(f'{session_seed}|{name}'.encode()).digest()[:8], 'little'))
    out = []
    while len(out) < k:
        s = rng.randrange(2**31)
        if s not in out: out.append(s)
    return out

@pytest.fixture
def session_seed(request) -> int:
    "This run's session seed (drawn at random, or replayed with --seed / $LMPAPERS_TEST_SEED)."
    return request.config.lmpapers_seed

@pytest.fixture
def fresh_seeds(request):
    "`fresh_seeds(k)`: `k` seeds for this test, derived from the session seed; a failure report lists them."
    drawn = request.node.__dict__.setdefault('lmpapers_seeds', [])
    def draw(k: int = 3) -> list[int]:
        s = derive_seeds(request.config.lmpapers_seed, f'{request.node.nodeid}#{len(drawn)}', k)
        drawn.extend(s); return s
    return draw

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        seed = item.config.lmpapers_seed; drawn = item.__dict__.get('lmpapers_seeds')
        rep.sections.append(('lmpapers seed', f'session seed {seed}' + (f'; this test drew seeds {drawn}' if drawn else '') +
                             f'\nreplay: {replay_command(seed, item.nodeid)}'))
