"""External calendars (issue 18): the reps' own calendars decide what is free, and bookings land in them.

* `port` is the one interface a calendar service implements (CalDAV today; Cal.com, Google and Microsoft plug
  in behind the same protocol and `open_port`).
* `caldav_client` speaks CalDAV through the `caldav` library (ctag + sync-token incremental sync, idempotent
  writes with If-None-Match/If-Match, a timeout on every request).
* `expand` turns iCalendar data into UTC busy intervals (RRULE, EXDATE, overridden instances, all-day events,
  VTIMEZONE and other zones) with `recurring-ical-events`.
* `sync` keeps the local busy table (`calendar_busy`) and flows the rep's own moves and deletions of CRM
  events back; `writeout` writes appointments out; `feed` serves the rep's secret subscription feed.
"""
