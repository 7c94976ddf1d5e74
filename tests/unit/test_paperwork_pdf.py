"""Issue 31 §2–4, the adapters alone: a convention's document rendered as tagged PDF/A from the registry, signed
by both parties (PAdES, local test PKI, timestamped), verified by anyone with the file; one changed byte fails."""

from __future__ import annotations

from datetime import date

from provisioning.paperwork import pades, pki, render
from tests.unit.factories import registry


def test_two_signatures_timestamped_verify_and_a_changed_byte_fails(tmp_path):
    reg = registry()
    p = reg.partners[0]
    caf, conv = reg.caf(p.caf), p.conventions[0]
    doc = render.render("convention", caf, p, conv, 1, date(2026, 12, 5))
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    root = PdfFileReader(io.BytesIO(doc.pdf)).root
    assert {"/StructTreeRoot", "/MarkInfo", "/OutputIntents", "/Lang"} <= set(root.keys())  # tagged PDF/A, French
    local = pki.LocalPki(tmp_path / "pki")
    once = pades.sign(doc.pdf, local, local.signer("Jeanne Dupont", p.name), "partenaire", "Signature", "Jeanne Dupont")
    assert not pades.verify(doc.pdf, local.roots()).ok  # unsigned
    twice = pades.sign(once, local, local.signer("Claire Fontaine", caf.name), "caf", "Contreseing", "Claire Fontaine")
    v = pades.verify(twice, local.roots())
    assert v.ok and [s.signer for s in v.signatures] == ["Jeanne Dupont", "Claire Fontaine"]
    bad = bytearray(twice)
    bad[len(bad) // 3] ^= 0x20
    assert not pades.verify(bytes(bad), local.roots()).ok
    assert render.render("convention", caf, p, conv, 2, date(2026, 12, 6)).content_sha256 == doc.content_sha256
