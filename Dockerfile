# syntax=docker/dockerfile:1
# leadchain: one image for web (gunicorn), migrate and every worker (see docker-compose.yml).

# ---- build: install the package and its dependencies into a venv --------------------------------
FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY . .
RUN pip install --no-cache-dir --upgrade pip setuptools wheel \
 && pip install --no-cache-dir . \
 && cd / && python -m crm.catalogs
# (compiled from / so that the installed package's crm/locales get the .mo files, not /src's)

# ---- runtime -------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

# WeasyPrint (PDF reports) needs Pango and a font; harfbuzz-subset makes embedded fonts small.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 \
      libpangoft2-1.0-0 \
      libharfbuzz-subset0 \
      fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 leadchain \
 && useradd --system --uid 10001 --gid leadchain --create-home --home-dir /home/leadchain \
      --shell /usr/sbin/nologin leadchain

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    LEADCHAIN_VAR_DIR=/app/var

# The package runs from site-packages; /app holds only the writable var directory.
WORKDIR /app
RUN mkdir -p /app/var && chown leadchain:leadchain /app/var

USER 10001:10001

EXPOSE 8000 8081

# Exec form: gunicorn gets SIGTERM directly and shuts its workers down gracefully.
# --timeout 30 as in docker-compose.yml: above every bounded dependency wait (README "Configuration").
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "30", "crm.wsgi:app"]
