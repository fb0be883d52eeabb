"""The realtime voice bridge: the brain a voice provider talks to turn by turn during a live call.

* ``timeprefs``: how a callee states availability (DE/EN) → one ``TimeConstraint`` → concrete slots.
* ``booking``: free slots of the lead's owner (or the team) in the CRM, booking once per call and slot.
* ``dialog``: the turn policy (rules by default, an OpenAI-compatible LLM when configured).
* ``retell`` / ``vapi``: the provider protocols; ``server``: the worker process that serves them.
"""
