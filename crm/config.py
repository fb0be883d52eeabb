"""One Config object, read from the environment (secrets come from crm.secrets, never from here)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def var_dir() -> Path:
    """Local state of the stack (SQLite file, Temporal dev db, local secrets): LEADCHAIN_VAR_DIR or ./var."""
    return Path(_env("LEADCHAIN_VAR_DIR", str(PROJECT_ROOT / "var")))


def default_database_url() -> str:
    return f"sqlite:///{var_dir() / 'leadchain.db'}"


def normalise_database_url(url: str) -> str:
    # Operators paste libpq-style URLs; SQLAlchemy needs the driver named to pick psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@dataclass
class Config:
    """Settings that are not secret. Every field has an environment variable (see README)."""

    database_url: str = field(
        default_factory=lambda: normalise_database_url(_env("DATABASE_URL", default_database_url()))
    )
    default_phone_region: str = field(default_factory=lambda: _env("LEADCHAIN_DEFAULT_REGION", "DE"))
    max_request_bytes: int = field(
        default_factory=lambda: int(_env("LEADCHAIN_MAX_REQUEST_BYTES", str(10 * 1024 * 1024)))
    )
    max_webhook_bytes: int = field(default_factory=lambda: int(_env("LEADCHAIN_MAX_WEBHOOK_BYTES", str(256 * 1024))))
    max_batch_leads: int = field(default_factory=lambda: int(_env("LEADCHAIN_MAX_BATCH", "500")))
    webhook_tolerance_s: int = 300
    delivery_retention_days: int = field(default_factory=lambda: int(_env("LEADCHAIN_DELIVERY_RETENTION_DAYS", "30")))
    fuzzy_threshold: float = field(default_factory=lambda: float(_env("LEADCHAIN_FUZZY_THRESHOLD", "90")))
    temporal_address: str = field(default_factory=lambda: _env("TEMPORAL_ADDRESS", "localhost:7233"))
    temporal_namespace: str = field(default_factory=lambda: _env("TEMPORAL_NAMESPACE", "default"))

    def flask_mapping(self) -> dict:
        return {
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "MAX_CONTENT_LENGTH": self.max_request_bytes,
            "LEADCHAIN": self,
        }
