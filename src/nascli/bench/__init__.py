"""Benchmark mode: tabulate a space once (`nas bench build`), then search it in seconds."""
