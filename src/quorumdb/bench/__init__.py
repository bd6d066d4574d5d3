"""``quorumdb bench``: load against any DynamoDB-compatible endpoint.

Theory of operation: each worker process runs an asyncio (uvloop) event loop with
``concurrency`` closed-loop clients, each on its own keep-alive connection, sending real
SigV4-signed DynamoDB JSON requests built by hand (botocore costs ~1 ms of client CPU
per request, which would make the client the bottleneck). Latencies are recorded per
request in microseconds and merged across processes; ops/s counts only successful
answers. Every run is bounded by ``--duration`` (plus a bounded preload).
"""
