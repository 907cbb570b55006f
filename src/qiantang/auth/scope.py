"""Which rows a user may see. Every service that reads city data takes a ``Scope`` and filters by it,
so the limits hold for pages, the API and exports alike — not only in what the UI hides."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, true

from qiantang.auth.models import Role, User
from qiantang.errors import Forbidden


@dataclass(frozen=True)
class Scope:
    role: Role
    user_id: int | None = None
    district_code: str | None = None
    institution_id: int | None = None
    enterprise_id: int | None = None  # a firm user's own enterprise

    @classmethod
    def for_user(cls, user: User) -> Scope:
        return cls(
            role=user.role,
            user_id=user.id,
            district_code=user.district_code,
            institution_id=user.institution_id,
            enterprise_id=user.enterprise_id,
        )

    @classmethod
    def system(cls) -> Scope:
        """The whole city: for CLI jobs and batch work."""
        return cls(role=Role.CITY_ADMIN)

    @property
    def is_citywide(self) -> bool:
        return self.role in (Role.CITY_ADMIN, Role.CITY_ANALYST, Role.AUDITOR)

    @property
    def sees_enterprises(self) -> bool:
        """City and district staff and auditors; not institutions' users nor firms."""
        return self.role not in (Role.INSTITUTION_REPORTER, Role.LENDER, Role.FIRM)

    def district_clause(self, column) -> ColumnElement[bool]:
        """Filter for a table's district column."""
        if self.is_citywide:
            return true()
        if self.role == Role.DISTRICT_OFFICER:
            return column == self.district_code
        return false()

    def institution_clause(self, id_column, district_column) -> ColumnElement[bool]:
        """Filter for institutions: by district, or the reporter's own institution."""
        if self.role == Role.INSTITUTION_REPORTER:
            return id_column == self.institution_id
        return self.district_clause(district_column)

    def check_district(self, district_code: str | None, *, what: str = "数据") -> None:
        """Raise Forbidden unless a record in ``district_code`` is visible."""
        if self.is_citywide:
            return
        if self.role == Role.DISTRICT_OFFICER and district_code == self.district_code:
            return
        raise Forbidden(f"无权访问其他区县的{what}", message_en="You may not see data of another district")

    def check_institution(self, institution_id: int, district_code: str | None) -> None:
        if self.role == Role.INSTITUTION_REPORTER:
            if institution_id != self.institution_id:
                raise Forbidden("只能访问本机构的数据", message_en="You may only see your own institution")
            return
        self.check_district(district_code, what="机构")

    def require_enterprises(self) -> None:
        if not self.sees_enterprises:
            raise Forbidden(
                "您的角色不能查看企业信息库", message_en="Your role cannot see the enterprise register"
            )
