"""Deployment targets: what params, FLOPs and latency refer to."""
