"""Scale-out on Ray (``run.executor = "ray"``): the only modules that import ray, and only
when a run chooses the Ray executor.

- ``cluster``: join the cluster at ``run.ray_address``, or start a Ray on this machine.
- ``worker``: ``ScoringWorker``, one Ray actor with the base model resident and its stacked-LoRA
  inner loop; it adapts and answers chunks and reports its machine.
- ``pool``: ``RayExecutor``, the engine's executor (``engine.executor``) over a placement group
  of workers: chunks go to idle workers and come back as they finish, a lost worker's chunk goes
  to another, no worker left pauses the run; new policies reach the workers through the object
  store. The engine alone writes the store.
- ``train``: the data-parallel M-step on Ray Train's ``TorchTrainer``.

``make_executor`` (here, ray-free) gives a run its executor: the local one, the thread one
(``engine.executor.ThreadExecutor``, on a CPU) or the Ray one.
"""

from __future__ import annotations

from engine.executor import Executor, LocalExecutor, ThreadExecutor
from engine.inner_loop import InnerLoop


def make_executor(run, cfg, inner: InnerLoop, *, policy_is_base: bool = True) -> Executor:
    """The run's executor (``run.executor``). The Ray one joins or starts its cluster and its pool
    here; ray is imported only then. ``policy_is_base``: the policy is still the model as loaded
    (else, on resume, the workers are sent the engine's weights)."""
    if cfg.run.executor == "threads":
        if inner.policy.device.type != "cpu":  # e.g. the sandbox preset on a GPU machine (run.device = auto)
            run.log.info("run.executor = threads is for a CPU; on %s the engine's own inner loop runs every chunk "
                         "(its slots train in one batch)", inner.policy.device.type)
            return LocalExecutor(inner)
        from engine.config import cpu_cores

        return ThreadExecutor(inner, cfg.run.workers or cpu_cores())
    if cfg.run.executor != "ray":
        return LocalExecutor(inner)
    from engine.scale.pool import RayExecutor

    executor = RayExecutor(run, cfg, inner, policy_is_base=policy_is_base)
    try:
        executor.ensure_pool()
    except BaseException:
        executor.close()
        raise
    return executor
