"""Login, logout, the current user, and user management for the city administrator."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from qiantang.auth import service
from qiantang.auth.models import Role, User
from qiantang.auth.permissions import Permission
from qiantang.auth.schemas import UserCreate, UserOut
from qiantang.errors import TooManyRequests, Unauthorized, ValidationFailed
from qiantang.registry.models import Area, Institution
from qiantang.registry.service import area_names
from qiantang.web.cookies import set_cookie
from qiantang.web.deps import DB, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Auth, CurrentAuth, client_ip, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh
from qiantang.web.shell import _safe_next
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["用户 Users"])


def _login_page(
    request: Request, *, error: str | None = None, next: str = "/", status: int = 200, username: str = ""
):
    token = secrets.token_urlsafe(24)
    expired = request.query_params.get("expired") == "1"
    response = render(
        request,
        "auth/login.html",
        status_code=status,
        login_csrf=token,
        error=error,
        next=next,
        expired=expired,
        username=username,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/"):
    return _login_page(request, next=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    db: DB,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
):
    next = _safe_next(next)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, login_csrf):
        return _login_page(
            request,
            error=_("The login form has expired; please try again."),
            next=next,
            status=403,
            username=username,
        )
    try:
        user = service.authenticate(db, username=username, password=password, ip=client_ip(request))
    except TooManyRequests as exc:
        db.commit()  # keep the record of the refused attempt
        return _login_page(
            request,
            error=exc.message if is_zh() else exc.message_en,
            next=next,
            status=429,
            username=username,
        )
    except Unauthorized:
        db.commit()  # a failed attempt must count against the limit
        return _login_page(
            request, error=_("Wrong username or password."), next=next, status=401, username=username
        )
    new = service.start_session(
        db, user=user, ip=client_ip(request), user_agent=request.headers.get("user-agent")
    )
    response = RedirectResponse(next, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, new.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, db: DB, auth: CurrentAuth):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        service.end_session(db, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _users_context(db) -> dict:
    """The user list with district and institution names (not codes), and the form's choices."""
    users = db.scalars(select(User).order_by(User.role, User.username)).all()
    inst_ids = {u.institution_id for u in users if u.institution_id}
    institutions = (
        dict(db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(inst_ids))).all())
        if inst_ids
        else {}
    )
    return {
        "users": users,
        "roles": list(Role),
        "areas": db.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)).all(),
        "area_names": area_names(db, zh=is_zh()),
        "institution_names": institutions,
    }


@router.get("/users")
def users_page(request: Request, db: DB, auth: Annotated[Auth, require(Permission.MANAGE_USERS)]):
    return render(
        request,
        "auth/users.html",
        **_users_context(db),
        active="users",
        errors=[],
        form={},
    )


@router.post("/users")
def create_user_form(
    request: Request,
    db: DB,
    auth: Annotated[Auth, require(Permission.MANAGE_USERS)],
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[Role, Form()],
    display_name: Annotated[str, Form()] = "",
    district_code: Annotated[str, Form()] = "",
    institution_id: Annotated[str, Form()] = "",
):
    inst_id = int(institution_id) if institution_id.strip().isdigit() else None
    try:
        service.create_user(
            db,
            username=username.strip(),
            password=password,
            role=role,
            display_name=display_name.strip() or None,
            district_code=district_code or None,
            institution_id=inst_id,
            actor=auth.user,
        )
    except ValidationFailed as exc:
        db.rollback()
        form = {
            "username": username,
            "display_name": display_name,
            "role": role.value,
            "district_code": district_code,
            "institution_id": institution_id,
        }
        return render(
            request,
            "auth/users.html",
            status_code=422,
            **_users_context(db),
            active="users",
            errors=exc.errors,
            form=form,
        )
    return RedirectResponse("/users", status_code=303)


@api_router.get("/me", response_model=UserOut, summary="当前用户 Current user")
def me(db: DB, auth: CurrentAuth) -> User:
    return db.get(User, auth.user.id)


@api_router.get("/users", response_model=list[UserOut], summary="用户列表 Users")
def list_users(db: DB, auth: Annotated[Auth, require(Permission.MANAGE_USERS)]) -> list[User]:
    return list(db.scalars(select(User).order_by(User.id)).all())


@api_router.post("/users", response_model=UserOut, status_code=201, summary="新建用户 Create a user")
def create_user_api(
    body: UserCreate, db: DB, auth: Annotated[Auth, require(Permission.MANAGE_USERS)]
) -> User:
    return service.create_user(db, actor=auth.user, **body.model_dump())
