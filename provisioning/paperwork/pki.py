"""A local test PKI for the demo and the tests (issue 31 §3): a root CA, a timestamp authority, and a signing
certificate issued to each signer when she signs — made once in a directory (keys readable by their owner only).
Production plugs a qualified provider or an HSM behind the same three methods (docs/paperwork.md); nothing here
is meant for it (`MCP_ENV=production` refuses it)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as akeys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORG = "Mon Compte Partenaire — PKI de test"


def _name(cn: str, org: str = ORG) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _cert(subject: x509.Name, key, issuer: x509.Name, issuer_key, *, ca: bool = False,
          eku: list | None = None, days: int = 3650) -> x509.Certificate:
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(_now() - datetime.timedelta(minutes=5))
         .not_valid_after(_now() + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


def asn1_cert(c: x509.Certificate) -> ax509.Certificate:
    return ax509.Certificate.load(c.public_bytes(serialization.Encoding.DER))


def asn1_key(k) -> akeys.PrivateKeyInfo:
    return akeys.PrivateKeyInfo.load(k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))


@dataclass(frozen=True)
class Credential:
    cert: x509.Certificate
    key: object


class LocalPki:
    """The CA and the timestamp authority kept in `directory` (made at first use); signers issued on demand."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.ca = self._load_or_make("ca", lambda: ec.generate_private_key(ec.SECP256R1()), None)
        # pyHanko's local timestamper signs with RSA only
        self.tsa = self._load_or_make("tsa", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                      [ExtendedKeyUsageOID.TIME_STAMPING])

    def _load_or_make(self, name: str, new_key, eku) -> Credential:
        cert_file, key_file = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        if cert_file.exists() and key_file.exists():
            return Credential(x509.load_pem_x509_certificate(cert_file.read_bytes()),
                              serialization.load_pem_private_key(key_file.read_bytes(), password=None))
        self.dir.mkdir(parents=True, exist_ok=True)
        key = new_key()
        if name == "ca":
            cert = _cert(_name("AC racine de test"), key, _name("AC racine de test"), key, ca=True)
        else:
            cert = _cert(_name("Horodatage de test"), key, self.ca.cert.subject, self.ca.key, eku=eku)
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_file.chmod(0o600)
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return Credential(cert, key)

    def signer(self, display_name: str, organisation: str) -> Credential:
        """A one-year signing certificate in the signer's name and organisation (a qualified provider would
        check her identity first; here her account's level-2 login stands for it)."""
        key = ec.generate_private_key(ec.SECP256R1())
        return Credential(_cert(_name(display_name, organisation), key, self.ca.cert.subject, self.ca.key, days=365),
                          key)

    def roots(self) -> list[ax509.Certificate]:
        return [asn1_cert(self.ca.cert)]
