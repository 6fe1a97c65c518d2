"""Near-duplicate benchmark: validate.dedup (rensa) vs datasketch MinHash + MinHashLSH, same run.

    .venv/bin/python bench/dedup_bench.py [--n 1000000] [--seed 0]

Synthetic bilingual records (~half English word salad from a 20k-word vocabulary, ~half Chinese from
~2.5k common Han characters); ~5% are planted copies of another record with 1-3 small edits.

Ours is timed end to end (``near_duplicates``: shingling, signatures, LSH, exact confirmation, clusters,
keep mask) with every CPU of this process (shingling threads, rensa's own threads), and pinned to one
CPU in a child process (RAYON_NUM_THREADS=1 there, so rensa does not start a second thread on it).
Each is run ``--repeat`` times and the median counts: on a shared VM single runs swing by 2-3x. A
warm-up on the first 20k records runs first so no run pays for imports and lookup tables.

Both sides get the SAME shingles (``validate.dedup``: word 3-grams / Han 5-grams, hashed to uint64),
num_perm, seed and LSH bands (16 x 8). datasketch confirms its LSH candidates by MinHash estimate >=
threshold, as its users do; ours as near_duplicates() does (estimate, then exact Jaccard). Shingling
runs on every CPU, is timed once and added to datasketch's total (the smaller, all-CPU figure, so
this favours datasketch), and datasketch itself runs as a datasketch user runs it: one Python process.
It is fed the pre-hashed shingles (hashfunc = low 32 bits), which spares it its sha1 per token: the
comparison favours it again.

Accuracy: a pool of pairs is drawn from (a) a uniform random sample of our LSH candidate pairs (before
confirmation), (b) a random sample of the planted (original, copy) pairs, (c) a random sample of the
pairs datasketch confirmed. Truth = exact Jaccard of the two shingle sets >= threshold; prediction = the
pair is in our confirmed set. F1 is over that pool (precision from (a)+(c), recall helped by (b)).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validate import dedup  # noqa: E402

HAN = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 2500))
PUNCT = "，。、；："


def make_records(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = random.Random(seed)
    vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(20000)]
    n_copy = n // 20
    n_base = n - n_copy
    rows: list[tuple[str, str]] = []
    for _ in range(n_base):
        if rng.random() < 0.5:
            rows.append((" ".join(rng.choices(vocab, k=10)), " ".join(rng.choices(vocab, k=rng.randint(40, 90)))))
        else:
            body = "".join(rng.choices(HAN, k=rng.randint(60, 140)))
            rows.append(("".join(rng.choices(HAN, k=12)), body))
    planted = np.empty((n_copy, 2), dtype=np.int64)
    for k in range(n_copy):
        src = rng.randrange(n_base)
        ins, out = rows[src]
        toks = out.split(" ") if " " in out else list(out)
        for _ in range(rng.randint(1, 3)):
            p = rng.randrange(len(toks))
            toks[p] = rng.choice(vocab) if " " in out else rng.choice(HAN)
        rows.append((ins, (" " if " " in out else "").join(toks)))
        planted[k] = (src, n_base + k)
    df = pd.DataFrame(rows, columns=["instruction", "output"])
    df["input"] = ""
    df["id"] = [f"{i:064x}" for i in range(n)]
    return df, planted


def run_datasketch(flat, offsets, num_perm, seed, threshold, bands, rows_per_band):
    from datasketch import MinHash, MinHashLSH

    n = len(offsets) - 1
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=(bands, rows_per_band))
    perm_src = MinHash(num_perm=num_perm, seed=seed)
    sigs = []
    with lsh.insertion_session() as session:
        for r in range(n):
            m = MinHash(
                num_perm=num_perm,
                seed=seed,
                permutations=perm_src.permutations,
                hashfunc=_low32,
                scheme=perm_src.scheme,
            )
            m.update_batch(flat[offsets[r] : offsets[r + 1]].tolist())
            session.insert(r, m, check_duplication=False)
            sigs.append(m)
    pairs = set()
    for r in range(n):
        for c in lsh.query(sigs[r]):
            if c > r and sigs[r].jaccard(sigs[c]) >= threshold:
                pairs.add((r, c))
    return pairs


def _low32(v: int) -> int:
    return v & 0xFFFFFFFF


def exact_jaccard(flat, offsets, a: int, b: int) -> float:
    sa = set(flat[offsets[a] : offsets[a + 1]].tolist())
    sb = set(flat[offsets[b] : offsets[b + 1]].tolist())
    return len(sa & sb) / max(1, len(sa | sb))


def ours_timed(df: pd.DataFrame, args: argparse.Namespace, workers: int) -> tuple[list[float], pd.Series, list]:
    """Seconds of each of ``args.repeat`` end-to-end runs, and the last run's result."""
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        keep, clusters = dedup.near_duplicates(df, args.threshold, args.num_perm, args.seed, workers=workers)
        times.append(time.perf_counter() - t0)
    return times, keep, clusters


