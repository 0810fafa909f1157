"""``crosscheck mutants``: fuzz the mutant corpus and write the mutation table."""
from __future__ import annotations

import sys

from crosscheck.app.cli import EXIT_FINDINGS, EXIT_OK, UsageError, chosen_profile, command
from crosscheck.app.options import add_profile_options, add_report_option, add_workers_option

#: The harness must catch every mutant, label at least this share right and fully explain
#: (every bug named with its line) at least this share.
RIGHT_LABEL_TARGET = 0.9
EXPLAINED_TARGET = 0.9


def _arguments(p) -> None:
    p.add_argument("--examples", type=int, default=None, metavar="N",
                   help="cases to draw per mutant (default 30; 200 with --profile thorough)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    add_report_option(p.add_argument)
    p.add_argument("--select", default=None, metavar="TEXT", help="only mutants whose name contains TEXT")
    add_profile_options(p.add_argument)
    p.add_argument("--thorough", action="store_true",
                   help="the same as --profile thorough: full-size networks (widths and batch up to 32) "
                        "and more examples")
    add_workers_option(p.add_argument, what="mutants")


@command("mutants", "fuzz the mutant corpus (bug variants of the reference) and score catch rate and diagnosis",
         _arguments)
def cmd_mutants(args) -> int:
    from crosscheck.diagnosis.corpus import corpus
    from crosscheck.reports.mutants import write
    from crosscheck.engine.mutants import QUICK, THOROUGH, run_corpus, score

    if args.thorough:  # the old spelling, kept working
        print("crosscheck: note: --thorough is the same as --profile thorough", file=sys.stderr)
        args.profile = "thorough"
    profile = chosen_profile(args)
    settings = dict(THOROUGH if profile == "thorough" else QUICK)
    if args.examples is not None:
        settings["examples"] = args.examples
    if not corpus(args.select):
        raise UsageError(f"no mutant name contains {args.select!r}; see crosscheck/mutants/corpus.py")

    def show(row):
        mark = "caught" if row.caught else "MISSED"
        verdict = "right" if row.diagnosis_right else f"WRONG (expected {row.expected_label})"
        bugs = f"{row.bugs} bug{'s' if row.bugs != 1 else ''}"
        explained = ("explained" if row.explained else
                     f"NOT explained ({'named' if row.bugs_named else 'not all named'}, "
                     f"{'lines found' if row.lines_found else 'not all lines found'})")
        print(f"  {row.mutant}: {mark}" + (f" after {row.examples_to_catch}, diagnosis "
                                           f"{', '.join(row.diagnosis) or '-'} {verdict}; {bugs} {explained}"
                                           if row.caught else ""),
              flush=True)

    from crosscheck.app.progress import progress

    with progress(len(corpus(args.select)), "mutants", unit="mutant", counting="catch") as bar, bar.printing():
        def row_done(row):
            show(row)
            bar.advance(1, findings=bar.findings + int(row.caught))

        rows = run_corpus(args.select, on_row=row_done, seed=args.seed, workers=args.workers, profile=profile,
                          database=args.database or "none", **settings)
    paths = write(rows, args.report, {**settings, "seed": args.seed, "profile": profile})
    s = score(rows)
    print(f"crosscheck mutants: {s['caught']} / {s['mutants']} caught, {s['right_label']} / {s['mutants']} "
          f"diagnosed with the right label ({100 * s['right_label_rate']:.0f}%), "
          f"{s['signature_only_right']} by signature analysis alone, {s['explained']} / {s['mutants']} fully "
          f"explained (every bug named with its line, {100 * s['explained_rate']:.0f}%); report in {paths['md']}")
    ok = (s["caught"] == s["mutants"] and s["right_label_rate"] >= RIGHT_LABEL_TARGET
          and s["explained_rate"] >= EXPLAINED_TARGET)
    return EXIT_OK if ok else EXIT_FINDINGS
