"""Training machinery shared by every app: configs, data sources, strategies, run directories."""
