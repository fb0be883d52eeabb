"""The turn policy: what the agent says next and what it does in the CRM. Stateless per turn: everything
it needs is rebuilt from the transcript and the CRM, so a reconnect or another bridge continues the call."""
