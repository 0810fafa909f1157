"""The ``crosscheck`` command.

Exit status: 0 when everything agrees, 1 when any gradient disagrees (or a
target has findings), 2 for bad arguments, each with a one-line explanation.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shlex
import sys
from pathlib import Path

from crosscheck.app.console import Console
from crosscheck.app.options import (add_fragile_option, add_output_options, add_profile_options, add_report_option,
                                    add_run_options, add_scale_options)
from crosscheck.engine.replay import replay_command

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a process the signal stopped
#: Commands that write a report folder, and the argument naming it: each run takes the folder's lock first.
REPORT_WRITERS = {"fuzz": "report", "train": "report", "mutants": "report", "audit": "report", "report": "directory"}
#: ``--workers`` beyond this many per core only queue behind each other (each worker is one process).
WORKERS_PER_CORE = 4


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


def version() -> str:
    """``crosscheck X.Y.Z``: the package's version."""
    import crosscheck

    return f"crosscheck {crosscheck.__version__}"


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


def console(args) -> Console:
    """The console of a parsed command line (``-q`` / ``-v``)."""
    c = getattr(args, "console", None)
    return c if c is not None else Console(getattr(args, "verbosity", 0))


# -- checked before any work ----------------------------------------------------------------

#: Protocols dask.distributed speaks (``--scheduler PROTOCOL://HOST:PORT``).
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss", "inproc", "ucx")


def check_scheduler(address: str) -> None:
    """A usage error unless ``address`` looks like a dask scheduler's address (``tcp://10.0.0.5:8786``)."""
    from urllib.parse import urlsplit

    example = "e.g. --scheduler tcp://10.0.0.5:8786"
    try:
        url = urlsplit(address if "://" in address else f"tcp://{address}")
        port = url.port
    except ValueError:
        raise UsageError(f"--scheduler {address}: not a scheduler address ({example})") from None
    if url.scheme not in SCHEDULER_PROTOCOLS:
        raise UsageError(f"--scheduler {address}: unknown protocol {url.scheme!r} (dask speaks "
                         f"{', '.join(SCHEDULER_PROTOCOLS)}; {example})")
    if url.scheme != "inproc" and (not url.hostname or port is None or url.path not in ("", "/")):
        raise UsageError(f"--scheduler {address}: not a scheduler address; give HOST:PORT ({example})")


def workers_cap(cores: int | None = None) -> int:
    """The most ``--workers`` that can help on this machine: ``WORKERS_PER_CORE`` per core."""
    return WORKERS_PER_CORE * max(1, cores or os.cpu_count() or 1)


def capped_workers(args, items: int | None = None, what: str = "cases") -> int:
    """``args.workers`` capped at the machine's cap and at ``items``, with a note when it was cut."""
    asked = getattr(args, "workers", 1) or 1
    cap = workers_cap()
    n = min(asked, cap, items if items else asked)
    if n < asked:
        why = (f"there are only {items} {what}" if items is not None and items < min(asked, cap)
               else f"{os.cpu_count() or 1} cores take at most {cap}")
        console(args).note(f"--workers {asked}: using {n} ({why})")
    args.workers = n
    return n


def resolve_seed(args) -> None:
    """``args.seed``: as given; else the seed of the run ``--resume`` continues; else the profile's
    (``profiles.run_seed``: ci fixed, dev and thorough fresh). ``args.seed_drawn`` says it was drawn."""
    from crosscheck.engine import profiles

    args.seed_drawn = False
    if args.seed is not None:
        return
    if getattr(args, "resume", False) and getattr(args, "report", None):
        seed = _resumed_seed(args)
        if seed is not None:
            args.seed = seed
            return
    args.seed = profiles.run_seed(None, getattr(args, "profile", None))
    args.seed_drawn = args.seed != profiles.run_seed(None, "ci")


def _resumed_seed(args) -> int | None:
    """The seed recorded by the run ``--resume`` continues: the audit's stream for ``audit``, the results
    stream for the others; None when there is none to read."""
    from pathlib import Path

    try:
        if args.command == "audit":
            from crosscheck.audit import journal

            return int((journal.header(Path(args.report) / journal.NAME) or {})["seed"])
        from crosscheck.engine.stream import StreamError, read

        try:
            return int(read(args.report).header["seed"])
        except StreamError:
            return None
    except (KeyError, TypeError, ValueError):
        return None


