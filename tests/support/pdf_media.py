"""Schemathesis generates no body for a media type it does not know: issue 31's check of a PDF
(`POST /api/v1/documents/verification`, application/pdf) gets anything, a truncated PDF, one whose
cross-references lie. Imported by the API's contract and fuzz tests."""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.media_type("application/pdf", st.one_of(
    st.binary(max_size=200), st.just(b"%PDF-1.7\n%%EOF"),
    st.just(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 9 0 R >>\n%%EOF")))
