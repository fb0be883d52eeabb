"""Inbound calls (issue 17): which company a call to one of its numbers rings at (numbers), who is calling
(recognition: the CallerContext the agent and the voice bridge read), and an unknown caller's new lead
(unknown). The provider webhooks (crm/webhooks/*_inbound.py) answer with it; nothing here calls Temporal."""
