"""TLS credentials that follow their files: a renewed certificate (cert-manager rewriting a
Secret, a cron job running certbot) is served to the next connection without a restart.

gRPC asks the fetcher for a new configuration at each TLS handshake; the files are stat-ed then
and read again only when one of them changed. A file that cannot be read at that moment (a
renewal half written) keeps the configuration in use, and the next handshake tries again. At
start, a file that holds no certificate or key, an encrypted key, or a key that is not the
certificate's is refused by name.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import grpc

from .config import ConfigError

log = logging.getLogger(__name__)


class CertificateFiles:
    def __init__(self, key: Path, cert: Path, client_ca: Path | None):
        self.paths = (key, cert) + ((client_ca,) if client_ca is not None else ())
        self._seen = self._stamp()
        try:
            self._first = self._configuration()
        except OSError as exc:
            raise ConfigError(f"TLS files: cannot read {exc.filename} ({exc.strerror})") from None
        check_files(key, cert, client_ca)

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
        log.info("TLS files changed: handing their certificate to gRPC for new connections (it keeps the "
                 "one in use if the new key and certificate do not match)")
        return configuration


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
