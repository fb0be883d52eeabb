"""One interface for Retell, Vapi and Bland (pipecat's one-package-per-vendor shape)."""
