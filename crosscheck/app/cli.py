"""The ``crosscheck`` command.

Exit status: 0 when everything agrees, 1 when any gradient disagrees (or a
target has findings), 2 for bad arguments, each with a one-line explanation.
"""
from __future__ import annotations

import argparse
import gc
import sys

from crosscheck.engine.replay import replay_command
from crosscheck.app.options import add_profile_options, add_report_option, add_run_options, add_scale_options

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or input: exit 2 with this one-line reason."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        raise UsageError(f"{message} (see `crosscheck {self.prog.split()[-1]} --help`)"
                         if " " in self.prog else message)


def _positive(name):
    def check(args):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            raise UsageError(f"--{name} must be at least 1, got {v}")
    return check


def chosen_profile(args) -> str:
    """The Hypothesis profile a command runs under (``--profile``, else the default for
    this environment), with ``--database`` checked: a usage error if it names a file."""
    from crosscheck.engine import profiles

    profile = args.profile or profiles.default_profile()
    try:
        profiles.database_location(args.database, profile)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return profile


def cmd_fuzz(args) -> int:
    from crosscheck.engine import profiles
    from crosscheck.engine.campaign import CampaignError, fuzz_campaign
    from crosscheck.app.progress import progress
    from crosscheck.reports import fuzz as fuzz_report
    from crosscheck.engine.stream import StreamError
    from crosscheck.model.target import reference_target

    # Everything imported so far lives for the whole run: keep it out of the
    # collector's sweeps, which otherwise rescan it every few thousand results.
    gc.freeze()
    target = reference_target()
    profile = chosen_profile(args)
    # fuzz.csv written as the results come, in case order
    report = fuzz_report.FuzzReport(args.report, all_rows=args.all_rows)
    print(fuzz_report.disk_note(args.report, profiles.example_count(profile, args.examples), args.all_rows))
    with progress(profiles.example_count(profile, args.examples), f"fuzz {target.name}") as bar:
        try:
            run = fuzz_campaign(target, examples=args.examples, seed=args.seed, profile=profile,
                                database=args.database, on_result=bar, workers=args.workers,
                                scheduler=args.scheduler, report=args.report, resume=args.resume,
                                in_order=report.add, all_rows=args.all_rows)
        except (CampaignError, StreamError) as e:
            report.close()
            raise UsageError(str(e)) from None
        except BaseException:
            report.close()
            raise
    paths = report.finish(run, target=target)
    n_bad = len(run.findings)
    print(f"crosscheck fuzz: {report.tally.cases} cases, {report.tally.tensors} tensors compared, "
          f"{n_bad} finding{'s' if n_bad != 1 else ''}; report in {paths['md']}")
    for i, f in enumerate(run.findings, 1):
        print(f"  {f.kind}: {f.message}\n    minimal example: {f.case.describe()}\n"
              f"    replay: {replay_command(paths['json'], i)}")
    if run.replayed:
        print(f"  note: {run.replayed} failing example{'s' if run.replayed != 1 else ''} saved by an earlier run "
              f"{'were' if run.replayed != 1 else 'was'} replayed first (example database; --database none skips it)")
    if run.stopped:
        print(f"  note: the run stopped early: {run.stopped}")
    if run.skipped_lines:
        print(f"  note: {run.skipped_lines} damaged or foreign line{'s' if run.skipped_lines != 1 else ''} of "
              f"the results stream {'were' if run.skipped_lines != 1 else 'was'} skipped on --resume; "
              f"{'their cases were' if run.skipped_lines != 1 else 'its case was'} checked again")
    return EXIT_FINDINGS if n_bad else EXIT_OK


#: Modules that register further commands with ``@command`` when imported.
COMMAND_MODULES: tuple[str, ...] = ("crosscheck.app.replay_command", "crosscheck.app.report_command", "crosscheck.app.audit_command",
                                   "crosscheck.app.train_command", "crosscheck.app.mutants_command")

#: name -> (help, function adding arguments, handler). Features register here.
COMMANDS: dict[str, tuple] = {}


def command(name: str, help: str, add_arguments):
    def register(fn):
        COMMANDS[name] = (help, add_arguments, fn)
        return fn
    return register


def _fuzz_args(p):
    add_run_options(p.add_argument, examples=100)
    add_profile_options(p.add_argument)
    add_report_option(p.add_argument)
    add_scale_options(p.add_argument)
    p.add_argument("--all-rows", action="store_true",
                   help="write every tensor of every case to fuzz.csv and results.jsonl (default: one row for an "
                        "agreeing case, its worst tensor's error over its allowance; about 10x less disk)")


command("fuzz", "fuzz the reference implementation against torch.autograd", _fuzz_args)(cmd_fuzz)


def build_parser() -> argparse.ArgumentParser:
    _load_commands()
    parser = _Parser(prog="crosscheck", description="Prove hand-written backpropagation right or wrong "
                     "against torch.autograd.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help, description=help))
    return parser


def _load_commands() -> None:
    """Import the modules that register further commands (kept light: no torch here)."""
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module)


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return EXIT_USAGE
        for name in ("examples", "workers", "steps"):
            _positive(name)(args)
        return COMMANDS[args.command][2](args)
    except UsageError as e:
        print(f"crosscheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("crosscheck: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
