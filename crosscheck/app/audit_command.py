"""``crosscheck audit PATH [PATH ...]``: audit decorated functions, write the reports.

Exit status: 0 when every target agrees with torch, 1 when any has findings,
2 for usage errors (a missing path, no targets found, a file that cannot be
imported or a misused decorator; the report is still written for the rest),
3 when crosscheck itself failed while auditing (a bug to report), 130 when
interrupted (SIGINT or SIGTERM): the reports of the targets finished are written
and the command to continue (``--resume``) is printed.

Each finished target's record goes to ``DIR/audit.jsonl`` at once (``audit.journal``).
"""
from __future__ import annotations

import shlex
import signal
import sys

from crosscheck.app.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, chosen_profile, command
from crosscheck.app.options import (add_fragile_option, add_profile_options, add_report_option, add_run_options,
                                    add_workers_option)

EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a .py file or a folder (its *.py files) with functions decorated by @audit_target")
    add_run_options(p.add_argument, examples=100)
    add_profile_options(p.add_argument)
    add_report_option(p.add_argument)
    add_fragile_option(p.add_argument)
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="time limit per target: seconds its own process spends importing the file and in calls "
                        "(default 10 + examples/4); past it the process is killed and the cases checked are kept")
    p.add_argument("--memory", type=int, default=2048, metavar="MB",
                   help="address space each target's process may take beyond its start (default 2048 MB)")
    add_workers_option(p.add_argument, what="targets")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted audit of the same paths and options: the targets finished "
                        "in REPORT/audit.jsonl are kept, the rest are audited")


@command("audit", "audit third-party backprop code: every @audit_target function against torch.autograd",
         add_arguments)
def cmd_audit(args) -> int:
    from crosscheck.audit.runner import AuditOptions

    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.memory < 64:
        raise UsageError(f"--memory must be at least 64 (MB), got {args.memory}")
    from crosscheck.engine import profiles

    profile = chosen_profile(args)
    options = AuditOptions(examples=profiles.example_count(profile, args.examples), seed=args.seed,
                           timeout=args.timeout, memory_mb=args.memory, profile=profile, database=args.database,
                           workers=args.workers)
    try:
        return _audit(args, options)
    except UsageError:
        raise
    except Exception:  # our own bug: a traceback and a status the Makefile and CI tell from findings
        import traceback

        traceback.print_exc()
        print("crosscheck: internal error (please report it); see the traceback above", file=sys.stderr)
        return EXIT_INTERNAL


def _audit(args, options) -> int:
    from pathlib import Path

    from crosscheck.audit import journal
    from crosscheck.engine import loader
    from crosscheck.audit.runner import AuditRun, NoTargets, audit_paths

    stream = journal.Journal(Path(args.report) / journal.NAME)
    header = {"paths": [str(Path(p).resolve()) for p in args.paths], **options.to_dict()}
    done: dict = {}
    if args.resume:
        try:
            done, damaged = journal.read(stream.path, header)
        except journal.JournalError as e:
            raise UsageError(str(e)) from None
        print(f"crosscheck audit: resuming {stream.path}: {len(done)} target{'s' if len(done) != 1 else ''} "
              f"finished before" + (f", {damaged} damaged line{'s' if damaged != 1 else ''} skipped" if damaged
                                    else ""), flush=True)
    print(f"crosscheck audit: up to {options.examples} cases per target, time limit {options.seconds:g} s each",
          flush=True)
    from crosscheck.app.progress import progress

    finished: list[dict] = []
    stream.start(header, resume=args.resume)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with progress(None, "audit", unit="case") as bar, bar.printing():
            def on_record(r):
                if journal.key(r) not in done or r is not done[journal.key(r)]:
                    stream.append(r)
                finished.append(r)
                _print_record(r)
                bar.advance(0, findings=bar.findings + len(r.get("findings") or []))

            def on_event(e):
                if e.get("event") == "result":
                    bar.advance(1)

            try:
                run = audit_paths(args.paths, options, on_record=on_record, on_event=on_event, done=done)
            except (loader.PathError, NoTargets) as e:
                raise UsageError(str(e)) from None
    except KeyboardInterrupt:
        run = AuditRun(records=finished, options=options, files=[str(p) for p in args.paths])
        _write_reports(run, args.report)
        print(f"crosscheck: interrupted; the {len(finished)} target{'s' if len(finished) != 1 else ''} finished "
              f"are kept in {stream.path} and reported in {args.report}; continue with:\n  "
              f"{resume_command(args)}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
        stream.close()
    paths = _write_reports(run, args.report)
    counts = {}
    for r in run.records:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    print(f"{len(run.records)} target{'s' if len(run.records) != 1 else ''}: "
          + ", ".join(f"{n} {v}" for v, n in counts.items()) + f"; report in {paths['md']} (and .json, .csv, .html)")
    for r in run.invalid:
        print(f"crosscheck: error: {r['reason']}", file=sys.stderr)
    for msg in run.internal_errors:
        print(f"crosscheck: internal error (please report it): {msg}", file=sys.stderr)
    if run.internal_errors:
        return EXIT_INTERNAL
    if run.invalid:
        return EXIT_USAGE
    fragile_only = getattr(args, "allow_fragile", False) and all(r["verdict"] in ("agree", "fragile") for r in run.records)
    return EXIT_OK if run.agree or fragile_only else EXIT_FINDINGS


def _interrupt(signum, frame):
    """SIGTERM: stop like Ctrl-C, so the finished targets are reported."""
    raise KeyboardInterrupt()


def _write_reports(run, directory):
    from crosscheck.reports import audit as audit_report

    return audit_report.write(run, directory)


def resume_command(args) -> str:
    """The exact command that continues this audit, every argument shell-quoted."""
    from crosscheck.engine.profiles import DefaultCount

    words = ["crosscheck", "audit", *args.paths, "--seed", str(args.seed), "--report", str(args.report),
             "--memory", str(args.memory), "--workers", str(args.workers)]
    if not isinstance(args.examples, DefaultCount):  # a default count is scaled by the profile again
        words += ["--examples", str(args.examples)]
    if args.timeout is not None:
        words += ["--timeout", f"{args.timeout:g}"]
    if getattr(args, "profile", None):
        words += ["--profile", args.profile]
    if getattr(args, "database", None):
        words += ["--database", str(args.database)]
    return " ".join(shlex.quote(str(w)) for w in words + ["--resume"])


def _print_record(r: dict) -> None:
    """One line per target as it finishes, then one per finding."""
    if r["verdict"] == "invalid":
        print(f"  {'invalid':9} {r['name']}: {r['reason']}", flush=True)
        return
    print(f"  {r['verdict']:9} {r['name']}  ({r['examples']} cases, {r.get('seconds', 0):.1f} s)", flush=True)
    for f in r["findings"]:
        print(f"      {f['kind']}: {f['message']}", flush=True)
    if r.get("replayed"):
        print(f"      note: {r['replayed']} failing example{'s' if r['replayed'] != 1 else ''} saved by an earlier "
              f"run replayed first (example database; --database none skips it)", flush=True)
