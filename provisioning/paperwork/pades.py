"""PAdES signatures (pyHanko): a signature field per party, covering the whole file as it stands, with a
timestamp; and the check anyone can make with the PDF alone — every signature intact, valid, from the trusted
root, timestamped, and the last one covering the whole file (a byte changed after it is a failure)."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from provisioning.paperwork.pki import Credential, LocalPki, asn1_cert, asn1_key


@dataclass(frozen=True)
class SignatureCheck:
    field: str
    signer: str          # the certificate's common name
    intact: bool         # the bytes it covers are those signed
    trusted: bool        # valid, and chains to the trusted root
    timestamped: bool    # a valid timestamp token
    whole_file: bool     # covers the file to its last byte


@dataclass(frozen=True)
class Verification:
    signatures: tuple[SignatureCheck, ...]
    readable: bool = True

    @property
    def ok(self) -> bool:
        return self.readable and bool(self.signatures) and all(
            s.intact and s.trusted and s.timestamped for s in self.signatures) and self.signatures[-1].whole_file

    def fields(self) -> set[str]:
        return {s.field for s in self.signatures if s.intact and s.trusted and s.timestamped}


def _outside_any_event_loop(work):
    """pyHanko's synchronous calls run asyncio themselves: from a thread that already runs an event loop (an
    async server, Playwright's sync API in the tests) they would fail, so they run in a thread of their own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def sign(pdf: bytes, pki: LocalPki, who: Credential, field: str, reason: str, name: str) -> bytes:
    return _outside_any_event_loop(lambda: _sign(pdf, pki, who, field, reason, name))


def verify(pdf: bytes, roots) -> Verification:
    return _outside_any_event_loop(lambda: _verify(pdf, roots))


def _sign(pdf: bytes, pki: LocalPki, who: Credential, field: str, reason: str, name: str) -> bytes:
    signer = signers.SimpleSigner(signing_cert=asn1_cert(who.cert), signing_key=asn1_key(who.key),
                                  cert_registry=SimpleCertificateStore.from_certs(pki.roots()))
    stamper = DummyTimeStamper(tsa_cert=asn1_cert(pki.tsa.cert), tsa_key=asn1_key(pki.tsa.key),
                               certs_to_embed=SimpleCertificateStore.from_certs(pki.roots()))
    meta = signers.PdfSignatureMetadata(field_name=field, subfilter=fields.SigSeedSubFilter.PADES, reason=reason,
                                        name=name, location="France")
    out = signers.PdfSigner(meta, signer=signer, timestamper=stamper).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)))
    return out.getvalue()


def _verify(pdf: bytes, roots) -> Verification:
    """Whatever the bytes are, an answer: a file pyHanko cannot read, or a signature it cannot evaluate (a changed
    byte may break the compressed streams before any hash is compared), is « not valid », said as such."""
    try:
        embedded = list(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures)
    except Exception:  # noqa: BLE001 — any unreadable file is « not a valid signed document »
        return Verification((), readable=False)
    out = []
    for s in embedded:
        try:
            st = validate_pdf_signature(s, ValidationContext(trust_roots=roots, allow_fetching=False,
                                                             revocation_mode="soft-fail"))
            ts = st.timestamp_validity
            out.append(SignatureCheck(
                s.field_name, st.signing_cert.subject.native.get("common_name", "?"), bool(st.intact),
                bool(st.valid and st.trusted), bool(ts and ts.valid and ts.intact and ts.trusted),
                st.coverage == SignatureCoverageLevel.ENTIRE_FILE))
        except Exception:  # noqa: BLE001 — as above: an unverifiable signature is an invalid one
            out.append(SignatureCheck(getattr(s, "field_name", None) or "?", "?", False, False, False, False))
    return Verification(tuple(out))
