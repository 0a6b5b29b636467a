"The cache under several processes of one `torch.distributed` run: the first process of the node builds, the others wait and load."
import os, socket
from pathlib import Path
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _worker(rank, world, port, root, wait_s, rank0_asks, results):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), LOCAL_RANK=str(rank), LMPAPERS_CACHE_WAIT_S=str(wait_s))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    from lmpapers.core.cache import cached
    def build(folder):
        import time
        with open(Path(root)/'builds.txt', 'a') as f: f.write(f'{rank}\n')
        time.sleep(1.0); (folder/'w.bin').write_bytes(b'\x07' * 32)
    try:
        if rank == 0 and not rank0_asks: results[rank] = 'skipped'
        else: results[rank] = str(cached('dist', dict(x=1), build, root=Path(root)/'cache', verbose=False))
    except TimeoutError as e: results[rank] = f'TimeoutError: {e}'
    finally: dist.destroy_process_group()


def _run(tmp_path, wait_s, rank0_asks):
    results = mp.Manager().dict()
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path), wait_s, rank0_asks, results), nprocs=2, join=True, start_method='spawn')
    return dict(results)


def test_one_process_builds_the_other_waits_and_loads(tmp_path):
    got = _run(tmp_path, 60, True)
    assert got[0] == got[1] and Path(got[0]).is_dir(), got
    assert (tmp_path/'builds.txt').read_text().split() == ['0'], 'only the first process builds'
    assert (Path(got[1])/'w.bin').read_bytes() == b'\x07' * 32


def test_a_waiting_process_times_out_with_a_clear_message(tmp_path):
    got = _run(tmp_path, 2, False)                    # the first process never builds: the second must not hang
    assert got[1].startswith('TimeoutError: waited 2 s for the first process of this node to build dist/'), got[1]
    assert 'LMPAPERS_CACHE_WAIT_S' in got[1]
    assert not (tmp_path/'builds.txt').exists()
