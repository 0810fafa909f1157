"""``crosscheck train``'s engine: Hypothesis draws training cases and each reference trajectory is
checked against torch.optim (``judge.trajectory``)."""
from __future__ import annotations

from typing import Callable, Sequence

from crosscheck.judge.trajectory import check_reference
from crosscheck.model.optimizer_spec import OPTIMIZERS, OptimizerSpec
from crosscheck.model.target import Family, Target


def fuzz_reference(*, optimizers: Sequence[str] | None = None, steps: int | None = None, examples: int = 50,
                   seed: int = 0, settings: dict | None = None, on_result=None,
                   make_optimizer: Callable[[OptimizerSpec], object] | None = None,
                   profile: str | None = None, database=None):
    """Hypothesis draws networks, data, an optimizer from ``optimizers`` with its hyperparameters,
    and ``steps`` (1 to 20 when not given); each reference trajectory is checked against torch.optim.
    Returns a ``fuzz.FuzzRun`` whose results are ``TrajectoryResult``s, findings shrunk.
    ``profile`` and ``database`` are ``fuzz``'s (saved failures are kept per optimizer set)."""
    from crosscheck.engine.fuzz import fuzz
    from crosscheck.drawing.optimizer_strategies import optimizers as optimizer_specs
    from crosscheck.drawing.optimizer_strategies import step_counts, training_cases

    strategy = training_cases(optimizers=optimizer_specs(names=list(optimizers or OPTIMIZERS)),
                              steps=step_counts(min_steps=steps, max_steps=steps) if steps else None)
    names = list(optimizers or OPTIMIZERS)
    # the name keys the example database: trajectories of these optimizers, apart from `crosscheck fuzz`'s
    label = Target(f"reference-train-{'+'.join(names)}", lambda *a, **k: None, Family(), returns="update",
                   file="reference/optimizers.py")
    return fuzz(label, examples=examples, seed=seed, strategy=strategy, settings=settings, on_result=on_result,
                diagnose=False, check=lambda _, tc: check_reference(tc, make_optimizer), profile=profile,
                database=database)
