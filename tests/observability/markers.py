"""Marker strings for the redaction tests: none of them may appear in any captured log."""

PHONE = "+49 1512 3456789"
EMAIL = "zq.marker@example.org"
NAME = "Zyxolotl"
API_KEY = "key_Mk3yZ9q8w7e6r5t4"
ALL = (PHONE, PHONE.replace(" ", ""), EMAIL, NAME, API_KEY)
