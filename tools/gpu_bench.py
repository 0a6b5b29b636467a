"""Paper-level GPU timings, side by side in one process: SpotAttention decode against dense SDPA/FlashAttention,
and the speculative-decoding verify profile (one forward pass of n draft tokens after a prefix).

Run by tools/gpu_check.sh on one CUDA GPU. `--dry-run` runs the same code on CPU at toy sizes (to check it, not to time it).
Prints markdown tables and writes them to --out.
"""
from __future__ import annotations
import argparse, statistics, sys, time
from pathlib import Path
import torch
import torch.nn.functional as F

def timer(dev):
    "Seconds of fn(), median and spread over `reps` calls after `warm` warm-ups (CUDA events on GPU)."
    def run(fn, reps=20, warm=3):
        for _ in range(warm): fn()
        ts = []
        for _ in range(reps):
            if dev.type == 'cuda':
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record(); fn(); b.record(); torch.cuda.synchronize(); ts.append(a.elapsed_time(b) / 1e3)
            else:
                t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
        ts.sort()
        return statistics.median(ts), ts[len(ts) // 10], ts[-1 - len(ts) // 10]   # median, ~p10, ~p90
    return run

def spot_decode(dev, lengths, H=32, Hkv=8, D=128, k=2048, reps=20, n_pairs=16, triton_ok=True):
    """Decode step of one layer at batch 1: dense SDPA (and flash when eligible) against SpotAttention — the packed INT4
    selector cache (2·n_pairs values a key) scored, top-k / top-p selected and attended sparsely, through the torch
    reference path and through the Triton kernels (scoring, adaptive selection, sparse decode) — and a Twilight-style
    path (INT4 estimate of the model's own keys, top-p 0.85) on the same kernels. The Triton sparse decode runs
    split-K (splits chosen from the shapes); `*_nosplit` is the same with one program per KV head (n_splits=1), and
    `decode_split` / `decode_nosplit` time the sparse-decode kernel alone over a fixed top-k selection. The Triton
    selection runs split too (chunks chosen from the shapes, `select_plan`); `select_split` / `select_nosplit` (top-k)
    and `select_topp_split` / `select_topp_nosplit` (top-p 0.9) time the selection alone over fixed scores with
    n_chunks=None and n_chunks=1 (one program per KV head), and `spot_triton_selnosplit` is the whole step with the
    one-program selection. The split selection was tested in the Triton interpreter only, not timed on a GPU before."""
    from lmpapers.spot.quant import PackedKeys
    from lmpapers.spot.selector import SpotSelector
    from lmpapers.spot.selection import select_topk, sparse_attention
    from lmpapers.kernels.spot import select as kselect
    t, G, rows = timer(dev), H // Hkv, []
    dt = torch.bfloat16 if dev.type == 'cuda' else torch.float32       # the interpreter computes bf16 wrongly
    torch.manual_seed(0)
    sel = SpotSelector(1, H, Hkv, D, n_pairs=n_pairs).to(dev)
    for L in lengths:
        g = torch.Generator(device=dev).manual_seed(0)
        q = torch.randn(1, H, 1, D, device=dev, dtype=dt, generator=g)
        K = torch.randn(1, Hkv, L, D, device=dev, dtype=dt, generator=g); V = torch.randn_like(K)
        sk, tk = PackedKeys('int4'), PackedKeys('int4')
        for s in range(0, L, 16384):
            sk.append(sel.keys(0, K[:, :, s:s + 16384])); tk.append(K[:, :, s:s + 16384].float())
        kk, pos = min(k, L), torch.full((Hkv,), L - 1, device=dev, dtype=torch.long)
        def dense(): return F.scaled_dot_product_attention(q, K, V, enable_gqa=True)
        def flash():
            from torch.nn.attention import sdpa_kernel, SDPBackend
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                return F.scaled_dot_product_attention(q, K, V, enable_gqa=True)
        def pick(s, p, backend, n_chunks=None):
            if backend == 'torch': return select_topk(s, kk, 4, 64, pos[:1])
            idx, ok, _ = kselect(s.reshape(Hkv, L), pos, p, 1, kk, 4, 64, backend='triton', n_chunks=n_chunks)
            return idx.view(1, Hkv, 1, kk), ok.view(1, Hkv, 1, kk)
        def spot(backend, p=None, n_splits=None, n_chunks=None):
            def f():
                s = sk.scores(sel.queries(0, q), backend=backend)      # [1, Hkv, 1, L] from the packed bytes
                idx, ok = pick(s, p, backend, n_chunks)
                return sparse_attention(q, K, V, idx, ok, backend=backend, n_splits=n_splits)
            return f
        def select_only(p, n_chunks):
            s = sk.scores(sel.queries(0, q), backend='triton')
            return lambda: pick(s, p, 'triton', n_chunks)
        def decode_only(n_splits):
            idx, ok = pick(sk.scores(sel.queries(0, q), backend='triton'), None, 'triton')
            return lambda: sparse_attention(q, K, V, idx, ok, backend='triton', n_splits=n_splits)
        def twilight():
            s = tk.scores(q.view(1, Hkv, G, D).float(), backend='triton') * D ** -0.5
            est = s.softmax(-1).mean(2).clamp_min(1e-30).log()        # group-averaged estimate, as logits
            idx, ok = pick(est, 0.85, 'triton')
            return sparse_attention(q, K, V, idx, ok, backend='triton')
        row = dict(L=L, dense_sdpa=t(dense, reps))
        try: row['flash'] = t(flash, reps)
        except RuntimeError as e: row['flash'] = f'n/a ({str(e).splitlines()[0][:60]})'
        row['spot_torch'] = t(spot('torch'), reps)
        if triton_ok:
            from lmpapers.kernels.spot import split_plan
            n_sm = torch.cuda.get_device_properties(dev).multi_processor_count if dev.type == 'cuda' else 132
            S, kps = split_plan(Hkv, kk, None, n_sm=n_sm)
            row['split_plan'] = f'{S} x {kps} slots: {Hkv * S}+{Hkv} programs (nosplit: {Hkv})' if S > 1 else f'1 split: {Hkv} programs'
            row['spot_triton'] = t(spot('triton'), reps)
            row['spot_triton_nosplit'] = t(spot('triton', n_splits=1), reps)
            from lmpapers.kernels.spot import select_plan
            C, ch = select_plan(Hkv, L, None, n_sm=n_sm)
            row['select_plan'] = f'{C} x {ch} keys: {Hkv * C} programs a scan (nosplit: {Hkv})' if C > 1 else f'1 chunk: {Hkv} programs'
            row['spot_triton_selnosplit'] = t(spot('triton', n_chunks=1), reps)
            row['select_split'] = t(select_only(None, None), reps)
            row['select_nosplit'] = t(select_only(None, 1), reps)
            row['select_topp_split'] = t(select_only(0.9, None), reps)
            row['select_topp_nosplit'] = t(select_only(0.9, 1), reps)
            row['decode_split'] = t(decode_only(None), reps)
            row['decode_nosplit'] = t(decode_only(1), reps)
            row['spot_topp_triton'] = t(spot('triton', 0.9), reps)
            row['twilight_triton'] = t(twilight, reps)
        rows.append(row)
    return rows

def verify_profile(dev, arch, sizes, prefix=512, layers=2, reps=10):
    "Seconds of one target forward over n new tokens after a cached prefix, for a random model of `arch` (real shapes)."
    from transformers import AutoModelForCausalLM, DynamicCache
    from lmpapers.core.scales import smoke_config
    cfg = smoke_config(arch, layers)
    with torch.device(dev): model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16 if dev.type == 'cuda' else torch.float32).eval()
    t = timer(dev)
    ids = torch.randint(0, 2000, (1, prefix), device=dev)
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        model(ids, past_key_values=cache, use_cache=True)
        out = []
        for n in sizes:
            x = torch.randint(0, 2000, (1, n), device=dev)
            def step():
                model(x, past_key_values=cache, use_cache=True)
                cache.crop(-(cache.get_seq_length() - prefix))   # drop the n tokens again
            out.append(dict(n=n, s=t(step, reps)))
    return cfg.num_hidden_layers, out

