# CPRO Connect as a container image: `idp serve` on port 8000, settings from the
# environment (docs/deployment.md). Not built in CI, which has no container engine: it
# follows the README's install steps and is kept as simple as they are.
#   docker build -t cpro-connect .
#   docker run --env-file /etc/cpro-connect/env -p 8000:8000 cpro-connect
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/cpro-connect-metrics
RUN useradd --system --home-dir /app --shell /usr/sbin/nologin cpro-connect
WORKDIR /app
COPY pyproject.toml README.md ./
COPY idp ./idp
COPY templates ./templates
# The catalogues are compiled before the package is built: the wheel carries the .mo files.
RUN pip install --no-cache-dir babel \
    && pybabel compile --use-fuzzy -d idp/locale -D messages \
    && pip install --no-cache-dir '.[postgres]'
WORKDIR /srv
USER cpro-connect
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
# Migrations are a step of their own: docker run … cpro-connect idp db upgrade
CMD ["idp", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
