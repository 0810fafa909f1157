"""The reference MLP's forward + backward against torch's, side by side, plus the machine's matmul peak.

    .venv/bin/python benchmarks/reference_speed.py [--threads 1] [--repeats 5]

Network: in -> width -> width -> out (ReLU, ReLU, identity), MSE mean, the same
parameters in both. Torch runs ``torch_loss(...).backward()`` on leaf tensors,
the reference ``MLP.gradients`` (which also returns dZ, dA, dX). Both use
``--threads`` threads (torch.set_num_threads and, for NumPy's BLAS, the
OMP/OPENBLAS/MKL variables set before NumPy loads). Prints the best-of-repeats
time of each, the ratio (targets: <= 1.1x torch for width >= 512, <= 1.5x below),
and the reference's GFLOP/s next to the matmul peak, then the shapes that miss
their target.

The two sides do not share a BLAS: NumPy's wheels bring OpenBLAS, torch's
bring MKL (printed first). Where the reference lost most, the cause was NumPy,
not BLAS speed: ``np.where`` on a half-true mask (ReLU) is ten times slower than
``np.maximum``, and at batch 1 OpenBLAS's GEMM with inner dimension 1 (dW = dZᵀ
X, an outer product) is several times slower than an outer product loop; see
``reference/activations.py`` and ``reference/layers.py``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--widths", default="64,256,512,1024,2048")
    p.add_argument("--batches", default="1,64,1024,4096")
    args = p.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np
    import torch

    from crosscheck.model.cases import Network
    from crosscheck.judge.oracle import torch_loss
    from crosscheck.reference import MLP

    torch.set_num_threads(args.threads)
    print(f"BLAS: NumPy {np.__version__} with {_numpy_blas(np)}; torch {torch.__version__} with "
          f"{'MKL' if torch.backends.mkl.is_available() else 'its own BLAS'}; {args.threads} thread(s) each")
    misses = []

    def best(fn):
        fn()
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    for dtype in ("float32", "float64"):
        a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(dtype)
        at = torch.from_numpy(a)
        peak, torch_peak = (2 * 2048**3 / best(fn) / 1e9 for fn in (lambda: a @ a, lambda: at @ at))
        print(f"\n{dtype}: matmul peak {peak:.1f} GFLOP/s with NumPy, {torch_peak:.1f} with torch "
              f"(2048x2048 @ 2048x2048, {args.threads} thread(s))")
        print(f"{'width':>6s}{'batch':>7s}{'reference':>12s}{'torch':>12s}{'ratio':>8s}{'ref GFLOP/s':>13s}")
        for width in map(int, args.widths.split(",")):
            for batch in map(int, args.batches.split(",")):
                net = Network((width, width, width, 16), ("relu", "relu", "identity"), "mse")
                rng = np.random.default_rng(1)
                params = [((rng.standard_normal((o, i)) / np.sqrt(i)).astype(dtype), np.zeros(o, dtype))
                          for i, o in zip(net.sizes, net.sizes[1:])]
                X = rng.standard_normal((batch, width)).astype(dtype)
                Y = rng.standard_normal((batch, 16)).astype(dtype)

                def reference():
                    MLP(net.sizes, net.activations, params).gradients(X, Y, "mse", "mean")

                def torch_fb():
                    Xt = torch.from_numpy(X).requires_grad_()
                    Pt = [(torch.from_numpy(W).requires_grad_(), torch.from_numpy(b).requires_grad_())
                          for W, b in params]
                    torch_loss(net, Xt, torch.from_numpy(Y), Pt).backward()

                r, t = best(reference), best(torch_fb)
                flops = 6 * batch * sum(i * o for i, o in zip(net.sizes, net.sizes[1:]))  # fwd 2, bwd 4
                limit = LARGE_LIMIT if width >= LARGE_WIDTH else SMALL_LIMIT
                ok = r / t <= limit
                if not ok:
                    misses.append(f"{dtype} width {width} batch {batch}: {r / t:.2f}x (target {limit}x)")
                print(f"{width:6d}{batch:7d}{r * 1e3:10.3f}ms{t * 1e3:10.3f}ms{r / t:8.2f}{flops / r / 1e9:13.1f}"
                      f"{'' if ok else '  over ' + str(limit) + 'x'}")
    print("\nevery shape within its target (<= 1.1x torch from width 512, <= 1.5x below)" if not misses else
          "\nover target: " + "; ".join(misses))
    return 0


#: Width from which a layer counts as large, and the targets (reference time / torch time).
LARGE_WIDTH, LARGE_LIMIT, SMALL_LIMIT = 512, 1.1, 1.5


def _numpy_blas(np) -> str:
    """The BLAS NumPy was built with, from its build configuration."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older NumPy: only a label
        return "its BLAS"


if __name__ == "__main__":
    sys.exit(main())
