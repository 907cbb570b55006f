"""API shapes for users."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from qiantang.auth.models import Role
from qiantang.masking import Masked


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: Masked("person_name")
    role: Role
    district_code: str | None
    institution_id: int | None
    is_active: bool
    last_login_at: datetime | None


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    display_name: str | None = Field(default=None, max_length=64)
    role: Role
    district_code: str | None = None
    institution_id: int | None = None


class PasswordReset(BaseModel):
    username: str
    temporary_password: str = Field(description="Shown once; must be changed at the next login")


class TokenOut(BaseModel):
    id: int
    username: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    state: str = Field(description="active | revoked | expired")

    @classmethod
    def of(cls, token, state: str) -> TokenOut:
        return cls(
            id=token.id,
            username=token.user.username,
            name=token.name,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
            state=state,
        )
