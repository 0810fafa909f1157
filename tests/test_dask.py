"""--scheduler: the campaign on a dask.distributed cluster (a local one on loopback here)."""
import pytest

distributed = pytest.importorskip("distributed", reason="dask.distributed not installed: pip install 'crosscheck[dask]'")

from crosscheck.engine.campaign import fuzz_campaign  # noqa: E402
from crosscheck.drawing.sampler import Bounds  # noqa: E402
from crosscheck.model.target import reference_target  # noqa: E402

SMALL = Bounds(max_depth=2, max_width=6, max_batch=4)


def test_a_dask_cluster_checks_the_same_cases_as_one_process():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        on_dask = fuzz_campaign(reference_target(), examples=10, seed=4, bounds=SMALL, scheduler=cluster.scheduler_address)
    here = fuzz_campaign(reference_target(), examples=10, seed=4, bounds=SMALL)
    assert [r.case for r in on_dask.results] == [r.case for r in here.results]
    assert [[c.message for c in r.comparisons] for r in on_dask.results] == \
        [[c.message for c in r.comparisons] for r in here.results]
