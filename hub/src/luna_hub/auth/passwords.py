"""Password hashes: Argon2id (argon2-cffi), with the parameters of ``[auth]``.

A hash made with other parameters still verifies and is replaced at the next successful login.
Checking a login of an unknown user verifies against a dummy hash, so it takes as long as a wrong
password and the answer (the same 401) tells nothing about which names exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from luna_hub.settings import AuthSettings

__all__ = ["Passwords"]

_MAX_PASSWORD_BYTES: Final = 1024
T = TypeVar("T")


class Passwords:
    """Hash and verify passwords with one set of Argon2id parameters.

    The work runs on at most two threads of its own, which also bounds the memory concurrent logins
    take (``password_memory_kib`` each); :meth:`close` stops them.
    """

    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_kib,
            parallelism=settings.password_parallelism,
            type=Type.ID,
        )
        self._dummy: str | None = None
        self._workers: ThreadPoolExecutor | None = None

    def _run(self, work: Callable[..., T], *args: object) -> asyncio.Future[T]:
        if self._workers is None:
            self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
        return asyncio.get_running_loop().run_in_executor(self._workers, work, *args)

    def close(self) -> None:
        """Stop the worker threads (a later call starts new ones)."""
        if self._workers is not None:
            self._workers.shutdown(wait=True)
            self._workers = None

    async def hash(self, password: str) -> str:
        """Return the PHC string of ``password``."""
        return await self._run(self._hasher.hash, password[:_MAX_PASSWORD_BYTES])

    async def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """Return (matches, needs a new hash); ``stored`` None (no such user, no password) never matches."""
        if self._dummy is None:
            self._dummy = await self.hash("no user has this password")
        return await self._run(self._verify, stored, password[:_MAX_PASSWORD_BYTES], self._dummy)

    def _verify(self, stored: str | None, password: str, dummy: str) -> tuple[bool, bool]:
        try:
            self._hasher.verify(stored or dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if stored is None:
            return False, False
        return True, self._hasher.check_needs_rehash(stored)
