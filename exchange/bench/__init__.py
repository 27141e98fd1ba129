"""``exchange bench``: measured throughput, latency and scale (see docs/PERFORMANCE.md)."""