def rerun_command(args, *, drop=(), **override) -> str:
    """The command line that runs ``args`` again, shell-quoted: every option that differs from its default,
    ``override`` (``seed=5``, ``resume=True``) in place of what was given, ``drop`` left out."""
    parser = args.parser
    words = ["crosscheck", args.command]
    for action in parser._actions:
        dest = action.dest
        if dest in ("help", "verbosity") or dest in drop or isinstance(action, argparse._VersionAction):
            continue
        value = override.get(dest, getattr(args, dest, None))
        if not action.option_strings:  # positional
            words += [str(v) for v in (value if isinstance(value, list) else [value])]
            continue
        flag = action.option_strings[-1]
        if dest not in override and (value is None or value is False or value == action.default
                                     and type(value) is type(action.default)):
            continue
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreConstAction)):
            if value:
                words.append(flag)
        elif isinstance(value, list):
            for v in value:
                words += [flag, str(v)]
        elif value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


@contextlib.contextmanager
def report_folder(args):
    """The report folder of a command that writes one, checked and locked for the run (``engine.lock``)."""
    folder = getattr(args, REPORT_WRITERS.get(args.command, ""), None)
    rebuild = REPORT_WRITERS.get(args.command) == "directory"
    if not folder or rebuild and not Path(folder).is_dir():  # nothing to rebuild: the command says so
        yield None
        return
    from crosscheck.engine.lock import FolderError, claim

    option = "DIR" if rebuild else "--report"
    try:
        held = claim(folder, option=option, stream=hasattr(args, "overwrite"), resume=getattr(args, "resume", False),
                     overwrite=getattr(args, "overwrite", False))
    except FolderError as e:
        raise UsageError(str(e)) from None
    with held:
        if held.note:
            console(args).note(held.note)
        yield held


def _check_before_work(args) -> None:
    """Everything that can be checked before the first case: counts, the scheduler, workers, the profile
    and the seed."""
    for name in ("examples", "workers", "steps"):
        _positive(name)(args)
    if getattr(args, "scheduler", None):
        check_scheduler(args.scheduler)
    if getattr(args, "workers", None):
        capped_workers(args)
    if hasattr(args, "profile"):
        if hasattr(args, "database"):
            args.profile = chosen_profile(args)
        elif args.profile is None:
            from crosscheck.engine import profiles

            args.profile = profiles.default_profile()
    if hasattr(args, "seed"):
        resolve_seed(args)


def _announce(args) -> None:
    """The seed of the run when it was drawn fresh (``-v``: every setting)."""
    c = console(args)
    if getattr(args, "seed_drawn", False):
        c.line(f"crosscheck {args.command}: seed {args.seed} (profile {args.profile}: a fresh seed each run; "
               f"--seed {args.seed} draws these cases again)")
    if hasattr(args, "seed"):
        c.detail(_settings_line(args))


def _settings_line(args) -> str:
    shown = [f"{k} {getattr(args, k)}" for k in ("profile", "seed", "examples", "database", "workers", "scheduler",
                                                   "report") if getattr(args, k, None) is not None]
    return f"crosscheck {args.command}: " + ", ".join(shown)


