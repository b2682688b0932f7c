"""Typed errors of the load generator: each says why a run could not happen as asked.

They are raised in library code and turned into one clear line and exit code 2 by
:func:`intentd.loadtest.cli.run`; an SLO violation is a result, not an error.
"""


class LoadTestError(Exception):
    """The load test could not run as asked."""


class ConfigError(LoadTestError):
    """A flag or flag combination is invalid."""


class TextsError(LoadTestError):
    """The --texts file is missing, empty or malformed."""


class TargetUnavailable(LoadTestError):
    """No gRPC server answered at the target address."""


class PlotUnavailable(LoadTestError):
    """--plot was asked for but matplotlib is not installed."""
