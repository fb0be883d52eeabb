"""Inbound webhooks: verified on the raw body before anything is parsed or stored."""
