"""Independent parts on a Dask distributed scheduler, for batches or sweeps larger than one machine.

`address` is a scheduler's address (tcp://host:8786), or "local" for an embedded LocalCluster of
two single-threaded worker processes. Parts are handed out as workers free up, with the time
shares of `matcher.solve.TimeShares`, and results are merged in part order, as on local processes.
"""
from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def dask_client(address: str) -> Iterator:
    """A Client of the scheduler at `address`, or of an embedded LocalCluster for "local"."""
    from dask.distributed import Client, LocalCluster

    if address == "local":
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            yield client
        return
    with Client(address) as client:
        yield client


def first_done(futures: list) -> set:
    """The Dask futures among these that have finished, once at least one has."""
    from dask.distributed import wait

    return wait(futures, return_when="FIRST_COMPLETED").done
