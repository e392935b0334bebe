"""Bearer tokens (JWT): issuing development tokens and verifying any token."""
