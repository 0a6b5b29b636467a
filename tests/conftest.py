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
SLOW_FIRST = ('test_specdec_lossless.py', 'test_spot_reproduce.py', 'test_bastion_reproduce.py', 'test_metasd_reproduce.py')

def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))   # stable: the rest keep their order
