"""Connecting to a Ray cluster for the gate (``--ray``): one place that starts or joins it and sets Ray Data up.

``address``: ``"local"`` (or None) starts a Ray instance inside this process's machine, sized by ``num_cpus``;
``"auto"`` joins the cluster a ``ray start --head`` on this machine runs; ``host:port`` (or ``ray://...``) joins
that one. Ray is imported here and in the ray* modules only, so the single-machine gate never pays for it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np

from validate.errors import DataAgentError

LOCAL = "local"
OBJECT_STORE_MB = 256  # per node started here: Ray spills to disk beyond it, so this bounds memory, not data


def ray_module():  # noqa: ANN201 - the ray module, imported late
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is in requirements.txt
        raise DataAgentError("--ray needs Ray: pip install -r requirements.txt (ray[data])") from None
    return ray


@contextlib.contextmanager
def connected(address: str | None = None, num_cpus: int | None = None) -> Iterator[dict]:
    """Ray, connected for the block: joined when ``address`` names a cluster, else started here and stopped
    after. A Ray already initialised in this process (a test's cluster, a notebook) is used as it is.
    Yields the cluster's resources."""
    ray = ray_module()
    started = False
    if not ray.is_initialized():
        kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address in (None, "", LOCAL):
            kwargs.update(
                num_cpus=num_cpus or len(os.sched_getaffinity(0)),
                object_store_memory=OBJECT_STORE_MB << 20,
            )
        else:
            kwargs = {"address": address, "log_to_driver": False, "configure_logging": False}
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise DataAgentError(f"--ray {address}: no Ray cluster there ({exc})") from None
        started = True
    _quiet_data_context()
    try:
        yield ray.cluster_resources()
    finally:
        if started:
            ray.shutdown()


def _quiet_data_context() -> None:
    """Ray Data as the gate needs it: blocks keep input order (the accepted shards list rows as the
    single-machine gate does), a task-based shuffle, no progress bars on stderr."""
    ray = ray_module()
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    # The key shuffles move a few columns of ints: the pull-based sort shuffle does them in plain tasks, where
    # the default hash shuffle first starts aggregator actors (tens of seconds on a small cluster).
    ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False


def shuffle_partitions() -> int:
    """Partitions of a key shuffle: one per CPU of the cluster (at least 2), so each reducer holds 1/P of the keys."""
    ray = ray_module()
    return max(2, int(ray.cluster_resources().get("CPU", 1)))


def components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, sorted; the smallest node of each one's connected component) of the graph with edges a[i]-b[i]."""
    nodes = np.unique(np.concatenate([a, b]))
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    label = np.arange(len(nodes))
    # Min-label propagation with pointer jumping: vectorised, O(log diameter) rounds on the graphs the keys
    # make (stars per key, joined where rows share several keys), each round a few passes over the edges.
    while True:
        low = np.minimum(label[ia], label[ib])
        new = label.copy()
        np.minimum.at(new, ia, low)
        np.minimum.at(new, ib, low)
        while True:  # jump to the label's label until every node points at a fixed point
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, label):
            return nodes, nodes[label]
        label = new
