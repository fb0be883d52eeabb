"""Voice: the realtime bridge process (voice/bridge/) between a voice provider's live call and the CRM."""
