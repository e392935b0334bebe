"""Loaders for Poland's real public data (boundaries, police units, statistics)."""
