"""Layer 2, numerics: the float64 forward pass, the rounding bound, the tolerance, the conventions
that are not bugs, the finite-difference arbiter and the one comparison of two arrays.

NumPy only; each rule once, its formula in the module docstring.
"""
