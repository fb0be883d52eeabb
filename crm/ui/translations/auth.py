"""German for sign-in, the layout, error pages and passwords (crm.ui.auth, base/login/error/password.html)."""
DE = {
    # layout
    "Skip to content": "Zum Inhalt springen",
    "Main navigation": "Hauptnavigation",
    "Dashboard": "Dashboard",
    "Leads": "Leads",
    "Calls": "Anrufe",
    "Tasks": "Aufgaben",
    "Reports": "Berichte",
    "Settings": "Einstellungen",
    "Language": "Sprache",
    "Switch": "Wechseln",
    "Sign out": "Abmelden",
    # sign-in
    "Sign in": "Anmelden",
    "Email": "E-Mail",
    "Password": "Passwort",
    "Email or password is wrong.": "E-Mail oder Passwort ist falsch.",
    "You are signed out.": "Sie sind abgemeldet.",
    # passwords
    "Change password": "Passwort ändern",
    "Current password": "Aktuelles Passwort",
    "New password": "Neues Passwort",
    "Repeat the new password": "Neues Passwort wiederholen",
    "At least 15 characters; a sentence of several words is easy to remember.":
        "Mindestens 15 Zeichen; ein Satz aus mehreren Wörtern ist leicht zu merken.",
    "The current password is wrong.": "Das aktuelle Passwort ist falsch.",
    "The two new passwords differ.": "Die beiden neuen Passwörter stimmen nicht überein.",
    "Your password has been changed. Other sessions were signed out.":
        "Ihr Passwort wurde geändert. Andere Sitzungen wurden abgemeldet.",
    "The password needs at least %(num)d characters.": "Das Passwort braucht mindestens %(num)d Zeichen.",
    "The password may have at most %(num)d characters.": "Das Passwort darf höchstens %(num)d Zeichen haben.",
    "This password is too common. Please choose another one.":
        "Dieses Passwort ist zu verbreitet. Bitte wählen Sie ein anderes.",
    "The password must not be your email address.": "Das Passwort darf nicht Ihre E-Mail-Adresse sein.",
    # error pages
    "Error": "Fehler",
    "The request could not be processed": "Die Anfrage konnte nicht verarbeitet werden",
    "Please sign in": "Bitte melden Sie sich an",
    "Access denied": "Zugriff verweigert",
    "Not found": "Nicht gefunden",
    "Not allowed": "Nicht erlaubt",
    "The upload is too large": "Die Datei ist zu groß",
    "The input could not be processed": "Die Eingabe konnte nicht verarbeitet werden",
    "Too many attempts": "Zu viele Versuche",
    "Something went wrong": "Etwas ist schiefgelaufen",
    "Temporarily unavailable": "Vorübergehend nicht verfügbar",
    "The form may have expired. Please reload the page and try again.":
        "Das Formular ist eventuell abgelaufen. Bitte laden Sie die Seite neu und versuchen Sie es erneut.",
    "Your session has ended. Please sign in again.": "Ihre Sitzung ist beendet. Bitte melden Sie sich erneut an.",
    "Your role does not allow this page or action.": "Ihre Rolle erlaubt diese Seite oder Aktion nicht.",
    "This page or record does not exist, or you may not see it.":
        "Diese Seite oder dieser Datensatz existiert nicht oder ist für Sie nicht sichtbar.",
    "This address does not accept this kind of request.": "Diese Adresse nimmt diese Art von Anfrage nicht an.",
    "Please choose a smaller file.": "Bitte wählen Sie eine kleinere Datei.",
    "Please check your input and try again.": "Bitte prüfen Sie Ihre Eingabe und versuchen Sie es erneut.",
    "Please wait a moment before you try again.": "Bitte warten Sie einen Moment, bevor Sie es erneut versuchen.",
    "The error has been logged. Please try again later.":
        "Der Fehler wurde protokolliert. Bitte versuchen Sie es später erneut.",
    "Please try again in a few seconds.": "Bitte versuchen Sie es in einigen Sekunden erneut.",
    "To the start page": "Zur Startseite",
}
