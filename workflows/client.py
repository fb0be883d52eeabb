"""One way to connect to Temporal, shared by the web, the workers and the CLI."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter


async def connect(address: str, namespace: str = "default") -> Client:
    # The pydantic converter round-trips dataclasses with aware datetimes into workflow code.
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
