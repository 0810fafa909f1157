"""Bug variants of the reference: the known-bug library and the mutant corpus.

- ``pieces``: buggy overrides of the reference activations, dense layer and losses;
- ``variants``: ``LIBRARY``, one ``Variant`` per taxonomy pattern (placed at any layer);
- ``corpus``: ``CORPUS``, variants at chosen layers of reachable families, as ``Target``s;
- ``run``: fuzz every mutant and score the harness (``crosscheck mutants``).
"""
from .variants import BY_KEY, LIBRARY, Variant, variant

__all__ = ["BY_KEY", "LIBRARY", "Variant", "variant"]
