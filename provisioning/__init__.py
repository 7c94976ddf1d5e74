"""Provisioning: the Caf's convention registry, its habilitation rules, and the reconciler into Keycloak."""
