"""The root of intentd's typed errors: the CLI prints these as one line and exits non-zero."""


class IntentdError(Exception):
    """A problem the user can fix (bad data, bad artifact, bad flag), not a bug."""
