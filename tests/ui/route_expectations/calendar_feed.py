"""A rep's secret calendar feed (crm.ui.calendar_feed): public, the token in the URL is the credential, so an
unknown token is 404 for everyone, signed in or not (tests/calendars/test_feed.py serves real feeds)."""

from tests.ui.route_expectations import Route

ROUTES = {
    "calendar_feed.show": Route(
        url_args=lambda s: {"token": "not-a-feed-token"},
        expect={"anonymous": 404, "sales": 404, "manager": 404, "admin": 404},
    ),
}
