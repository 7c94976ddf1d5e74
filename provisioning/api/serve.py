"""`python -m provisioning.api.serve`: run the API with the configured adapters."""

from provisioning.api import serve

serve()
