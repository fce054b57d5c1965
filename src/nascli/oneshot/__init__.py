"""One-shot (weight-sharing) search: supernets, their Lightning modules, strategies and loop."""
