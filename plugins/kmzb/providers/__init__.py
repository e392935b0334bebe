"""pygeoapi provider plugins."""
