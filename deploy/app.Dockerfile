# The provisioning API, the three applications, the worker and the daily job: one image, one process each.
FROM python:3.11-slim
WORKDIR /srv/mcp
# WeasyPrint (the conventions' documents, issue 31) lays out text with Pango and HarfBuzz
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
      libharfbuzz-subset0 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY provisioning provisioning
COPY sso_demo sso_demo
COPY devstack devstack
COPY examples examples
COPY realm-config realm-config
RUN pip install --no-cache-dir '.[postgres]'
USER nobody