def one_cpu_child(args: argparse.Namespace) -> list[float]:
    """Ours end to end in a child process pinned to one CPU (its own records, same seed)."""
    cpu = min(os.sched_getaffinity(0))
    cmd = [sys.executable, __file__, "--n", str(args.n), "--seed", str(args.seed), "--threshold", str(args.threshold)]
    cmd += ["--num-perm", str(args.num_perm), "--repeat", str(args.repeat), "--ours-only"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1"}
    res = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=True, preexec_fn=lambda: os.sched_setaffinity(0, {cpu})
    )
    return [float(t) for t in res.stdout.split()]


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.85)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--sample", type=int, default=20000, help="pairs per pool source for the F1 estimate")
    ap.add_argument("--ds-budget", type=float, default=600.0, help="seconds allowed for datasketch on all records")
    ap.add_argument("--repeat", type=int, default=3, help="end-to-end runs of ours per setting; the median counts")
    ap.add_argument("--ours-only", action="store_true", help=argparse.SUPPRESS)  # the one-CPU child
    args = ap.parse_args()
    df, planted = make_records(args.n, args.seed)
    dedup.near_duplicates(df.head(20000), args.threshold, args.num_perm, args.seed)  # warm-up
    if args.ours_only:
        print(*ours_timed(df, args, 1)[0])
        return
    cpus = len(os.sched_getaffinity(0))
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(
        f"machine: {platform.platform()} | python {platform.python_version()} | cpus {cpus} | "
        f"{platform.processor() or platform.machine()} | dedup backend {dedup.backend()} | "
        f"load average {os.getloadavg()[0]:.2f} (the machine is shared)"
    )
    print(f"{len(df):,} records ({len(planted):,} planted near-copies)")

    all_runs, keep, clusters = ours_timed(df, args, cpus)
    ours_all = float(np.median(all_runs))
    print(
        f"ours, {cpus} CPUs: median {ours_all:.2f}s of runs [{_runs(all_runs)}] = {len(df) / ours_all:,.0f} records/s; "
        f"{len(clusters):,} clusters, {int((~keep).sum()):,} dropped"
    )
    one_runs = one_cpu_child(args)
    ours_one = float(np.median(one_runs))
    print(
        f"ours, 1 CPU (child pinned to one CPU): median {ours_one:.2f}s of runs [{_runs(one_runs)}] = "
        f"{len(df) / ours_one:,.0f} records/s"
    )

    # the same pipeline step by step, for the candidate set and the shingles
    t = time.perf_counter()
    sh = dedup.frame_shingles(df, cpus)
    shingle_s = time.perf_counter() - t
    flat, offsets = sh.in_row_order()
    rows, sigs = dedup._rensa_signatures(flat, offsets, args.num_perm, args.seed, args.threshold)
    cand_local = dedup.candidate_pairs(sigs)
    est = dedup.estimated_jaccard(sigs, cand_local)
    cands = rows[cand_local]
    # As near_duplicates() does: pairs near the threshold are settled on exact Jaccard.
    near = cands[est >= args.threshold - dedup.EXACT_MARGIN]
    ours = {tuple(p) for p in near[dedup.exact_jaccard(flat, offsets, near) >= args.threshold].tolist()}
    print(f"  shingling alone ({cpus} CPUs) {shingle_s:.1f}s; LSH candidates {len(cands):,}, confirmed {len(ours):,}")

    bands = args.num_perm // dedup.BAND_ROWS
    sub_n = len(df)
    probe = min(len(df), 20000)
    t = time.perf_counter()
    run_datasketch(flat, offsets[: probe + 1], args.num_perm, args.seed, args.threshold, bands, dedup.BAND_ROWS)
    projected = (time.perf_counter() - t) / probe * len(df)
    if projected > args.ds_budget:
        sub_n = min(len(df), 100_000)
        print(
            f"datasketch projected {projected:.0f}s on all records > budget {args.ds_budget:.0f}s: "
            f"running it on the first {sub_n:,} records and scaling linearly (records/s is what is compared)"
        )
    t = time.perf_counter()
    ds_pairs = run_datasketch(
        flat, offsets[: sub_n + 1], args.num_perm, args.seed, args.threshold, bands, dedup.BAND_ROWS
    )
    ds_s = time.perf_counter() - t + shingle_s * sub_n / len(df)
    ds_rate = sub_n / ds_s
    print(
        f"datasketch (1 process): {ds_s:.1f}s on {sub_n:,} records (incl. their share of shingling) = "
        f"{ds_rate:,.0f} records/s; {len(ds_pairs):,} confirmed pairs"
    )
    print(f"speed ratio ours/datasketch, {cpus} CPUs: {len(df) / ours_all / ds_rate:.1f}x (goal >= 10x)")
    print(f"speed ratio ours/datasketch, 1 CPU:  {len(df) / ours_one / ds_rate:.1f}x")
    print(f"load average now {os.getloadavg()[0]:.2f}")

    rng = np.random.default_rng(args.seed)
    pool: set[tuple[int, int]] = set()
    for src in (cands, planted, np.array(sorted(ds_pairs), dtype=np.int64).reshape(-1, 2)):
        if len(src):
            pick = rng.choice(len(src), size=min(args.sample, len(src)), replace=False)
            pool.update(tuple(sorted(p)) for p in src[pick].tolist())
    tp = fp = fn = 0
    for a, b in pool:
        truth = exact_jaccard(flat, offsets, a, b) >= args.threshold
        pred = (a, b) in ours
        tp += truth and pred
        fp += pred and not truth
        fn += truth and not pred
    p = tp / max(1, tp + fp)
    r = tp / max(1, tp + fn)
    f1 = 2 * p * r / max(1e-12, p + r)
    print(
        f"accuracy vs exact Jaccard on {len(pool):,} sampled pairs: precision {p:.4f} recall {r:.4f} "
        f"F1 {f1:.4f} (goal >= 0.95)"
    )
    in_sub = ours & {(a, b) for a, b in ds_pairs}
    print(f"agreement on the datasketch subset: ours∩datasketch {len(in_sub):,} of datasketch {len(ds_pairs):,}")


if __name__ == "__main__":
    main()
