"""The caller of one request, whatever proved it (a platform JWT, a service key, a console sign-in).

A principal carries ids and a role, never a token or a name that could identify a student in logs:
``log_fields()`` is what logs and metrics may see, ``limit_key`` is what rate limits count against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["student", "teacher", "admin", "service"]
Kind = Literal["user", "key", "open"]
USER_ROLES: tuple[Role, ...] = ("student", "teacher", "admin")
KEY_ROLES: tuple[Role, ...] = ("service", "admin")


@dataclass(frozen=True)
class Principal:
    kind: Kind
    role: Role
    user_id: int | None = None  # users.id (platform users)
    external_id: str | None = None  # the platform's user id (JWT `sub`)
    key_name: str | None = None  # service keys
    name: str | None = None  # display name (console only; never logged)

    @classmethod
    def open(cls) -> Principal:
        """The embedded profile serving without credentials on loopback: the person at the machine."""
        return cls("open", "admin", key_name="local")

    def log_fields(self) -> dict[str, Any]:
        return {"principal": self.kind, "role": self.role, "user_id": self.user_id, "key": self.key_name}

    @property
    def limit_key(self) -> str:
        return f"user:{self.user_id}" if self.kind == "user" else f"{self.kind}:{self.key_name}"
