"""Every UI page names an icon the app serves (the favicon was a 404 on every page load)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET


def test_pages_link_an_svg_favicon_that_is_served(anon, as_sales_a):
    for client, path in ((anon, "/login"), (as_sales_a, "/leads")):
        page = client.get(path)
        assert page.status_code == 200, path
        links = re.findall(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', page.get_data(as_text=True))
        assert len(links) == 1, path
        icon = anon.get(links[0])  # no sign-in needed: the login page shows it too
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert ET.fromstring(icon.get_data()).tag == "{http://www.w3.org/2000/svg}svg"
