"""Scale-out benchmark: the single-machine gate (``gate_file``) against the Ray gate (``gate_ray``) on 1 and 2
worker nodes, on the same generated JSONL. Not a timed test; run by hand:

    .venv/bin/python bench/scale_bench.py [--n 200000] [--layouts 1x2 1x1 2x1]

Nodes are ``ray.cluster_utils.Cluster`` nodes on this machine (each its own raylet, object store and worker
processes), so "2 nodes" on a 2-core box measures the distribution overhead, not a second machine's cores.
Per run it prints records/s, the peak RSS of the driver and of the busiest Ray worker process (sampled every
0.2 s), checks that accepted ids, quarantine (line, reasons) and report figures equal the single-machine
gate's, and times each Ray stage per block so the projection in docs/SCALEOUT.md can be redone from
measured per-block costs (``--project 1e9``).

The records are gate_bench.make's (every check has defects to catch, exact duplicates near and far) plus
near-duplicate families whose members lie far apart in the file (so they fall into different blocks), short
one-edit pairs, bad JSON lines and rows whose text field is a number.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gate_bench import make  # noqa: E402
from validate.text import record_id  # noqa: E402


def make_records(n: int, seed: int = 0) -> list[dict | str]:
    """``n`` JSONL lines' worth of records: gate_bench.make's, with near-duplicate families spread over the
    file, one-edit short pairs, an id reused for other content, a number where a text belongs, and bad lines
    (given as raw strings)."""
    rng = random.Random(seed)
    rows: list[dict | str] = make(n, seed).to_dict(orient="records")
    english = [r for r in rows[: n // 2] if r["language"] == "en" and r["output"].count(" ") > 20]
    for _ in range(n // 25):  # a near-duplicate: one to three words changed, dropped anywhere in the file
        src = rng.choice(english)
        toks = src["output"].split(" ")
        for _ in range(rng.randint(1, 3)):
            toks[rng.randrange(len(toks))] = rng.choice(toks)
        out = " ".join(toks)
        copy = {**src, "output": out, "id": record_id(src["instruction"], src["input"], out)}
        rows.insert(rng.randrange(len(rows)), copy)
    for k in range(n // 200):  # short records one word apart
        a = f"What colour is the sky on planet {k}? It is mostly blue."
        b = a.replace("mostly", "usually")
        for out in (a, b):
            row = {**rows[0], "instruction": f"Describe planet {k} briefly please", "output": out}
            rows.insert(rng.randrange(len(rows)), {**row, "id": record_id(row["instruction"], "", out)})
    for k in range(n // 500):
        rows.insert(rng.randrange(len(rows)), {**rows[k], "output": rows[k]["output"] + " Also."})  # same id, new text
        rows.insert(rng.randrange(len(rows)), {**rows[k + 1], "instruction": 12345})
        rows.insert(rng.randrange(len(rows)), '{"id": "broken", "instruction": ')
    return rows


def write_jsonl(rows: list[dict | str], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


def read_shards(folder: Path) -> pd.DataFrame:
    files = sorted(folder.glob("part-*.jsonl"))
    frames = [pd.read_json(f, lines=True, dtype=False) for f in files if f.stat().st_size]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def quarantine_keys(df: pd.DataFrame) -> list[tuple]:
    """(line, id, reasons) of each quarantined row, sorted: what "same quarantine rows" is checked on."""
    line_col = "input_line" if "input_line" in df.columns else "line"
    return sorted(
        (int(r[line_col]), str(r["id"]), tuple(r["quarantine_reasons"]))
        for r in df[[line_col, "id", "quarantine_reasons"]].to_dict(orient="records")
    )


REPORT_FIGURES = (
    "input",
    "accepted",
    "quarantined",
    "failures_by_check",
    "failure_rate_by_check",
    "pii_scrubbed",
    "near_duplicates_removed",
    "contaminated_removed",
)


def compare(single: Path, ray_out: Path) -> dict:
    """Equality of the two gates' outputs: accepted ids in order, quarantine rows, report figures."""
    acc1 = pd.read_json(single / "accepted.jsonl", lines=True, dtype=False)
    acc2 = read_shards(ray_out / "accepted")
    q1 = pd.read_json(single / "quarantine.jsonl", lines=True, dtype=False)
    q2 = read_shards(ray_out / "quarantine")
    r1 = json.loads((single / "gate_report.json").read_text())
    r2 = json.loads((ray_out / "gate_report.json").read_text())
    return {
        "accepted_ids_equal": acc1["id"].tolist() == acc2["id"].tolist(),
        "accepted_rows_equal": acc1.astype(str).equals(acc2[acc1.columns].astype(str)),
        "quarantine_equal": quarantine_keys(q1) == quarantine_keys(q2),
        "report_equal": {k: r1[k] for k in REPORT_FIGURES} == {k: r2[k] for k in REPORT_FIGURES},
        "summary_equal": (single / "gate_summary.md").read_text() == (ray_out / "gate_summary.md").read_text(),
        "records": r1["input"],
        "accepted": r1["accepted"],
        "quarantined": r1["quarantined"],
    }


