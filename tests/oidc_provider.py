"""A small OpenID Connect provider for the tests, served over real HTTP on loopback (ServerThread): discovery,
JWKS, an authorize page where the person types the email to sign in as (no password: the provider's own
sign-in is not what is tested), and a token endpoint that checks the client's secret, the code and the
redirect URI and answers with an RS256 ID token signed with joserfc (authlib's JOSE library).

    provider = OidcProvider(client_id="leadchain", client_secret="s3cret")
    with ServerThread(provider.app) as server:
        provider.issuer = server.url
        ...
``provider.verified`` (default True) is the email_verified claim it gives; ``provider.issued`` counts ID tokens."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from markupsafe import escape

KID = "test-key-1"


@dataclass
class _Grant:
    email: str
    nonce: str | None
    redirect_uri: str


@dataclass
class OidcProvider:
    client_id: str
    client_secret: str
    issuer: str = ""
    verified: bool = True
    issued: int = 0
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"}))
    grants: dict[str, _Grant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.app = self._make_app()

    def _make_app(self) -> Flask:
        app = Flask("oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
                scopes_supported=["openid", "email", "profile"],
            )

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[self.key.as_dict(private=False)])

        @app.get("/authorize")
        def authorize_page():
            args = request.args
            if args.get("client_id") != self.client_id or args.get("response_type") != "code":
                abort(400)
            hidden = "".join(
                f'<input type="hidden" name="{k}" value="{escape(args.get(k, ""))}">'
                for k in ("redirect_uri", "state", "nonce")
            )
            return (
                '<!doctype html><title>Test provider</title><form method="post" action="/authorize">'
                f'{hidden}<label for="email">Email</label><input id="email" name="email">'
                '<button type="submit" id="provider-sign-in">Sign in</button></form>'
            )

        @app.post("/authorize")
        def authorize():
            code = secrets.token_urlsafe(16)
            self.grants[code] = _Grant(request.form["email"], request.form.get("nonce"), request.form["redirect_uri"])
            query = urlencode({"code": code, "state": request.form.get("state", "")})
            return redirect(f"{request.form['redirect_uri']}?{query}")

        @app.post("/token")
        def token():
            client_id, client_secret = self._client_credentials()
            if (client_id, client_secret) != (self.client_id, self.client_secret):
                return jsonify(error="invalid_client"), 401
            grant = self.grants.pop(request.form.get("code", ""), None)
            if grant is None or request.form.get("redirect_uri") != grant.redirect_uri:
                return jsonify(error="invalid_grant"), 400
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "sub": f"user-{grant.email}",
                "aud": self.client_id,
                "iat": now,
                "exp": now + 300,
                "email": grant.email,
                "email_verified": self.verified,
                "name": grant.email.split("@")[0].title(),
            }
            if grant.nonce:
                claims["nonce"] = grant.nonce
            self.issued += 1
            id_token = jwt.encode({"alg": "RS256", "kid": KID}, claims, self.key)
            access_token = secrets.token_urlsafe(16)
            return jsonify(access_token=access_token, token_type="Bearer", expires_in=300, id_token=id_token)

        return app

    @staticmethod
    def _client_credentials() -> tuple[str | None, str | None]:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _sep, secret = base64.b64decode(header[6:]).decode().partition(":")
            return unquote(client_id), unquote(secret)
        return request.form.get("client_id"), request.form.get("client_secret")
