"""Data-subject requests (GDPR Art. 15, 17, 20), the suppression list and retention (docs/privacy.md).

* ``subjects`` finds every lead record of one person (merged records and flagged duplicates included);
* ``requests`` opens a request, keeps its due date and logs what each step did where;
* ``suppression`` keeps an erased person's email and phone as keyed hashes, which intake consults;
* ``inventory`` names every table and field that holds a person's data, with what it means;
* ``export_data``, ``export_pdf`` and ``archive`` build the export; ``erase_local`` empties the records;
* ``retention`` holds each company's periods and the sweep that anonymises what is past them.

The Temporal side (which step runs when, retried) is in workflows/privacy.py and activities/privacy_activities.py.
"""
