"""A renderer and a signatory for the fast unit tests that are not about documents (as keycloak/fake.py is a
gateway): a document is its facts in a PDF-shaped file; a signature is a line appended to it naming the field, the
signer and the hash of the bytes before it, which `verify` reads back, so a changed byte still fails. The tests of
the documents themselves use WeasyPrint and the real local PKI."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date

from provisioning.domain.model import Caf, Convention, Partner
from provisioning.domain.paperwork import content_hash, facts
from provisioning.paperwork.pades import SignatureCheck, Verification
from provisioning.paperwork.render import Rendered, title

_MARK = re.compile(rb"\n%FAKE-SIGNATURE ([a-z]+) ([0-9a-f]{64}) (.*)\n")


class FakeSignatory:
    def sign(self, pdf: bytes, field: str, signer: str, organisation: str, reason: str) -> bytes:
        return pdf + f"\n%FAKE-SIGNATURE {field} {hashlib.sha256(pdf).hexdigest()} {signer}\n".encode()

    def verify(self, pdf: bytes) -> Verification:
        out = []
        for m in _MARK.finditer(pdf):
            intact = hashlib.sha256(pdf[:m.start()]).hexdigest() == m.group(2).decode()
            out.append(SignatureCheck(m.group(1).decode(), m.group(3).decode(), intact, intact, intact,
                                      m.end() == len(pdf)))
        return Verification(tuple(out), readable=pdf.startswith(b"%PDF-"))


def fake_render(kind: str, caf: Caf, partner: Partner, conv: Convention, version: int, today: date) -> Rendered:
    """What render.render says, without laying it out: the facts in a minimal PDF-shaped file."""
    data = facts(kind, caf, partner, conv)
    body = json.dumps({"version": version, "today": today.isoformat(), **data}, ensure_ascii=False, sort_keys=True)
    return Rendered(kind, title(kind), content_hash(data), f"%PDF-1.7\n% {body}\n%%EOF\n".encode())
