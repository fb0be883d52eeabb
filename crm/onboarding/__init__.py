"""The setup wizard's back end (issue 20, docs/onboarding.md): provisioning a company's voice agent and phone
number at its provider, recorded so that a retry resumes and an undo leaves nothing behind."""
