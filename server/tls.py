"""TLS credentials that follow their files: a renewed certificate (cert-manager rewriting a
Secret, a cron job running certbot) is served to the next connection without a restart.

gRPC asks the fetcher for a new configuration at each TLS handshake; the files are stat-ed then
and read again only when one of them changed. A file that cannot be read at that moment (a
renewal half written) keeps the configuration in use, and the next handshake tries again. At
start, a file that holds no certificate or key, an encrypted key, or a key that is not the
certificate's is refused by name; an expired certificate, or one not yet valid or about to
expire, is logged at start and at each renewal, and its end is a metric to alert on.
"""

from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path
from typing import Callable

import grpc

from .config import ConfigError

log = logging.getLogger(__name__)


EXPIRES_SOON_S = 7 * 86400  # a certificate this close to its end is warned about


class CertificateFiles:
    def __init__(self, key: Path, cert: Path, client_ca: Path | None,
                 on_expiry: Callable[[float], None] | None = None):
        """`on_expiry`: told the served certificate's end (Unix time) at start and at each renewal
        (`intentd_tls_certificate_expiry_timestamp_seconds`)."""
        self.paths = (key, cert) + ((client_ca,) if client_ca is not None else ())
        self._on_expiry = on_expiry
        self._seen = self._stamp()
        try:
            self._first = self._configuration()
        except OSError as exc:
            raise ConfigError(f"TLS files: cannot read {exc.filename} ({exc.strerror})") from None
        check_files(key, cert, client_ca)
        self._check_dates()

    def _check_dates(self) -> None:
        """An expired certificate was served without a word (every client's handshake failed); one
        about to expire is said too. Logged, not refused: a renewal written later is served to the
        next connection without a restart (above)."""
        cert = self.paths[1]
        not_before, not_after = certificate_dates(cert)
        if not_after is None:
            return
        if self._on_expiry is not None:
            self._on_expiry(not_after)
        now = time.time()
        if not_after <= now:
            log.error("--tls-cert %s expired on %s: TLS clients refuse the handshake until it is renewed",
                      cert, _utc(not_after))
        elif not_before is not None and not_before > now:
            log.error("--tls-cert %s is not valid before %s: TLS clients refuse the handshake until then "
                      "(is this host's clock right?)", cert, _utc(not_before))
        elif not_after - now < EXPIRES_SOON_S:
            log.warning("--tls-cert %s expires on %s (in %.1f days)", cert, _utc(not_after), (not_after - now) / 86400)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(self._first, self._fetch,
                                                   require_client_authentication=len(self.paths) == 3)

    def _stamp(self) -> tuple:
        try:
            return tuple((p.stat().st_mtime_ns, p.stat().st_size, p.stat().st_ino) for p in self.paths)
        except OSError:
            return ()

    def _configuration(self):
        key, cert, *ca = (p.read_bytes() for p in self.paths)
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca[0] if ca else None)

    def _fetch(self):
        """gRPC's fetcher: None keeps the configuration in use."""
        stamp = self._stamp()
        if not stamp or stamp == self._seen:
            return None
        try:
            configuration = self._configuration()
        except OSError as exc:
            log.warning("TLS files changed but %s cannot be read (%s): keeping the certificate in use",
                        exc.filename, exc.strerror)
            return None
        self._seen = stamp
        try:
            check_files(*self.paths[:2], self.paths[2] if len(self.paths) == 3 else None)
        except ConfigError as exc:  # gRPC would keep the one in use anyway: say so, and keep its end on the metric
            log.error("TLS files changed but cannot be served (%s): keeping the certificate in use", exc)
            return None
        log.info("TLS files changed: handing their certificate to gRPC for new connections")
        self._check_dates()
        return configuration


def certificate_dates(cert: Path) -> tuple[float | None, float | None]:
    """The first certificate's notBefore and notAfter (Unix time) in a PEM file; (None, None) when
    they cannot be read (the file is checked on its own by `check_files`)."""
    try:
        decoded = ssl._ssl._test_decode_cert(str(cert))  # the stdlib's reader, without a third-party parser
        return ssl.cert_time_to_seconds(decoded["notBefore"]), ssl.cert_time_to_seconds(decoded["notAfter"])
    except (AttributeError, KeyError, OSError, ValueError, ssl.SSLError):
        return None, None


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def check_files(key: Path, cert: Path, client_ca: Path | None) -> None:
    """Raise ConfigError naming the file and what is wrong with it: gRPC refuses a broken one
    only by failing to bind, which reads as an address in use."""
    def encrypted() -> bytes:  # OpenSSL would ask for the passphrase on the terminal
        raise ConfigError(f"--tls-key {key}: the key is encrypted (gRPC needs it unencrypted)")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # the file's form only: gRPC serves what the host's policy refuses
    for flag, path in (("--tls-cert", cert), ("--tls-client-ca", client_ca)):
        if path is not None:
            try:
                context.load_verify_locations(cafile=path)  # parses every certificate in the file
            except ssl.SSLError:
                raise ConfigError(f"{flag} {path}: not a PEM certificate (or a damaged one)") from None
    try:
        context.load_cert_chain(cert, key, password=encrypted)
    except ssl.SSLError as exc:
        if exc.reason in ("KEY_VALUES_MISMATCH", "KEY_TYPE_MISMATCH", "NO_CERTIFICATE_ASSIGNED"):
            raise ConfigError(f"--tls-key {key}: not the private key of --tls-cert {cert}") from None
        raise ConfigError(f"--tls-key {key}: not a PEM private key (or a damaged one: {exc.reason})") from None
