"""`intentd health`: ask a server's standard gRPC health service whether it is SERVING.

Made for Kubernetes exec probes and shell scripts, which run it every few seconds inside the
server's own CPU budget: it imports grpcio and the health stubs only (no onnxruntime, numpy or
model code). Exit codes: 0 SERVING; 1 the server answered with anything else (NOT_SERVING while
it drains, SERVICE_UNKNOWN, or no health service); 2 no answer (cannot connect, timed out, bad
TLS files), with a one-line reason on stderr. With `--live` (a liveness probe) a server whose
every call slot is held (`--max-calls`: RESOURCE_EXHAUSTED) is alive, exit 0: restarting it
would drop the calls in flight, and whoever holds the slots could take them again.
"""

from __future__ import annotations

import argparse
import os
import sys

from intentd.argtypes import finite_float, port_problem

EXIT_SERVING, EXIT_NOT_SERVING, EXIT_UNREACHABLE = 0, 1, 2
DEFAULT_TIMEOUT_S = 2.0


class Unreachable(Exception):
    """No health answer came back: the one-line reason for exit code 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", metavar="HOST:PORT", help="TCP address of the server")
    where.add_argument("--uds", metavar="PATH", help="Unix domain socket of the server")
    parser.add_argument("--service", default="",
                        help="service to ask about (default: the whole server; "
                             "intentd.v1.IntentService also works)")
    parser.add_argument("--live", action="store_true",
                        help="liveness: a server too busy to take the call (every --max-calls slot held) "
                             "is alive, exit 0 (a readiness probe leaves this off: it takes the server out of "
                             "rotation while busy)")
    parser.add_argument("--timeout", type=finite_float, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"seconds to wait for the answer, connecting included (default {DEFAULT_TIMEOUT_S:g})")
    tls = parser.add_argument_group("TLS (with --target)")
    tls.add_argument("--tls", action="store_true", help="connect with TLS (implied by the other --tls-* flags)")
    tls.add_argument("--tls-ca", metavar="FILE", help="CA bundle that signed the server's certificate "
                                                       "(default: the system's roots)")
    tls.add_argument("--tls-cert", metavar="FILE", help="client certificate, for a server that requires mTLS")
    tls.add_argument("--tls-key", metavar="FILE", help="the client certificate's private key")
    tls.add_argument("--tls-server-name", metavar="NAME",
                     help="name to verify in the server's certificate (default: the host of --target)")


def check(target: str, service: str = "", timeout: float = DEFAULT_TIMEOUT_S, credentials=None,
          options: tuple = ()) -> str:
    """The serving status name the server reports for ``service``; :class:`Unreachable` without an answer."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channel = (grpc.secure_channel(target, credentials, options) if credentials is not None
               else grpc.insecure_channel(target, options))
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout,
                               wait_for_ready=False)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:  # the health service's word for a service it does not know
                return "SERVICE_UNKNOWN"
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unreachable(f"{target}: {code.name}: {_one_line(exc.details())}") from None
            return code.name  # it answered, but not SERVING (e.g. UNIMPLEMENTED: no health service)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def run(args: argparse.Namespace) -> int:
    """The command: print nothing when SERVING (probes log stdout), one line otherwise."""
    problem = _flag_problem(args)
    if problem is not None:  # a flag error, not an unreachable server
        print(f"intentd health: error: {problem}", file=sys.stderr)
        return EXIT_UNREACHABLE
    try:
        target, credentials, options = _connection(args)
        status = check(target, args.service, args.timeout, credentials, options)
    except Unreachable as exc:
        print(f"intentd health: unreachable: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if status == "SERVING":
        return EXIT_SERVING
    if status == "RESOURCE_EXHAUSTED" and args.live:
        print(f"intentd health: {target}: alive, every call slot held (RESOURCE_EXHAUSTED)", file=sys.stderr)
        return EXIT_SERVING
    print(f"intentd health: {target}: {status}", file=sys.stderr)
    return EXIT_NOT_SERVING


def _flag_problem(args: argparse.Namespace) -> str | None:
    if args.timeout <= 0:
        return f"--timeout must be more than 0 seconds (got {args.timeout:g})"
    if (problem := port_problem(args.target)) is not None:
        return problem
    if bool(args.tls_cert) != bool(args.tls_key):
        return "--tls-cert and --tls-key go together"
    for flag, path in (("--tls-ca", args.tls_ca), ("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None and not os.path.isfile(path):
            return f"{flag} {path}: no such file"
    return None


def _connection(args: argparse.Namespace) -> tuple[str, object, tuple]:
    tls = args.tls or any((args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name))
    if args.uds is not None:
        if tls:
            raise Unreachable("--tls* flags go with --target, not --uds")
        return f"unix:{os.path.abspath(args.uds)}", None, ()
    if not tls:
        return args.target, None, ()
    if bool(args.tls_cert) != bool(args.tls_key):
        raise Unreachable("--tls-cert and --tls-key go together")
    import grpc

    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(args.tls_ca, "--tls-ca"),
        private_key=_read(args.tls_key, "--tls-key"),
        certificate_chain=_read(args.tls_cert, "--tls-cert"))
    options = (("grpc.ssl_target_name_override", args.tls_server_name),) if args.tls_server_name else ()
    return args.target, credentials, options


def _read(path: str | None, flag: str) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise Unreachable(f"{flag} {path}: {exc.strerror}") from None


def _one_line(text: str | None) -> str:
    return " ".join((text or "no details").split())


def main(argv: list[str] | None = None) -> int:
    """``python -m intentd.health``: the same command without loading the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="intentd health", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
