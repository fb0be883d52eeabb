"""The call queue (crm.ui.queue): every signed-in role; each sees only the leads it may see."""

from tests.ui.route_expectations import Route

ROUTES = {
    "queue.index": Route(expect={"anonymous": 302, "sales": 200, "manager": 200, "admin": 200}),
}
