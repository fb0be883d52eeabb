"""The model's function calls of one Realtime call, each run in a task (voice.bridge.twilio_media,
docs/audio-agent.md): the CRM tool runs in voice.bridge.realtime_tools (worker threads), and its result
goes back as ``function_call_output`` to the model socket that asked, or, when that socket was lost
meanwhile, to its successor as a system message. What happens next (a response, a hang-up, a transfer)
is the session's: it is handed the outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from voice.bridge.openai_realtime import function_output_item, user_text_item
from voice.bridge.realtime_model_socket import ModelSocket
from voice.bridge.realtime_response_gate import ResponseGate
from voice.bridge.realtime_tools import RealtimeToolbox, ToolOutcome
from voice.bridge.twilio_frames import dumps

log = logging.getLogger(__name__)


class ToolCalls:
    def __init__(
        self,
        gate: ResponseGate,
        model: ModelSocket,
        label: Callable[[], str],
        settled: Callable[[ToolOutcome], Awaitable[None]],
    ) -> None:
        self.gate = gate  # counts the calls running
        self.model = model
        self._label = label  # the stream sid, for logs
        self._settled = settled  # the outcome, once the model has the result
        self.tasks: set[asyncio.Task[Any]] = set()

    def start(self, toolbox: RealtimeToolbox | None, call_id: Any, name: Any, arguments: Any) -> None:
        """Run a new call of a named tool (a repeated call id is ignored)."""
        if self.gate.tool_call(call_id, name):
            task = asyncio.ensure_future(
                self._run(toolbox, call_id, name, arguments if isinstance(arguments, str) else None)
            )
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, toolbox: RealtimeToolbox | None, call_id: str, name: str, arguments: str | None) -> None:
        generation = self.model.generation
        assert toolbox is not None
        try:
            outcome = await toolbox.run(call_id, name, arguments)
        except Exception as e:  # noqa: BLE001 - the toolbox reports failures itself; this is a bug
            log.exception("twilio stream %s: tool %s raised", self._label(), name)
            outcome = ToolOutcome(dumps({"error": type(e).__name__}))
        finally:
            self.gate.tools_running -= 1
        log.info("twilio stream %s: tool %s done (%s)", self._label(), name, outcome.action or "answer")
        if generation == self.model.generation:
            await self.model.send(function_output_item(call_id, outcome.output))
        else:
            # The session that asked is gone; the new one learns the result as a message.
            await self.model.send(user_text_item(f"[system: result of {name}: {outcome.output}]"))
        await self._settled(outcome)
