# The provisioning API, the three applications, the worker and the daily job: one image, one process each.
FROM python:3.11-slim
WORKDIR /srv/mcp
COPY pyproject.toml README.md ./
COPY provisioning provisioning
COPY sso_demo sso_demo
COPY devstack devstack
COPY examples examples
COPY realm-config realm-config
RUN pip install --no-cache-dir '.[postgres]'
USER nobody
