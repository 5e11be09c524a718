"""A self-signed certificate for 127.0.0.1, made with openssl, for TLS tests on loopback."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(openssl: str, directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, valid one day."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
