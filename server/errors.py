"""The service layer's one error family. service.py maps each class to a gRPC status code in one
table; nothing else in the server chooses a status code."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the errors a request can be answered with (never a server bug)."""


class InvalidRequest(ServiceError):
    """Bad input: the message names the field."""


class Overloaded(ServiceError):
    """The request cannot be answered within its budget (full queue, or more work queued than
    its deadline or the SLO allows): shed it now rather than answer it late."""


class OverServerLimit(ServiceError):
    """A request larger than this server's settings ever admit (more n-best transcripts than
    --max-queue): no retry can help, unlike Overloaded."""


class DeadlineUnmeetable(ServiceError):
    """The request's own deadline passed before it could be computed."""


class Draining(ServiceError):
    """The server is shutting down (or has no model) and takes no new work."""


class Stalled(ServiceError):
    """One forward pass has held the model past --stall-timeout (a hung onnxruntime call, a
    starved thread): nothing queued behind it can be answered, so callers go elsewhere now."""


class ReloadBusy(ServiceError):
    """Another ReloadModel is already running."""


class ReloadRefused(ServiceError):
    """ReloadModel on a listener that does not serve admin RPCs, or from a caller not allowed to."""


class InferenceFailed(ServiceError):
    """The model or post-processing raised for this request: a server bug, logged with its traceback."""
