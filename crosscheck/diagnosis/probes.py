"""Further examples around a failing one, run through the same target.

Diagnosis asks the target a few more questions than the fuzzer did: the same
network at another seed, with one more sample in the batch, with one more
output feature, with only the first rows of the batch, with one width changed.
A probe is only made when the target's family admits it; each is gathered
once and cached.
"""
from __future__ import annotations

from dataclasses import replace

from crosscheck.model.cases import Case, Network
from crosscheck.diagnosis.evidence import Evidence, gather, gather_arrays


class Probes:
    def __init__(self, target, case: Case):
        self.target, self.case = target, case
        self._cache: dict = {}

    def _get(self, key, make):
        if key not in self._cache:
            try:
                self._cache[key] = make()
            except ValueError:  # a network the sizes cannot make, say
                self._cache[key] = None
        return self._cache[key]

    def admits(self, case: Case) -> bool:
        return self.target.family.covers(case.network, case.batch, case.dtype)

    def at(self, case: Case) -> Evidence | None:
        """Evidence at another case, if the target's family admits it."""
        if not self.admits(case):
            return None
        return self._get(("case", case.to_dict().__repr__()), lambda: gather(self.target, case))

    def reseeded(self) -> Evidence | None:
        return self.at(replace(self.case, seed=self.case.seed + 1))

    def wider_batch(self) -> Evidence | None:
        return self.at(replace(self.case, batch=self.case.batch + 1, seed=self.case.seed + 2))

    def wider_output(self) -> Evidence | None:
        net = self.case.network
        sizes = net.sizes[:-1] + (net.sizes[-1] + 1,)
        return self.at(replace(self.case, network=replace(net, sizes=sizes), seed=self.case.seed + 3))

    def plain(self) -> Evidence | None:
        """The same network on the plain ("normal") data regime, if the example uses an edge regime."""
        if self.case.regime == "normal":
            return None
        return self.at(replace(self.case, regime="normal", seed=self.case.seed + 4))

    def others(self) -> list[Evidence]:
        """The confirmation examples: another seed, batch + 1, out_features + 1, plain data (those admitted)."""
        return [ev for ev in (self.reseeded(), self.wider_batch(), self.wider_output(), self.plain())
                if ev is not None]

    def verification(self, k: int = 3) -> list[Evidence]:
        """``k`` random cases of other shapes than the example, for every claim before it is printed.

        Case i (0-based) grows every width by i + 1 (so widths that are equal here stay
        equal: the condition the failure showed under is kept) and draws batch + 2 + i
        samples, on plain data with a fresh seed; widths or a batch the target's family
        fixes are kept. Where growing is not admitted (a fixed width, a softmax
        past its 10 classes), only the batch changes.
        """
        net, fixed = self.case.network, self.target.family.sizes
        out = []
        for i in range(k):
            sizes = tuple(n if fixed is not None and fixed[j] is not None else n + i + 1
                          for j, n in enumerate(net.sizes))
            batch = self.target.family.batch or self.case.batch + 2 + i
            for shape in (sizes, net.sizes):
                try:
                    grown = replace(net, sizes=shape)
                except ValueError:  # not a network (a softmax grown past its 10 classes): keep the sizes
                    continue
                case = replace(self.case, network=grown, batch=batch, regime="normal", seed=self.case.seed + 101 + i)
                ev = self.at(case)
                if ev is not None:
                    out.append(ev)
                    break
        return out

    def first_rows(self, k: int) -> Evidence | None:
        """The example cut to its first ``k`` samples (the target must take any batch)."""
        if self.target.family.batch is not None or k >= self.case.batch:
            return None

        def make():
            X, Y, params = self.case.arrays()
            return gather_arrays(self.target, self.case, X[:k], Y[:k], params)
        return self._get(("rows", k), make)

    def resized(self, index: int, delta: int = 1) -> Case | None:
        """The case with width ``sizes[index]`` changed by ``delta`` (same seed), if admitted."""
        net = self.case.network
        sizes = list(net.sizes)
        sizes[index] += delta
        if sizes[index] < 1:
            return None
        try:
            case = replace(self.case, network=Network(tuple(sizes), net.activations, net.loss, net.reduction))
        except ValueError:
            return None
        return case if self.admits(case) else None
