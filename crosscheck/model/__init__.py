"""Layer 1, model: the names, cases, targets and records everything else speaks of.

Pure data and declarations: no torch, no pandas, no I/O. Imports nothing of crosscheck's above it.
"""
