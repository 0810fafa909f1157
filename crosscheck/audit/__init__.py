"""``crosscheck audit``: check backprop code we did not write against torch.autograd.

A user decorates functions with ``crosscheck.audit_target(...)``; the audit finds
them (``loader``), runs each in its own process with a time and a memory limit
(``isolation``, ``worker``), fuzzes it with the spine's ``fuzz`` (``runner``) and
turns what came back into one record per target: tensors, findings and a
verdict (``record``, ``conditions``). ``command`` registers the CLI and
``crosscheck.reports.audit`` writes the report files.

Kept light: importing this package loads neither torch nor pandas.
"""
from crosscheck.audit.runner import AuditOptions, audit_paths

__all__ = ["AuditOptions", "audit_paths"]
