"""The domain: rules and SQL, one module per concern. Adapters call these."""
