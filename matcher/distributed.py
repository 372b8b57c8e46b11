"""Independent parts on a Dask distributed scheduler, for batches or sweeps larger than one machine.

`address` is a scheduler's address (tcp://host:8786), or "local" for an embedded LocalCluster of
two single-threaded worker processes. Results come back in part order, so the plan is the same as
a single-process run.
"""
from __future__ import annotations


def solve_on_dask(tasks: list[tuple], address: str) -> list:
    """Solve each (index, batch, pairs, scenario) task on Dask workers and gather the outcomes."""
    from dask.distributed import Client, LocalCluster

    from matcher.solve import solve_part_task

    if address == "local":
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            return client.gather(client.map(solve_part_task, tasks, pure=False))
    with Client(address) as client:
        return client.gather(client.map(solve_part_task, tasks, pure=False))
