"""An app-registration certificate, as an administrator would create and upload one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class AppCertificate:
    pem_path: Path  # private key + certificate: what AZURE_CLIENT_CERTIFICATE points at
    certificate: x509.Certificate  # the public part uploaded to the app registration
    password: str | None


def make_app_certificate(
    directory: Path, *, password: str | None = None, name: str = "hunt-bot"
) -> AppCertificate:
    """A self-signed RSA certificate (Entra's client assertions are RSA-signed)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    pem_path = directory / (f"{name}-encrypted.pem" if password else f"{name}.pem")
    pem_path.write_bytes(key_pem + certificate.public_bytes(serialization.Encoding.PEM))
    return AppCertificate(pem_path=pem_path, certificate=certificate, password=password)
