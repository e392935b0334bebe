"""The HTTP service around pygeoapi: who calls, what they may do, our own routes."""
