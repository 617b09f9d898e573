"""Failed credentials: logged, throttled per client address and per API-key prefix, and kept off
the database when they cannot be valid.

* Every refused credential is logged (warning ``credential refused``, with the client address,
  the kind of credential, the key's public prefix and the reason — never the secret).
* Failures are counted in Redis (`limits`, shared by every replica): past
  ``JIFEN_AUTH_FAILURES_PER_ADDRESS`` from one address, or ``JIFEN_AUTH_FAILURES_PER_KEY`` for one
  key prefix, the caller is answered ``RATE_LIMITED`` (HTTP 429 with ``Retry-After``) until the
  window moves on — and an API key from there is not looked up at all.
* A key that does not have the shape of one we issue is refused without a query; a prefix that
  matched no active key is remembered for ``JIFEN_AUTH_UNKNOWN_KEY_CACHE_SECONDS`` (prefixes are
  random, so none becomes valid in the meantime).

Only failures count: a caller with good credentials never waits on this.
"""

from __future__ import annotations

import time

from limits import RateLimitItem, parse

from app.analytics.alerts import note_credential_failure
from app.auth.apikeys import UnknownApiKey, split_api_key
from app.auth.credentials import ConsoleSession, authenticate
from app.auth.principal import Principal
from app.auth.staff import WrongPassword, check_password
from app.auth.widgetkeys import is_widget_key
from app.config import Settings
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.limiting import moving_window, retry_after
from app.logging import get_logger
from app.runtime import Runtime

log = get_logger(__name__)
UNKNOWN_KEYS_KEPT = 10_000  # the negative cache forgets everything past this many prefixes


class Throttled(DomainError):
    """Too many failed credentials: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            ErrorCode.RATE_LIMITED,
            f"too many failed credentials from here; retry in {retry_after} s",
        )
        self.retry_after = retry_after


def _key_prefix(api_key: str | None) -> str | None:
    if not api_key or is_widget_key(api_key):
        return None
    try:
        return split_api_key(api_key)[0]
    except DomainError:
        return None


class CredentialGuard:
    """One per process: the failure counters and the unknown-prefix cache."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.limiter = moving_window(settings, redis_url)
        self.per_address: RateLimitItem = parse(settings.auth_failures_per_address)
        self.per_key: RateLimitItem = parse(settings.auth_failures_per_key)
        self.unknown_for = settings.auth_unknown_key_cache_seconds
        self.unknown: dict[str, float] = {}  # prefix -> until (monotonic)

    def _counters(self, client: str, prefix: str | None) -> list[tuple[RateLimitItem, str, str]]:
        counters = [(self.per_address, "auth-fail-address", client)]
        if prefix is not None:
            counters.append((self.per_key, "auth-fail-key", prefix))
        return counters

    async def authenticate(
        self,
        rt: Runtime,
        client: str,
        *,
        authorization: str | None,
        api_key: str | None,
        session: ConsoleSession | None = None,
        standing: bool = True,
    ) -> Principal:
        prefix = _key_prefix(api_key)
        kind = "api_key" if api_key else "token" if authorization else "session"
        if api_key:
            # A key costs a query: refuse it before the query while its sender is throttled.
            await self._refuse_when_throttled(client, prefix, kind)
        try:
            if prefix is not None and self._known_unknown(prefix):
                raise DomainError(ErrorCode.UNAUTHENTICATED, "the API key is wrong or revoked")
            return await authenticate(
                rt, authorization=authorization, api_key=api_key, session=session, standing=standing
            )
        except DomainError as error:
            if isinstance(error, UnknownApiKey) and prefix is not None:
                self._remember_unknown(prefix)
            log.warning(
                "credential refused",
                client=client,
                credential=kind,
                key_prefix=prefix,
                reason=error.message,
            )
            await self._note_surge(rt)
            wait = await self._count_failure(client, prefix)
            if wait is not None:
                raise Throttled(wait) from error
            raise

    async def check_password(self, rt: Runtime, client: str, name: str, password: str) -> Principal:
        """A staff sign-in (docs/CONSOLE.md). Failures count per address and per staff name
        (with the API-key prefix's limit), and past either limit the password is not even
        checked: a guesser gets ``RATE_LIMITED`` however right its next guess is."""
        counted = f"staff:{name[:64]}"
        await self._refuse_when_throttled(client, counted, "password")
        try:
            async with unit_of_work(rt.engine) as conn:
                return await check_password(conn, name, password)
        except WrongPassword as error:
            log.warning(
                "credential refused",
                client=client,
                credential="password",
                staff=name[:64],
                reason=error.reason,
            )
            await self._note_surge(rt)
            wait = await self._count_failure(client, counted)
            if wait is not None:
                raise Throttled(wait) from error
            raise

    async def _note_surge(self, rt: Runtime) -> None:
        """The programme-wide count the failed-credential alert watches (app/analytics)."""
        try:
            await note_credential_failure(rt.redis, rt.clock.now())
        except Exception:
            log.warning("credential failures not counted: Redis unavailable", exc_info=True)

    async def _refuse_when_throttled(self, client: str, prefix: str | None, kind: str) -> None:
        for item, namespace, who in self._counters(client, prefix):
            try:
                allowed = await self.limiter.test(item, namespace, who)
                wait = 0 if allowed else await retry_after(self.limiter, item, namespace, who)
            except Exception:
                log.warning("credential failures not counted: Redis unavailable", exc_info=True)
                return
            if not allowed:
                log.warning(
                    "credential throttled", client=client, credential=kind, key_prefix=prefix
                )
                raise Throttled(wait)

    async def _count_failure(self, client: str, prefix: str | None) -> int | None:
        """Seconds to wait when this failure was one too many (a token is checked without a
        query, so it is only refused once its sender is over the limit); else None."""
        for item, namespace, who in self._counters(client, prefix):
            try:
                if not await self.limiter.hit(item, namespace, who):
                    return await retry_after(self.limiter, item, namespace, who)
            except Exception:
                log.warning("credential failures not counted: Redis unavailable", exc_info=True)
                return None
        return None

    def _known_unknown(self, prefix: str) -> bool:
        until = self.unknown.get(prefix)
        if until is None:
            return False
        if until < time.monotonic():
            del self.unknown[prefix]
            return False
        return True

    def _remember_unknown(self, prefix: str) -> None:
        if self.unknown_for <= 0:
            return
        if len(self.unknown) >= UNKNOWN_KEYS_KEPT:
            self.unknown.clear()
        self.unknown[prefix] = time.monotonic() + self.unknown_for


def credential_guard(rt: Runtime) -> CredentialGuard:
    """This runtime's guard, built on first use."""
    guard = rt.caches.get("auth.guard")
    if not isinstance(guard, CredentialGuard):
        redis_url = rt.settings.redis_url
        if not redis_url:
            raise RuntimeError("the credential guard needs JIFEN_REDIS_URL")
        guard = rt.caches["auth.guard"] = CredentialGuard(rt.settings, redis_url)
    return guard
