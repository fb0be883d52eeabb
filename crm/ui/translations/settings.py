"""German for the settings pages (crm.ui.settings, templates/ui/settings/)."""
DE = {
    "Users and roles": "Benutzer und Rollen",
    "Scoring": "Bewertung",
    "Calling hours": "Anrufzeiten",
    "Campaigns": "Kampagnen",
    "Providers": "Anbieter",
    "Name": "Name",
    "Role": "Rolle",
    "Status": "Status",
    "sales": "Vertrieb",
    "manager": "Manager",
    "admin": "Admin",
    "Role of %(name)s": "Rolle von %(name)s",
    "button\x04Change": "Ändern",
    "active": "aktiv",
    "deactivated": "deaktiviert",
    "paused": "pausiert",
    "Deactivate": "Deaktivieren",
    "Activate": "Aktivieren",
    "Deactivate %(name)s? Their sessions end at once.": "%(name)s deaktivieren? Alle Sitzungen enden sofort.",
    "New password for %(name)s": "Neues Passwort für %(name)s",
    "Set": "Setzen",
    "New user": "Neuer Benutzer",
    "Initial password": "Erstes Passwort",
    "Create user": "Benutzer anlegen",
    "Please enter a valid email address.": "Bitte geben Sie eine gültige E-Mail-Adresse ein.",
    "A user with this email exists already.": "Es gibt bereits einen Benutzer mit dieser E-Mail-Adresse.",
    "Please enter a name.": "Bitte geben Sie einen Namen ein.",
    "Please choose a role.": "Bitte wählen Sie eine Rolle.",
    "User %(name)s created.": "Benutzer %(name)s angelegt.",
    "The last active admin cannot lose the admin role.": "Der letzte aktive Admin kann die Admin-Rolle nicht verlieren.",
    "Role of %(name)s changed.": "Rolle von %(name)s geändert.",
    "You cannot deactivate yourself.": "Sie können sich nicht selbst deaktivieren.",
    "The last active admin cannot be deactivated.": "Der letzte aktive Admin kann nicht deaktiviert werden.",
    "%(name)s is active again.": "%(name)s ist wieder aktiv.",
    "%(name)s is deactivated and signed out.": "%(name)s ist deaktiviert und abgemeldet.",
    "New password for %(name)s set; their sessions were ended.":
        "Neues Passwort für %(name)s gesetzt; die Sitzungen wurden beendet.",
    # scoring
    "The chain reads the rules and the gate threshold from the CRM database at every score and gate check, so a change here applies to every chain from its next step. Raise the rules' version whenever you change a number: every stored score records the version that made it.":
        "Die Kette liest die Regeln und die Schwelle bei jeder Bewertung und jeder Anrufprüfung aus der "
        "CRM-Datenbank; eine Änderung hier gilt also für jede Kette ab ihrem nächsten Schritt. Erhöhen Sie die "
        "Version der Regeln bei jeder geänderten Zahl: Jede gespeicherte Bewertung hält die Version fest, die "
        "sie ergeben hat.",
    "Not saved.": "Nicht gespeichert.",
    "Set by %(who)s on %(when)s.": "Gesetzt von %(who)s am %(when)s.",
    "Default: the chain's own threshold (%(value)d unless the chain was started with another).":
        "Voreinstellung: die Schwelle der Kette selbst (%(value)d, sofern die Kette nicht mit einer anderen "
        "gestartet wurde).",
    "Reset the gate threshold to the default?": "Schwelle für Anrufe auf die Voreinstellung zurücksetzen?",
    "Reset to default": "Auf Voreinstellung zurücksetzen",
    "Scoring rules": "Bewertungsregeln",
    "The rules in force cannot be used:": "Die geltenden Regeln sind nicht verwendbar:",
    "stored in the CRM by %(who)s on %(when)s": "im CRM gespeichert von %(who)s am %(when)s",
    "from the file in %(env)s": "aus der Datei in %(env)s",
    "Scoring rules (YAML)": "Bewertungsregeln (YAML)",
    "The format of crm/scoring_rules.yaml: points are whole numbers from -100 to 100, unknown keys are refused.":
        "Das Format von crm/scoring_rules.yaml: Punkte sind ganze Zahlen von -100 bis 100, unbekannte "
        "Schlüssel werden abgelehnt.",
    "Reset the scoring rules to the rules file?": "Bewertungsregeln auf die Regeldatei zurücksetzen?",
    "Scoring rules %(version)s saved; the chain uses them from its next score.":
        "Bewertungsregeln %(version)s gespeichert; die Kette verwendet sie ab der nächsten Bewertung.",
    "Please enter a whole number from 0 to 100.": "Bitte geben Sie eine ganze Zahl von 0 bis 100 ein.",
    "Gate threshold %(value)d saved.": "Schwelle für Anrufe %(value)d gespeichert.",
    "Reset to the default.": "Auf die Voreinstellung zurückgesetzt.",
    "This already is the default.": "Das ist bereits die Voreinstellung.",
    "Rules version": "Regelversion",
    "shipped default": "mitgelieferte Voreinstellung",
    "Gate threshold": "Schwelle für Anrufe",
    "the chain calls a lead only with a score above this": "die Kette ruft einen Lead nur mit einer höheren Bewertung an",
    "Priority": "Priorität",
    "hot from %(hot)d, warm from %(warm)d": "heiß ab %(hot)d, warm ab %(warm)d",
    "Points by source": "Punkte nach Quelle",
    "Source": "Quelle",
    "Points": "Punkte",
    "other sources": "andere Quellen",
    "Other factors": "Weitere Faktoren",
    "Factor": "Faktor",
    "business email": "geschäftliche E-Mail",
    "freemail address": "Freemail-Adresse",
    "phone consent": "Einwilligung Telefon",
    "email consent": "Einwilligung E-Mail",
    "stated interest": "angegebenes Interesse",
    "call outcome": "Anrufergebnis",
    # calling hours
    "The compliance gate reads the calling hours from the CRM database at every check, so a change here applies to every chain from its next call decision. Times are local to the person called; a window runs from its start up to (not including) its end.":
        "Die Compliance-Prüfung liest die Anrufzeiten bei jeder Prüfung aus der CRM-Datenbank; eine Änderung "
        "hier gilt also für jede Kette ab ihrer nächsten Anrufentscheidung. Die Zeiten gelten in der Ortszeit "
        "der angerufenen Person; ein Zeitfenster reicht von seinem Beginn bis vor sein Ende.",
    "Calling windows by region": "Anrufzeiten nach Region",
    "Region: the ISO code of the phone number's country (DE, AT, US, ...). Days: e.g. mon-fri or mon,wed,fri (empty: Monday to Friday). Leave a row empty to remove its region; DE and US fall back to their built-in windows.":
        "Region: der ISO-Code des Landes der Telefonnummer (DE, AT, US, ...). Tage: z. B. mon-fri oder "
        "mon,wed,fri (englische Kürzel; leer: Montag bis Freitag). Eine leere Zeile entfernt ihre Region; "
        "DE und US fallen auf ihre eingebauten Zeiten zurück.",
    "Days": "Tage",
    "From": "Von",
    "Until": "Bis",
    "Stored in the CRM by %(who)s on %(when)s; without it the gate uses LEADCHAIN_CALLING_HOURS or the built-in windows.":
        "Im CRM gespeichert von %(who)s am %(when)s; ohne diese Einstellung gelten LEADCHAIN_CALLING_HOURS "
        "oder die eingebauten Zeiten.",
    "Reset the calling hours to the default?": "Anrufzeiten auf die Voreinstellung zurücksetzen?",
    "Other limits": "Weitere Grenzen",
    "Set in the environment of the workers (LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY, LEADCHAIN_REQUIRE_EXPRESS_CONSENT_FOR_AI_CALLS, LEADCHAIN_GERMAN_PUBLIC_HOLIDAYS, LEADCHAIN_GERMAN_HOLIDAY_STATES).":
        "Gesetzt in der Umgebung der Worker (LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY, "
        "LEADCHAIN_REQUIRE_EXPRESS_CONSENT_FOR_AI_CALLS, LEADCHAIN_GERMAN_PUBLIC_HOLIDAYS, "
        "LEADCHAIN_GERMAN_HOLIDAY_STATES).",
    "Every row with times needs a region (e.g. DE, AT, US).": "Jede Zeile mit Zeiten braucht eine Region (z. B. DE, AT, US).",
    "Region %(region)s is listed twice.": "Die Region %(region)s steht zweimal in der Liste.",
    "Calling hours saved; the gate applies them from its next check.":
        "Anrufzeiten gespeichert; die Prüfung wendet sie ab ihrer nächsten Entscheidung an.",
    "The configuration cannot be used:": "Die Konfiguration ist nicht verwendbar:",
    "Region": "Region",
    "other regions": "andere Regionen",
    "Call attempts per day": "Anrufversuche pro Tag",
    "Express consent required for AI calls": "Ausdrückliche Einwilligung für KI-Anrufe nötig",
    "No calls on German public holidays": "Keine Anrufe an deutschen Feiertagen",
    "yes": "ja",
    "no": "nein",
    # campaigns
    "No campaigns yet.": "Noch keine Kampagnen.",
    "default": "Standard",
    "Provider": "Anbieter",
    "Agent id": "Agent-ID",
    "From number": "Absendernummer",
    "Failover": "Ausweichanbieter",
    "Failover provider": "Ausweichanbieter",
    "none": "keiner",
    "Default campaign": "Standardkampagne",
    "Save": "Speichern",
    "Please choose a provider.": "Bitte wählen Sie einen Anbieter.",
    "Agent and number are required.": "Agent und Nummer sind nötig.",
    "The failover must be another provider.": "Der Ausweichanbieter muss ein anderer Anbieter sein.",
    "A failover needs its own agent and number.": "Ein Ausweichanbieter braucht einen eigenen Agenten und eine Nummer.",
    "Campaign %(name)s saved.": "Kampagne %(name)s gespeichert.",
    # providers
    "Keys live in Vault (or the environment), never in the CRM database; this page only says whether each one is set. Without keys the provider sandbox answers.":
        "Schlüssel liegen in Vault (oder der Umgebung), nie in der CRM-Datenbank; diese Seite zeigt nur, ob "
        "sie gesetzt sind. Ohne Schlüssel antwortet die Anbieter-Sandbox.",
    "Key": "Schlüssel",
    "Secret name": "Name des Geheimnisses",
    "set": "gesetzt",
    "not set": "nicht gesetzt",
    "secrets store unreachable": "Geheimnisspeicher nicht erreichbar",
    "Retell API key": "Retell-API-Schlüssel",
    "Vapi API key": "Vapi-API-Schlüssel",
    "Vapi webhook secret": "Vapi-Webhook-Geheimnis",
    "Bland API key": "Bland-API-Schlüssel",
    "Bland webhook secret": "Bland-Webhook-Geheimnis",
    "SendGrid API key": "SendGrid-API-Schlüssel",
    "SendGrid event webhook key": "SendGrid-Event-Webhook-Schlüssel",
    "SendGrid inbound parse key": "SendGrid-Inbound-Parse-Schlüssel",
}
