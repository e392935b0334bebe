"""Errors the CLI and the API turn into clear messages (never a stack trace)."""


class KmzbError(Exception):
    """Base for errors with a message meant for a person."""


class ClusterError(KmzbError):
    """The embedded PostgreSQL cluster could not be created, started or reached."""


class MigrationError(KmzbError):
    """A migration failed or an applied one was changed afterwards."""


class LoadError(KmzbError):
    """An input file is unreadable or invalid; nothing was written."""


class UnsupportedPygeoapi(KmzbError):
    """The installed pygeoapi is not the one kmzb.service.pygeoapi_adapter's patches fit."""
