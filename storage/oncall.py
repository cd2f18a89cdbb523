"""The on-call webhook: ``app.escalation.OnCallNotifier`` over HTTPS (httpx).

One POST of the escalation's JSON (ids, times and codes only) to the URL IT sets in
``[emergency] oncall_webhook_url``, with ``Authorization: Bearer <secret>`` when the
keyring holds an ``oncall_webhook`` secret (``clinician-console secret set
oncall_webhook``). A 2xx answer is success; anything else, a timeout or a network
failure raises :class:`~app.escalation.OnCallNotifyError` naming only the status or the
kind of failure. TLS is verified (the record store's ``ca_file`` may add a CA).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from app.escalation import OnCallNotifyError

DEFAULT_TIMEOUT_S = 5.0


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ca_file: str = "",
    ) -> None:
        self._url = url
        self._token = token
        self._timeout_s = timeout_s
        self._verify: bool | str = ca_file or True

    async def notify(self, payload: Mapping[str, Any]) -> None:
        headers = {"User-Agent": "clinician-console"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout_s, verify=self._verify, follow_redirects=False
            ) as client:
                response = await client.post(self._url, json=dict(payload), headers=headers)
        except httpx.TimeoutException as exc:
            raise OnCallNotifyError(reason="no answer in time") from exc
        except httpx.HTTPError as exc:
            raise OnCallNotifyError(reason=f"network failure: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise OnCallNotifyError(reason=f"HTTP {response.status_code}")


def notifier_from_settings(settings: Any) -> WebhookNotifier | None:
    """The notifier IT configured, or None (composition root helper)."""
    url = settings.emergency.oncall_webhook_url
    if not url:
        return None
    from app.errors import ConsoleError
    from storage.secrets import get_secret

    try:
        token = get_secret("oncall_webhook")
    except ConsoleError:
        token = None
    return WebhookNotifier(url, token=token, ca_file=settings.record_store.ca_file)
