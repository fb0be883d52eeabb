"""Domain logic of the CRM, free of HTTP: intake, dedupe, merge, consent, audit."""