@contextlib.contextmanager
def _hypothesis_files(args):
    """Commands that fuzz keep Hypothesis's own files in ``.crosscheck/`` (``profiles.hypothesis_home``)."""
    if not hasattr(args, "seed"):
        yield
        return
    from crosscheck.engine import profiles

    with profiles.hypothesis_home():
        yield


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM ends a command the way Ctrl-C does (what was kept, and how to go on, are printed)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_fuzz(args) -> int:
    from crosscheck.engine import profiles
    from crosscheck.engine.campaign import CampaignError, fuzz_campaign
    from crosscheck.judge.fragility import allowed
    from crosscheck.app.progress import progress
    from crosscheck.reports import fuzz as fuzz_report
    from crosscheck.engine.stream import StreamError
    from crosscheck.model.target import reference_target

    # Everything imported so far lives for the whole run: keep it out of the
    # collector's sweeps, which otherwise rescan it every few thousand results.
    gc.freeze()
    target = reference_target()
    profile = chosen_profile(args)
    examples = profiles.example_count(profile, args.examples)
    if not args.scheduler:
        capped_workers(args, examples)
    out = console(args)
    # fuzz.csv written as the results come, in case order
    report = fuzz_report.FuzzReport(args.report, all_rows=args.all_rows)
    out.line(fuzz_report.disk_note(args.report, examples, args.all_rows))
    with progress(examples, f"fuzz {target.name}") as bar:
        try:
            run = fuzz_campaign(target, examples=args.examples, seed=args.seed, profile=profile,
                                database=args.database, on_result=bar, workers=args.workers,
                                scheduler=args.scheduler, report=args.report, resume=args.resume,
                                in_order=report.add, all_rows=args.all_rows)
        except (CampaignError, StreamError) as e:
            report.close()
            raise UsageError(str(e)) from None
        except KeyboardInterrupt:
            report.close()
            print(interrupted_fuzz(args, bar.done), file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
        except BaseException:
            report.close()
            raise
    paths = report.finish(run, target=target)
    n_bad = len(run.findings)
    n_fragile = sum(1 for f in run.findings if f.fragile)
    out.final(f"crosscheck fuzz: {report.tally.cases} cases, {report.tally.tensors} tensors compared, "
              f"{n_bad} finding{'s' if n_bad != 1 else ''}" + (f" ({n_fragile} fragile)" if n_fragile else "")
              + f" (seed {args.seed}); report in {paths['md']}")
    for i, f in enumerate(run.findings, 1):
        if f.fragile:
            print(f"  {f.fragile}")
        print(f"  {f.verdict_kind}: {f.message}\n    minimal example: {f.case.describe()}\n"
              f"    replay: {replay_command(paths['json'], i)}")
        for c in f.result.failing:
            out.detail(f"    {c.message}")
    if run.replayed:
        print(f"  note: {run.replayed} failing example{'s' if run.replayed != 1 else ''} saved by an earlier run "
              f"{'were' if run.replayed != 1 else 'was'} replayed first (example database; --database none skips it)")
    if run.stopped:
        print(f"  note: the run stopped early: {run.stopped}")
    if run.skipped_lines:
        print(f"  note: {run.skipped_lines} damaged or foreign line{'s' if run.skipped_lines != 1 else ''} of "
              f"the results stream {'were' if run.skipped_lines != 1 else 'was'} skipped on --resume; "
              f"{'their cases were' if run.skipped_lines != 1 else 'its case was'} checked again")
    return EXIT_OK if allowed(run.findings, args.allow_fragile) else EXIT_FINDINGS


def interrupted_fuzz(args, done: int) -> str:
    """What an interrupted ``crosscheck fuzz`` kept, and the exact commands to go on from it."""
    from crosscheck.engine.stream import STREAM_FILE

    kept = Path(args.report) / STREAM_FILE
    finish = rerun_command(args, drop=("overwrite",), seed=args.seed, resume=True, profile=args.profile)
    report = shlex.join(["crosscheck", "report", str(args.report)])
    return (f"crosscheck fuzz: interrupted after {done} checked case{'s' if done != 1 else ''}; every one of them is "
            f"kept in {kept}\n"
            f"  to finish the run:           {finish}\n"
            f"  to report what was kept now: {report}")


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
    add_fragile_option(p.add_argument)
    p.add_argument("--all-rows", action="store_true",
                   help="write every tensor of every case to fuzz.csv and results.jsonl (default: one row for an "
                        "agreeing case, its worst tensor's error over its allowance; about 10x less disk)")


command("fuzz", "fuzz the reference implementation against torch.autograd", _fuzz_args)(cmd_fuzz)


def build_parser() -> argparse.ArgumentParser:
    _load_commands()
    parser = _Parser(prog="crosscheck", description="Prove hand-written backpropagation right or wrong "
                     "against torch.autograd.")
    parser.add_argument("--version", action="version", version=version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help, add_arguments, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        add_arguments(p)
        add_output_options(p.add_argument)
        p.set_defaults(parser=p)
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
        args.console = Console(args.verbosity)
        _check_before_work(args)
        with _sigterm_as_interrupt(), report_folder(args), _hypothesis_files(args), args.console.quieted():
            _announce(args)
            return COMMANDS[args.command][2](args)
    except UsageError as e:
        print(f"crosscheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("crosscheck: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader of stdout is gone (``crosscheck replay reports | head``): no traceback, and no second
        # error when Python flushes stdout at exit; the status a process stopped by SIGPIPE has
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
