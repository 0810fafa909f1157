"""crosscheck: prove hand-written backpropagation right or wrong against torch.autograd.

Light at import time: ``from crosscheck import audit_target`` loads neither
torch nor pandas.
"""
from crosscheck.model.target import Family, Target, TargetError, audit_target, reference_target

__all__ = ["Family", "Target", "TargetError", "audit_target", "reference_target"]
__version__ = "0.1.0"
