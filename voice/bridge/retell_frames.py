"""The frames the bridge sends on a Retell Custom LLM WebSocket (docs/providers.md §1.8), as typed dicts.

Only what we send is typed this way: what Retell sends is untrusted JSON, read field by field with checks.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class ConfigFlags(TypedDict):
    auto_reconnect: bool
    call_details: bool
    transcript_with_tool_calls: bool


class ConfigFrame(TypedDict):
    response_type: Literal["config"]
    config: ConfigFlags


class PingPongFrame(TypedDict):
    response_type: Literal["ping_pong"]
    timestamp: object  # echoed as Retell sent it


class ResponseFrame(TypedDict):
    response_type: Literal["response"]
    response_id: int
    content: str
    content_complete: bool
    end_call: NotRequired[bool]
    transfer_number: NotRequired[str]


class ToolCallInvocationFrame(TypedDict):
    response_type: Literal["tool_call_invocation"]
    tool_call_id: str
    name: str
    arguments: str  # JSON text, as Retell shows it in the transcript


class ToolCallResultFrame(TypedDict):
    response_type: Literal["tool_call_result"]
    tool_call_id: str
    content: str
    successful: bool


class AgentInterruptFrame(TypedDict):
    response_type: Literal["agent_interrupt"]
    interrupt_id: int
    content: str
    content_complete: bool
    no_interruption_allowed: bool


# Frames streamed within one turn (each checked against the turn's response_id before it goes out).
TurnFrame = ResponseFrame | ToolCallInvocationFrame | ToolCallResultFrame
Frame = ConfigFrame | PingPongFrame | TurnFrame | AgentInterruptFrame