def fmt(v):
    if isinstance(v, tuple): return f'{v[0] * 1e3:.3f} ms [{v[1] * 1e3:.3f}, {v[2] * 1e3:.3f}]'
    return str(v)

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--dry-run', action='store_true', help='CPU, toy sizes: checks the code, times nothing meaningful')
    ap.add_argument('--out', default='gpu_bench.md')
    ap.add_argument('--arch', default='Qwen/Qwen3-1.7B')
    a = ap.parse_args(argv)
    dev = torch.device('cpu' if a.dry_run else 'cuda')
    if dev.type == 'cuda' and not torch.cuda.is_available(): sys.exit('error: no CUDA GPU visible (use --dry-run on CPU)')
    lengths = (256, 1024) if a.dry_run else (4096, 16384, 65536, 131072)
    from lmpapers.kernels import triton_available, interpret_requested
    triton_ok = triton_available() and (dev.type == 'cuda' or interpret_requested())
    lines = ['## Spot decode step, one layer, batch 1 (H=32, Hkv=8, D=128, bf16; INT4 selector cache of 32 values a key; k=2048): median [p10, p90]',
             '', 'spot_*: selector scoring + selection + sparse attention; *_triton: the Triton scoring, adaptive selection and sparse-decode kernels '
             '(split-K sparse decode; *_nosplit: one program per KV head); decode_*: the sparse-decode kernel alone; '
             'select_*: the selection kernels alone (split: chunks per row from select_plan; nosplit: one program per KV head; '
             'spot_triton_selnosplit: the step with the one-program selection)', '']
    rows = spot_decode(dev, lengths, k=130 if a.dry_run else 2048, reps=3 if a.dry_run else 50, triton_ok=triton_ok)
    cols = [c for c in rows[0] if c != 'L']
    lines += ['| L | ' + ' | '.join(cols) + ' | dense / spot_triton | flash / spot_triton | twilight / spot_triton | decode nosplit / split | select nosplit / split |', '|' + ' --- |' * (len(cols) + 6)]
    for r in rows:
        ratio = lambda c: f"{r[c][0] / r['spot_triton'][0]:.2f}x" if 'spot_triton' in r and isinstance(r.get(c), tuple) else 'n/a'
        split = f"{r['decode_nosplit'][0] / r['decode_split'][0]:.2f}x" if 'decode_split' in r else 'n/a'
        sel = f"{r['select_nosplit'][0] / r['select_split'][0]:.2f}x" if 'select_split' in r else 'n/a'
        lines.append(f"| {r['L']} | " + ' | '.join(fmt(r[c]) for c in cols) + f" | {ratio('dense_sdpa')} | {ratio('flash')} | {ratio('twilight_triton')} | {split} | {sel} |")
    n_layers, prof = verify_profile(dev, a.arch, (1, 2, 4, 8) if a.dry_run else (1, 8, 16, 32, 64, 128, 256),
                                    prefix=64 if a.dry_run else 512, layers=1 if a.dry_run else 28, reps=2 if a.dry_run else 10)
    base = prof[0]['s'][0]
    lines += ['', f'## Verify profile: {a.arch} architecture, {n_layers} layers, random weights, cached prefix, one forward of n tokens', '',
              '| n tokens | time | / n=1 |', '| --- | --- | --- |'] + [f"| {p['n']} | {fmt(p['s'])} | {p['s'][0] / base:.2f} |" for p in prof]
    text = '\n'.join(lines) + '\n'
    Path(a.out).write_text(text); print(text)

if __name__ == '__main__': main()
