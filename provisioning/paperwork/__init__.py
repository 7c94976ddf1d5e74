"""Issue 31 §2–4: the convention's documents as PDF/A, signed electronically by both parties (PAdES), and checked
by anyone with the file. `render` makes the documents from the registry, `pki` is the local test PKI (a CA, a
timestamp authority) the demo and the tests sign with, `pades` signs and verifies, `signatory` is the door the use
cases go through, `fake` stands in for rendering and signing in the unit tests not about them. The domain decides
nothing here: these are adapters (WeasyPrint, pyHanko, cryptography)."""
