"""``motivus loopback --cluster``: the loopback's tasks run on a Dask cluster (issue 23).

Imported only when a cluster is asked for: without ``--cluster`` neither this package nor
Dask is loaded.
"""
