"""The REST API for lead sources and integrations (/api/v1)."""
