"""German for the call recording proxy (crm.ui.recordings, templates/ui/leads/recording_unavailable.html)."""

DE = {
    "The recording is not available right now": "Die Aufnahme ist gerade nicht verfügbar",
    "The call provider did not answer in time.": "Der Telefonie-Anbieter hat nicht rechtzeitig geantwortet.",
    "The call provider could not deliver the recording.": "Der Telefonie-Anbieter konnte die Aufnahme nicht liefern.",
    "Please try again in a few minutes.": "Bitte versuchen Sie es in ein paar Minuten erneut.",
}