class PeakRss:
    """Peak RSS (MiB) of this process and of the busiest Ray worker process, sampled on a thread."""

    def __init__(self) -> None:
        import psutil

        self.psutil, self.driver, self.worker, self._stop = psutil, 0.0, 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = self.psutil.Process()
        while not self._stop.is_set():
            self.driver = max(self.driver, me.memory_info().rss / 2**20)
            for p in self.psutil.process_iter(["cmdline", "memory_info"]):
                cmd = " ".join(p.info["cmdline"] or [])
                if cmd.startswith("ray::") and p.info["memory_info"]:
                    self.worker = max(self.worker, p.info["memory_info"].rss / 2**20)
            time.sleep(0.2)

    def __enter__(self) -> PeakRss:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="base records (the file holds ~5%% more)")
    ap.add_argument("--layouts", nargs="+", default=["1x2", "1x1", "2x1"], help="worker nodes x CPUs per node")
    ap.add_argument("--split-mb", type=float, default=8.0, help="JSONL bytes per block")
    ap.add_argument("--project", type=float, default=1e9, help="records to project the cluster run to")
    args = ap.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from validate.raygate import gate_ray
    from validate.run import gate_file

    tmp = Path(tempfile.mkdtemp(prefix="scale_bench_"))
    t = time.perf_counter()
    src = write_jsonl(make_records(args.n), tmp / "records.jsonl")
    print(f"generated {src.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t:.0f} s: {src}", flush=True)
    results = []
    stages: dict[str, dict] = {}
    with PeakRss() as mem:
        t = time.perf_counter()
        report = gate_file(src, tmp / "single")
        wall = time.perf_counter() - t
    n = report["input"]
    results.append(("single machine (gate_file)", "-", wall, n / wall, mem.driver, None, None))
    print(results[-1], flush=True)
    for layout in args.layouts:
        nodes, cpus = (int(x) for x in layout.split("x"))
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "object_store_memory": 300 << 20, "include_dashboard": False},
        )
        for _ in range(nodes):
            cluster.add_node(num_cpus=cpus, object_store_memory=300 << 20)
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            out = tmp / f"ray{nodes}"
            with PeakRss() as mem:
                t = time.perf_counter()
                ray_report = gate_ray(src, out, split_bytes=int(args.split_mb * 2**20))
                wall = time.perf_counter() - t
            same = compare(tmp / "single", out)
            results.append(
                (
                    f"Ray, {nodes} node(s) x {cpus} CPU",
                    same,
                    wall,
                    n / wall,
                    mem.driver,
                    mem.worker,
                    ray_report["ray"]["blocks"],
                )
            )
            info = ray_report["ray"]
            stages[layout] = {**info["seconds"], "near_duplicate_candidates": info["near_duplicate_candidates"]}
            print(results[-1], flush=True)
        finally:
            ray.shutdown()
            cluster.shutdown()
    print(f"\n{n} records, {src.stat().st_size / 2**20:.0f} MiB, {os.cpu_count()} cores\n")
    print("| run | records/s | wall s | driver peak MiB | worker peak MiB | blocks | identical |")
    print("|---|---|---|---|---|---|---|")
    for name, same, wall, rate, drv, wrk, blocks in results:
        ok = "-" if same == "-" else all(v for k, v in same.items() if k.endswith("_equal"))
        print(f"| {name} | {rate:,.0f} | {wall:.1f} | {drv:.0f} | {wrk or 0:.0f} | {blocks or '-'} | {ok} |")
    print("\nRay stage seconds (wall, per layout):", json.dumps(stages, indent=1))
    # Projection from the measured per-block cost of the map stages (read+check, keys, write) on one CPU: those
    # scale with CPUs; the shuffles move (key, position) pairs and are priced in docs/SCALEOUT.md.
    one = stages.get("1x1")
    if one:
        blocks = next(r[6] for r in results if r[0].startswith("Ray, 1 node(s) x 1 "))
        map_s = one["read_and_check"] + one["write"] + one["near_duplicates"] / 2  # about half of it is the keys
        per_cpu = n / map_s
        per_block = f"{map_s / blocks:.1f} CPU-s per block of ~{n // blocks:,} records"
        print(f"map stages: {per_block}, {per_cpu:,.0f} records/s per CPU")
        for nodes_ in (10, 100, 1000):
            minutes = args.project / (per_cpu * 16 * nodes_) / 60
            print(
                f"projection: {args.project:.0e} records on {nodes_} nodes x 16 CPUs: {minutes:,.1f} min of map stages"
            )


if __name__ == "__main__":
    main()
