"""Provisioning: the Caf's convention registry, its habilitation rules, and the reconciler into Keycloak."""

from provisioning.domain import catalogue as _catalogue


def _configured_catalogue() -> _catalogue.Catalogue:
    from provisioning.catalogue_file import configured
    return configured()


# the service catalogue a process reads unless its composition root installs another (issue 28)
_catalogue.set_loader(_configured_catalogue)
