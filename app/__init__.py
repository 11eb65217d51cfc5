"""The roof: what a person or a scheduler runs (the CLI, the demo, the demo's corpus and loopback server).

It imports everything below it (balkanwatch's pure decisions, connectors/, warehouse/, flows/, deployments/);
nothing below imports it.
"""
