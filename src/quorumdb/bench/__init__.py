"""``quorumdb bench``: load against any DynamoDB-compatible endpoint.

Theory of operation: each worker process runs a uvloop event loop with its share of
``--concurrency`` clients, each on its own keep-alive connection, sending real
SigV4-signed DynamoDB JSON requests whose bodies are assembled from byte templates
(botocore costs ~1 ms of client CPU per request, which would make the client the
bottleneck). Closed loop (``--concurrency``) or open loop (``--rate``, latencies from the
intended start). Latencies go into log-linear histograms (``histogram.py``, HDR-like
precision) that are merged across processes; ops/s counts valid answers. Every run is
bounded by ``--warmup + --duration`` plus a bounded drain, and the preload by
``--preload-timeout``.

Modules: ``client`` (HTTP/1.1 + signer), ``distributions`` (uniform, zipfian, latest),
``workloads`` (put, get, query, batch-write, YCSB A-F), ``histogram``, ``run`` (CLI,
workers, report), ``selftest`` (``--selftest-ceiling``: the client's own limit).
"""
