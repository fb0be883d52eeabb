"""Email for the lead chain: templates (de/en), rendering, the SendGrid sender, unsubscribe, previews.

Where things are:

* ``render``: ``render(template, lead, context, language)`` -> (subject, html, text); imprint and
  unsubscribe link in every mail, HTML autoescaped.
* ``ics``: the booking confirmation's calendar invite (icalendar, TZID + VTIMEZONE, stable UID).
* ``sendgrid_sender``: ``SendGridSender`` (crm.email.port.EmailSender) on the real SDK.
* ``factory``: ``build_sender(app)``: the real SendGrid with a key, else the provider sandbox.
* ``unsubscribe``: ``bp``, GET shows a confirm page, POST (RFC 8058 one-click or the form) unsubscribes.
* ``suppression``: what unsubscribes, spam reports, bounces and replies do to a lead (shared by the
  unsubscribe page and the SendGrid webhooks).
* ``preview``: ``preview(template, lead_id, language=None)`` for a rep's UI.
"""
