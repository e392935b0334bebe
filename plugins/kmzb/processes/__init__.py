"""pygeoapi processes: thin adapters over kmzb.domain."""
