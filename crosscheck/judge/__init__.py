"""Layer 3, judge: the torch truth of a case (``oracle``), running a target on it and judging every
tensor (``check``, with ``fastpath`` its batch entry point), and training trajectories."""
