"""The run-directory contract: history.jsonl, best.json, summary.json, config.yaml."""
