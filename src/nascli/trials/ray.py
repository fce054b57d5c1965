"""`executor=ray`: a search's trials on Ray actors, on this machine or on a running Ray cluster.

Each of the `search.workers` actors builds the space, data, estimator and hardware target once
(nascli.trials.pool.worker_parts) and evaluates the trials it is given with the same code as a
one-process search, so results and resume behave as with the local process pool. An actor takes
`search.worker_threads` CPUs and, where the cluster has GPUs, one GPU (Ray sets
CUDA_VISIBLE_DEVICES, so each trial sees its own device). `executor.address=auto` joins the
cluster `ray start` runs; the default starts a private Ray instance for this search and stops it
at the end. The machines of a cluster need nascli installed, as for any Ray job.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from nascli.core.errors import NascliError
from nascli.trials.pool import TrialPool

log = logging.getLogger("nascli.search")


def _ray():
    try:
        import ray
    except ImportError as exc:
        raise NascliError(
            "executor=ray needs Ray: pip install 'nascli[ray]' (or executor=local for this machine's processes)"
        ) from exc
    return ray


class _Worker:
    """One Ray actor: the parts of a worker process, and trials run on them."""

    def __init__(self, container: dict[str, Any], threads: int) -> None:
        from nascli.trials.pool import worker_parts

        self.parts = worker_parts(container, threads)

    def run(
        self, trial: int, arch: str, objective: str, start: dict[str, Any] | None
    ) -> dict[str, Any]:
        from nascli.trials.run import run_trial

        p = self.parts
        return run_trial(
            p["cfg"],
            trial,
            arch,
            p["space"],
            p["data"],
            p["estimator"],
            p["hardware"],
            objective,
            start=start,
        )


class RayTrialPool(TrialPool):
    """`workers` Ray actors evaluating (trial, arch) pairs, with TrialPool's interface: `submit`
    returns a concurrent.futures.Future; a worker's NascliError comes back as itself, and a dead
    actor as BrokenProcessPool (the search records its trial as failed and starts new workers).

    Args:
        address: a running cluster ("auto", or ray://host:port); None starts a local instance.
        gpus_per_trial: GPUs per actor; "auto": 1 when the cluster has GPUs (an equal share each
            when the actors outnumber them), else 0.
        object_store_mb: the object store of a local instance (trials pass only small records).
    """

    remote = True  # used even with one worker: the trials run where Ray places them
    _started = False  # this process started the Ray instance it is connected to

    @classmethod
    def prepare(
        cls,
        workers: int,
        threads: int,
        address: str | None = None,
        object_store_mb: int = 256,
        gpus_per_trial: float | str = "auto",
    ) -> float:
        """Connect to Ray (start a local instance, or join `address`) before the search starts,
        so that a cluster that is not there, or has too few GPUs, is an error before any trial.
        Returns the GPUs each actor gets."""
        cls._connect(workers, threads, address, object_store_mb)
        gpus = float(_ray().cluster_resources().get("GPU", 0))
        if gpus_per_trial == "auto":  # one each, or a share each when there are fewer GPUs
            return min(1.0, gpus / workers) if gpus else 0.0
        each = float(gpus_per_trial)
        if each < 0:
            raise NascliError(f"executor.gpus_per_trial={gpus_per_trial} must be 0 or more")
        if workers * each > gpus + 1e-9:
            # Actors beyond the cluster's GPUs would wait for a GPU forever.
            raise NascliError(
                f"executor.gpus_per_trial={gpus_per_trial} x search.workers={workers} is more "
                f"than the cluster's {gpus:g} GPUs; lower one (or executor.gpus_per_trial=auto)"
            )
        return each

    @classmethod
    def _connect(cls, workers: int, threads: int, address: str | None, object_store_mb: int):
        ray = _ray()
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if address is None:
            kwargs.update(num_cpus=workers * threads, object_store_memory=object_store_mb * 2**20)
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise NascliError(
                f"executor.address={address}: no Ray cluster there ({exc}); start one with "
                "`ray start --head`, or drop executor.address for a local instance"
            ) from exc
        RayTrialPool._started = True

    def __init__(
        self,
        container: dict[str, Any],
        workers: int,
        threads: int,
        address: str | None = None,
        gpus_per_trial: float | str = "auto",
        object_store_mb: int = 256,
    ) -> None:
        ray = self.ray = _ray()
        gpus_per_trial = self.prepare(workers, threads, address, object_store_mb, gpus_per_trial)
        self.container, self.threads = container, threads
        self.actor_class = ray.remote(_Worker).options(num_cpus=threads, num_gpus=gpus_per_trial)
        self.actors = [self.actor_class.remote(container, threads) for _ in range(workers)]
        self.busy: dict[cf.Future, Any] = {}
        log.info(
            "executor=ray: %d actors (%d CPUs, %s GPUs each) on %s",
            workers,
            threads,
            gpus_per_trial,
            "a local Ray instance" if address is None else address,
        )

    def submit(
        self, trial: int, arch: str, objective: str, start: dict[str, Any] | None = None
    ) -> cf.Future:
        for future in [f for f in self.busy if f.done()]:
            actor = self.busy.pop(future)
            if isinstance(future.exception(), BrokenProcessPool):
                # The others go on; a fresh actor takes the dead one's place.
                self.ray.kill(actor)
                i = next(i for i, a in enumerate(self.actors) if a is actor)
                self.actors[i] = self.actor_class.remote(self.container, self.threads)
        idle = [a for a in self.actors if all(a is not b for b in self.busy.values())]
        if not idle:
            raise RuntimeError("RayTrialPool: more trials submitted than workers")
        actor = idle[0]
        out: cf.Future = cf.Future()
        ray_future = actor.run.remote(trial, arch, objective, start).future()
        ray_future.add_done_callback(lambda f: self._settle(f, out))
        self.busy[out] = actor
        return out

    def _settle(self, ray_future: cf.Future, out: cf.Future) -> None:
        exc = ray_future.exception()
        if exc is None:
            out.set_result(ray_future.result())
            return
        ray = self.ray
        if isinstance(exc, ray.exceptions.RayActorError):
            out.set_exception(BrokenProcessPool(f"a Ray worker died: {exc}"))
        elif isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None:
            out.set_exception(exc.cause)  # the worker's own exception, not Ray's wrapper
        else:
            out.set_exception(exc)

    def close(self, now: bool) -> None:
        """End the actors (their trials too, `now`), and a Ray instance this pool started."""
        for actor in self.actors:
            self.ray.kill(actor)
        if RayTrialPool._started:
            self.ray.shutdown()
            RayTrialPool._started = False
