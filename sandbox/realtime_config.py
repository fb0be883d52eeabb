"""The Realtime stand-in's session configuration (GA, docs/providers.md §5.2): the default a connection starts
with (sent in `session.created`), and `session.update` checked as the API checks it: a beta field (flat
`input_audio_format`, `modalities`, `voice`), an unknown field, a value outside its set or range, or a
missing `session.type` is an `error` event naming the parameter, and nothing of that update is applied."""

from __future__ import annotations

import copy
import time
from typing import Any

FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
TURN_DETECTION = ("server_vad", "semantic_vad")
_TOP = {
    "type",
    "model",
    "instructions",
    "output_modalities",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "tracing",
    "truncation",
    "prompt",
    "include",
    "reasoning",
    "parallel_tool_calls",
}
_AUDIO = {"input", "output"}
_INPUT = {"format", "noise_reduction", "transcription", "turn_detection"}
_OUTPUT = {"format", "voice", "speed"}
_VAD = {
    "server_vad": {
        "type",
        "threshold",
        "prefix_padding_ms",
        "silence_duration_ms",
        "create_response",
        "interrupt_response",
        "idle_timeout_ms",
    },
    "semantic_vad": {"type", "eagerness", "create_response", "interrupt_response"},
}
SERVER_VAD_DEFAULTS = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}


class SessionError(Exception):
    def __init__(self, code: str, message: str, param: str | None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def default_session(session_id: str, model: str) -> dict[str, Any]:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "prompt": None,
        "truncation": "auto",
        "expires_at": int(time.time()) + 3600,
        "include": None,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
        },
    }


def _supported(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def _unknown(body: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in body:
        if key not in allowed:
            raise SessionError("unknown_parameter", f"Unknown parameter: '{path}.{key}'.", f"{path}.{key}")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SessionError(
            "invalid_type",
            f"Invalid type for '{path}': expected an object, but got {type(value).__name__} instead.",
            path,
        )
    return value


def _choice(value: Any, allowed: tuple[str, ...], path: str) -> None:
    if value not in allowed:
        raise SessionError(
            "invalid_value", f"Invalid value: '{value}'. Supported values are: {_supported(allowed)}.", path
        )


def _number(value: Any, path: str, low: float, high: float | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SessionError(
            "invalid_type", f"Invalid type for '{path}': expected a number, but got {type(value).__name__}.", path
        )
    if value < low or (high is not None and value > high):
        bound = f">= {low:g}" if value < low else f"<= {high:g}"
        raise SessionError("invalid_value", f"Invalid '{path}': expected a value {bound}, but got {value}.", path)


def _check_format(value: Any, path: str) -> None:
    fmt = _object(value, path)
    _unknown(fmt, {"type", "rate"}, path)
    _choice(fmt.get("type"), FORMATS, f"{path}.type")
    if fmt["type"] == "audio/pcm" and fmt.get("rate", 24000) != 24000:
        raise SessionError("invalid_value", f"Invalid value: '{fmt['rate']}'. Supported values are: '24000'.", path)


def _check_turn_detection(value: Any, path: str) -> None:
    if value is None:
        return
    td = _object(value, path)
    _choice(td.get("type"), TURN_DETECTION, f"{path}.type")
    _unknown(td, _VAD[td["type"]], path)
    if "threshold" in td:
        _number(td["threshold"], f"{path}.threshold", 0.0, 1.0)
    for name in ("prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"):
        if td.get(name) is not None:
            _number(td[name], f"{path}.{name}", 0, None)


def _check_audio(audio: dict[str, Any], voiced: bool, current: dict[str, Any]) -> None:
    _unknown(audio, _AUDIO, "session.audio")
    input_ = _object(audio.get("input", {}), "session.audio.input")
    _unknown(input_, _INPUT, "session.audio.input")
    if "format" in input_:
        _check_format(input_["format"], "session.audio.input.format")
    if "turn_detection" in input_:
        _check_turn_detection(input_["turn_detection"], "session.audio.input.turn_detection")
    output = _object(audio.get("output", {}), "session.audio.output")
    _unknown(output, _OUTPUT, "session.audio.output")
    if "format" in output:
        _check_format(output["format"], "session.audio.output.format")
    if "voice" in output and not isinstance(output["voice"], dict):
        _choice(output["voice"], VOICES, "session.audio.output.voice")
        if voiced and output["voice"] != current["audio"]["output"]["voice"]:
            raise SessionError(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
                "session.audio.output.voice",
            )
    if "speed" in output:
        _number(output["speed"], "session.audio.output.speed", 0.25, 1.5)


def _check_tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise SessionError("invalid_type", "Invalid type for 'session.tools': expected an array.", "session.tools")
    for i, tool in enumerate(tools):
        path = f"session.tools[{i}]"
        _choice(_object(tool, path).get("type"), ("function", "mcp"), f"{path}.type")
        if tool["type"] == "function":
            _unknown(tool, {"type", "name", "description", "parameters"}, path)
            if not isinstance(tool.get("name"), str) or not tool["name"]:
                raise SessionError(
                    "missing_required_parameter", f"Missing required parameter: '{path}.name'.", f"{path}.name"
                )


def apply_update(current: dict[str, Any], update: Any, *, voiced: bool) -> dict[str, Any]:
    """`current` with `update` (the `session` of a session.update) applied, or SessionError."""
    if update is None:
        raise SessionError("missing_required_parameter", "Missing required parameter: 'session'.", "session")
    session = _object(update, "session")
    if "type" not in session:
        raise SessionError("missing_required_parameter", "Missing required parameter: 'session.type'.", "session.type")
    _choice(session["type"], ("realtime",), "session.type")  # the stand-in serves realtime sessions only
    _unknown(session, _TOP, "session")
    if "audio" in session:
        _check_audio(_object(session["audio"], "session.audio"), voiced, current)
    if "tools" in session:
        _check_tools(session["tools"])
    if "output_modalities" in session:
        modalities = session["output_modalities"]
        if not isinstance(modalities, list) or len(modalities) != 1:
            raise SessionError(
                "invalid_value",
                "Invalid value: output_modalities takes ['audio'] or ['text'].",
                "session.output_modalities",
            )
        _choice(modalities[0], ("audio", "text"), "session.output_modalities[0]")
    merged = copy.deepcopy(current)
    for key, value in session.items():
        if key == "audio":
            for side, fields in value.items():
                merged["audio"][side].update(copy.deepcopy(fields))
        else:
            merged[key] = copy.deepcopy(value)
    detection = merged["audio"]["input"].get("turn_detection")
    if isinstance(detection, dict) and detection.get("type") == "server_vad":
        merged["audio"]["input"]["turn_detection"] = {**SERVER_VAD_DEFAULTS, **detection}
    return merged
