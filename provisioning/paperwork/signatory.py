"""Who signs (issue 31 §3): the one door the use cases sign and verify through. The demo and the tests sign with a
local test PKI made at first use (`LocalPkiSignatory`); production plugs a qualified trust service or an HSM behind
the same two methods (docs/paperwork.md), and never the local one: `MCP_ENV=production` without a provider gets a
clear refusal, not a test certificate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from provisioning.errors import ProvisioningError

if TYPE_CHECKING:  # pyHanko is imported when something is signed or checked, not by every process at start
    from provisioning.paperwork.pades import Verification


class Signatory(Protocol):
    def sign(self, pdf: bytes, field: str, signer: str, organisation: str, reason: str) -> bytes:
        """The PDF with one more PAdES signature in `field`, in the signer's name, timestamped."""

    def verify(self, pdf: bytes) -> Verification:
        """Every signature checked against this signatory's trusted roots, with the PDF alone."""


class LocalPkiSignatory:
    def __init__(self, directory: Path):
        from provisioning.paperwork.pki import LocalPki
        self.pki = LocalPki(directory)

    def sign(self, pdf: bytes, field: str, signer: str, organisation: str, reason: str) -> bytes:
        from provisioning.paperwork import pades
        return pades.sign(pdf, self.pki, self.pki.signer(signer, organisation), field, reason, signer)

    def verify(self, pdf: bytes) -> Verification:
        from provisioning.paperwork import pades
        return pades.verify(pdf, self.pki.roots())


class NoSignatory:
    """Production before a trust service is plugged in: signing and checking are refused, said as such."""

    @staticmethod
    def _refused() -> ProvisioningError:
        return ProvisioningError("SIGNATURE_NON_CONFIGUREE", "La signature électronique n'est pas configurée sur "
                                 "cette installation (prestataire de confiance ou HSM : docs/paperwork.md).", 503)

    def sign(self, pdf: bytes, field: str, signer: str, organisation: str, reason: str) -> bytes:
        raise self._refused()

    def verify(self, pdf: bytes) -> Verification:
        raise self._refused()


def from_settings() -> Signatory:
    from provisioning import settings
    s = settings.read()
    if s.env == "production":
        return NoSignatory()
    return LocalPkiSignatory(Path(s.signature_pki_dir or Path(s.state_dir) / "pki"))
