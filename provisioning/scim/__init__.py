"""SCIM 2.0 (RFC 7643/7644) over the registry, for the Caf's other services (issue 16). The protocol —
routing, filters, sorting, paging, ETags and preconditions, errors, discovery — is scim2-server's, on
scim2-models' resources and filter evaluator; here are only what our resources are (resources.py), where they
come from and who may see which (storage.py), and who is calling (app.py). Read-only: writes stay with the
API, whose rules (caps, ownership, R12 hierarchy, audit, R9) SCIM would otherwise have to repeat."""
