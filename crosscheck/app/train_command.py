"""``crosscheck train``: fuzz the reference optimizers against torch.optim, step by step.

    crosscheck train [--optimizer sgd|momentum|adam|adamw] [--steps K] [--examples N] [--seed S] [--report DIR]
                     [--workers N] [--profile ci|dev|thorough] [--database DIR|none]

Without ``--optimizer`` every optimizer is fuzzed, ``--examples`` trajectories
each; without ``--steps`` Hypothesis draws 1 to 20 steps. Writes
``train.csv``, ``train.md``, ``train.html`` and ``train.json`` to the report
folder. ``--profile`` and ``--database`` work as for ``crosscheck fuzz`` (under
``dev`` a diverging trajectory is saved and replayed first next time). Exit
status 0 when every trajectory agrees, 1 when any diverges, 2 for bad arguments.
"""
from __future__ import annotations

import sys

from crosscheck.app.cli import (EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, UsageError, capped_workers, chosen_profile,
                                command, console, rerun_command)
from crosscheck.model.optimizer_spec import MAX_STEPS, OPTIMIZERS
from crosscheck.app.options import add_profile_options, add_report_option, add_run_options, add_workers_option

DEFAULT_EXAMPLES = 50


def _arguments(p) -> None:
    p.add_argument("--optimizer", choices=OPTIMIZERS, action="append", default=None,
                   help="optimizer to check (repeat for several; default: all of " + ", ".join(OPTIMIZERS) + ")")
    p.add_argument("--steps", type=int, default=None, metavar="K",
                   help=f"steps per trajectory, 1 to {MAX_STEPS} (default: drawn from 1 to 20)")
    add_run_options(p.add_argument, examples=DEFAULT_EXAMPLES)
    add_report_option(p.add_argument)
    add_workers_option(p.add_argument, what="optimizers")
    add_profile_options(p.add_argument)


@command("train", "fuzz the reference optimizers against torch.optim, comparing every step", _arguments)
def cmd_train(args) -> int:
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise UsageError(f"--steps must be from 1 to {MAX_STEPS}, got {args.steps}")
    if args.examples < 1:
        raise UsageError(f"--examples must be at least 1, got {args.examples}")
    from crosscheck.reports import train as train_report
    from crosscheck.engine.training import fuzz_reference

    from crosscheck.app.progress import progress

    profile = chosen_profile(args)
    names = list(dict.fromkeys(args.optimizer or OPTIMIZERS))
    capped_workers(args, len(names), what="optimizers")
    out = console(args)
    runs = {}
    try:
        if args.workers > 1:  # one optimizer per process at a time (campaign.distribute): the same runs
            import functools

            from crosscheck.engine.campaign import distribute

            task = functools.partial(_fuzz_one, steps=args.steps, examples=args.examples, seed=args.seed,
                                     profile=profile, database=args.database)
            with progress(len(names), "train", unit="optimizer") as bar:
                for name, run in zip(names, distribute(task, names, workers=args.workers)):
                    runs[name] = run
                    bar.advance(1, findings=bar.findings + len(run.findings))
        else:
            for name in names:
                with progress(int(args.examples), f"train {name}", unit="trajectory") as bar:
                    runs[name] = fuzz_reference(optimizers=[name], steps=args.steps, examples=args.examples,
                                                seed=args.seed, on_result=bar, profile=profile,
                                                database=args.database)
    except KeyboardInterrupt:
        print(interrupted(args, runs, names), file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    paths = train_report.write(runs, args.report)
    diverging = 0
    for name, run in runs.items():
        bad = [r for r in run.results if not r.agree]
        diverging += len(bad)
        steps = sum(len(r.per_step) for r in run.results)
        print(f"crosscheck train: {name}: {len(run.results)} trajectories, {steps} steps compared, "
              f"{len(bad)} diverging ({run.seconds:.1f} s)")
        for f in run.findings:
            r = f.result
            message = r.message().splitlines()
            print(f"  {message[0]}\n    minimal example: {r.training_case.describe()}")
            for more in message[1:]:
                out.detail(f"    {more}")
        if run.stopped:
            print(f"  note: the run stopped early: {run.stopped}")
    n = sum(len(run.results) for run in runs.values())
    out.final(f"crosscheck train: {n} trajectories of {len(runs)} optimizer{'s' if len(runs) != 1 else ''}, "
              f"{diverging} diverging (seed {args.seed}); report in {paths['md']} and {paths['html']}")
    return EXIT_FINDINGS if diverging else EXIT_OK


def interrupted(args, runs: dict, names: list[str]) -> str:
    """What an interrupted ``crosscheck train`` kept (the optimizers it finished), and the command that runs
    it again with the same cases (training runs are not streamed, so they are rerun rather than resumed)."""
    from crosscheck.reports import train as train_report

    rerun = rerun_command(args, seed=args.seed, profile=args.profile)
    if not runs:
        return (f"crosscheck train: interrupted before any optimizer finished; nothing was kept\n"
                f"  to run it again: {rerun}")
    paths = train_report.write(runs, args.report)
    rest = [n for n in names if n not in runs]
    alone = rerun_command(args, seed=args.seed, profile=args.profile, optimizer=rest,
                          report=str(args.report) + "-rest")
    return (f"crosscheck train: interrupted; kept the finished runs of {', '.join(runs)} in {paths['md']} "
            f"(not run or cut short: {', '.join(rest)})\n"
            f"  to run it all again, the same cases:      {rerun}\n"
            f"  the rest alone, into another folder:       {alone}")


def _fuzz_one(name: str, *, steps, examples: int, seed: int, profile=None, database=None):
    """One optimizer's run (a worker task of ``--workers``)."""
    from crosscheck.engine.training import fuzz_reference

    return fuzz_reference(optimizers=[name], steps=steps, examples=examples, seed=seed, profile=profile,
                          database=database)
