"""Training on several processes (``torchrun``, ``accelerate launch``): what the launch says, one process's
result shared with all, and the end of the process group.

accelerate's ``Accelerator`` does the rest (train/loop.py): it reads the launcher's environment (RANK,
WORLD_SIZE, MASTER_ADDR, ...), initialises the process group (gloo on CPU, nccl on GPU), wraps the model in
DDP and all-reduces the gradients. With WORLD_SIZE unset it starts no process group and nothing here
communicates. How batches are shared out is in ``train.data.batches``; docs/SCALEOUT.md has the commands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, get_int_from_env

from validate.errors import DataAgentError

T = TypeVar("T")

# torchrun and accelerate launch set RANK; mpirun (accelerate's multi-CPU launcher with MPI) sets these.
RANK_VARS = ["RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK"]


def launched_rank() -> int:
    """This process's rank as the launcher set it (0 when not launched by one), before any process group exists.

    The CLI uses it to let only rank 0 claim the output folder and print.
    """
    return get_int_from_env(RANK_VARS, 0)


def on_main(acc: Accelerator, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """``fn(*args, **kwargs)`` run by the main process only, its result sent to every process.

    For reading inputs (the published set, the documents): they need exist on the main process's machine
    only, and the processes never race on one cache. A DataAgentError on the main process is raised on
    every process with the same message, so all of them exit with the same one-line error instead of the
    others waiting for a result that never comes.
    """
    if acc.num_processes == 1:
        return fn(*args, **kwargs)
    payload: list = [None]
    failure: BaseException | None = None
    if acc.is_main_process:
        try:
            payload = [("ok", fn(*args, **kwargs))]
        except DataAgentError as exc:
            payload = [("error", str(exc))]
        except Exception as exc:  # a bug: the main process re-raises it, the others stop with its name
            failure = exc
            payload = [("crash", f"{exc.__class__.__name__}: {exc}")]
    broadcast_object_list(payload, from_process=0)
    kind, value = payload[0]
    if failure is not None:
        raise failure
    if kind == "error":
        raise DataAgentError(value)
    if kind == "crash":
        raise RuntimeError(f"the main process failed: {value}")
    return value


def finish(acc: Accelerator) -> None:
    """Every process waits for the others (the main one may still be writing), then the process group ends."""
    acc.wait_for_everyone()
    acc.end_training()  # destroys the process group; nothing when there is none
