"""Database plumbing: the embedded cluster, connections, migrations."""
