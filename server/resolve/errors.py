"""Typed errors of entity resolution (mapped to a clear message by the CLI; raised at load time)."""

from intentd.errors import IntentdError


class DomainConfigError(IntentdError):
    """The domain config's entity section is invalid (unknown kind, bad regex, empty catalog, ...)."""
