"""Search strategies. Sample-based ones speak ask/tell and keep a JSON-able state_dict."""
