"""The web server's application: `gunicorn 'crm.wsgi:app'` (the local stack, the Dockerfile, docker-compose).

gunicorn imports this module in each worker before the worker takes a request, so what it does here is done
before the first caller: the app is built once, and the provider SDKs that the registry imports at a
provider's first use are imported now (providers.factory.import_all_sdks). Before, the first inbound Retell
call a fresh web worker answered also paid the Retell SDK's import, seconds while the caller's phone rang.
The command-line tools build their own app with create_app() and import no SDK they do not use."""

from __future__ import annotations

from crm import create_app
from providers.factory import import_all_sdks

app = create_app()
import_all_sdks()
