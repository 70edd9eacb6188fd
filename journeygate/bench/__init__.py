"""``journeygate bench``: throughput, CPU cost, latency and scale, against raw ceilings."""
