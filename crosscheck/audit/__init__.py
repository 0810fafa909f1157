"""``crosscheck audit``: check backprop code we did not write against torch.autograd.

A user decorates functions with ``crosscheck.audit_target(...)``; the audit finds
them (``engine.loader``), fuzzes each with the spine's ``fuzz`` (``runner``) while
only the audited function runs in a process of its own, with a time and a memory
limit (``sandbox``, ``worker``, ``protocol``), and turns what came back into one
record per target: tensors, findings and a verdict (``record``, ``conditions``).
``crosscheck.reports.audit`` writes the report files.

Kept light: importing this package loads neither torch nor pandas, and the
audited process (``python -m crosscheck.audit.worker``) does not load the runner.
"""

__all__ = ["AuditOptions", "audit_paths"]


def __getattr__(name):
    if name in __all__:
        from crosscheck.audit import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'crosscheck.audit' has no attribute {name!r}")
