"""Reports: pandas tables built from ``CaseResult`` records, written as CSV,
Markdown and JSON (and HTML, see ``html``). ``tables`` builds the frames;
the per-command modules write the files."""
