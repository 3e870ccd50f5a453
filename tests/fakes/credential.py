"""A token credential that issues unsigned JWTs whose audience is the requested scope (as Entra would)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from azure.core.credentials import AccessToken


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class FakeCredential:
    """Returns a fresh JWT per scope; azure-ai-ml decodes ``aud`` (and ``oid``/``tid``) from it."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.extend(scopes)
        scope = scopes[0] if scopes else "https://management.azure.com/.default"
        audience = scope.removesuffix("/.default").removesuffix(".default").rstrip("/")
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": "https://sts.windows.net/tenant/",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "oid": "00000000-0000-0000-0000-0000000000aa",
            "tid": "tenant",
            "upn": "tests@example.com",
        }
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.sig"
        return AccessToken(token, now + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        token = self.get_token(*scopes)
        return AccessTokenInfo(token.token, token.expires_on)

    def close(self) -> None:
        return None
