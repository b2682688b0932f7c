"""Latency load generator and SLO gate (`intentd loadtest`, `python -m intentd.loadtest`).

Open-loop: requests leave on a fixed schedule and latency is measured from it, so a slow
server shows up as latency rather than as a politely slower client. The CLI wires
:func:`add_arguments` and :func:`run` as its `loadtest` sub-command.

Data flows config -> texts (a --texts file) or utterances (generated, never repeated) ->
payloads -> runner (schedule, client over http2) -> recorder -> slo/report/plot; capacity.py
picks the rates of a sweep or search, and echo_server.py is the yardstick for the generator's
own cost.
"""

from .cli import add_arguments, main, run

__all__ = ["add_arguments", "main", "run"]
