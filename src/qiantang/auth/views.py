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
from qiantang.auth.schemas import PasswordReset, TokenOut, UserCreate, UserOut
from qiantang.errors import Conflict, QiantangError, RowError, TooManyRequests, Unauthorized, ValidationFailed
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


Admin = Annotated[Auth, require(Permission.MANAGE_USERS)]


def _users_page(
    request: Request,
    db,
    *,
    errors=(),
    form=None,
    status: int = 200,
    notice: str | None = None,
    temporary: tuple[str, str] | None = None,
):
    """The user list with district and institution names (not codes), the tokens, and the form."""
    users = db.scalars(select(User).order_by(User.role, User.username)).all()
    areas = db.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)).all()
    inst_ids = {u.institution_id for u in users if u.institution_id}
    institutions = (
        dict(db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(inst_ids))).all())
        if inst_ids
        else {}
    )
    return render(
        request,
        "auth/users.html",
        status_code=status,
        users=users,
        roles=list(Role),
        areas=areas,
        area_names=area_names(db, zh=is_zh()),
        institution_names=institutions,
        tokens=service.list_tokens(db),
        token_state=service.token_state,
        active="users",
        errors=list(errors),
        form=form or {},
        notice=notice,
        temporary=temporary,
    )


@router.get("/users")
def users_page(request: Request, db: DB, auth: Admin):
    return _users_page(request, db)


@router.post("/users")
def create_user_form(
    request: Request,
    db: DB,
    auth: Admin,
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
        return _users_page(request, db, status=422, errors=exc.errors, form=form)
    return RedirectResponse("/users", status_code=303)


def _refused(request: Request, db, exc: QiantangError):
    db.rollback()
    message = exc.message if is_zh() else exc.message_en
    return _users_page(request, db, status=exc.status_code, errors=[RowError(None, "", message)])


@router.post("/users/{user_id}/disable")
def disable_user_form(request: Request, db: DB, auth: Admin, user_id: int):
    user = service.get_user(db, user_id)
    try:
        service.disable_user(db, user=user, actor=auth.user, ip=client_ip(request))
    except Conflict as exc:
        return _refused(request, db, exc)
    return _users_page(
        request,
        db,
        notice=_("%(name)s is disabled; their sessions and API tokens have ended.", name=user.username),
    )


@router.post("/users/{user_id}/enable")
def enable_user_form(request: Request, db: DB, auth: Admin, user_id: int):
    user = service.get_user(db, user_id)
    service.enable_user(db, user=user, actor=auth.user, ip=client_ip(request))
    return _users_page(request, db, notice=_("%(name)s is enabled again.", name=user.username))


@router.post("/users/{user_id}/reset-password")
def reset_password_form(request: Request, db: DB, auth: Admin, user_id: int):
    user = service.get_user(db, user_id)
    try:
        password = service.reset_password(db, user=user, actor=auth.user, ip=client_ip(request))
    except Conflict as exc:
        return _refused(request, db, exc)
    return _users_page(request, db, temporary=(user.username, password))


@router.post("/users/tokens/{token_id}/revoke")
def revoke_token_form(request: Request, db: DB, auth: Admin, token_id: int):
    token = service.revoke_token(db, token_id=token_id, actor=auth.user, ip=client_ip(request))
    return _users_page(request, db, notice=_("The API token “%(name)s” is revoked.", name=token.name))


# --- my account ------------------------------------------------------------------------------------
def _account_page(request: Request, db, auth: Auth, *, errors=(), notice=None, status: int = 200):
    return render(
        request,
        "auth/account.html",
        status_code=status,
        account=db.get(User, auth.user.id),
        tokens=service.list_tokens(db, user_id=auth.user.id),
        token_state=service.token_state,
        must_change=auth.user.must_change_password,
        errors=list(errors),
        notice=notice,
        active="",
    )


@router.get("/account")
def account_page(request: Request, db: DB, auth: CurrentAuth):
    return _account_page(request, db, auth)


@router.post("/account/password")
def change_password_form(
    request: Request,
    db: DB,
    auth: CurrentAuth,
    old_password: Annotated[str, Form(max_length=256)],
    new_password: Annotated[str, Form(max_length=256)],
    new_password2: Annotated[str, Form(max_length=256)],
):
    if new_password != new_password2:
        error = RowError(None, "new_password2", _("The two new passwords differ."))
        return _account_page(request, db, auth, errors=[error], status=422)
    user = db.get(User, auth.user.id)
    try:
        service.change_password(
            db,
            user=user,
            old_password=old_password,
            new_password=new_password,
            keep_session_id=auth.session_id,
            ip=client_ip(request),
        )
    except ValidationFailed as exc:
        db.commit()  # keep the audit record of the failed attempt
        return _account_page(request, db, auth, errors=exc.errors, status=422)
    return RedirectResponse("/account?changed=1", status_code=303)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_own_token_form(request: Request, db: DB, auth: CurrentAuth, token_id: int):
    token = service.revoke_token(
        db, token_id=token_id, actor=auth.user, owner_id=auth.user.id, ip=client_ip(request)
    )
    return _account_page(request, db, auth, notice=_("The API token “%(name)s” is revoked.", name=token.name))


@api_router.get("/me", response_model=UserOut, summary="当前用户 Current user")
def me(db: DB, auth: CurrentAuth) -> User:
    return db.get(User, auth.user.id)


@api_router.get("/users", response_model=list[UserOut], summary="用户列表 Users")
def list_users(db: DB, auth: Admin) -> list[User]:
    return list(db.scalars(select(User).order_by(User.id)).all())


@api_router.post("/users", response_model=UserOut, status_code=201, summary="新建用户 Create a user")
def create_user_api(body: UserCreate, db: DB, auth: Admin) -> User:
    return service.create_user(db, actor=auth.user, **body.model_dump())


@api_router.post("/users/{user_id}/disable", response_model=UserOut, summary="停用账号 Disable a user")
def disable_user_api(request: Request, user_id: int, db: DB, auth: Admin) -> User:
    user = service.get_user(db, user_id)
    service.disable_user(db, user=user, actor=auth.user, ip=client_ip(request))
    return user


@api_router.post("/users/{user_id}/enable", response_model=UserOut, summary="启用账号 Enable a user")
def enable_user_api(request: Request, user_id: int, db: DB, auth: Admin) -> User:
    user = service.get_user(db, user_id)
    service.enable_user(db, user=user, actor=auth.user, ip=client_ip(request))
    return user


@api_router.post(
    "/users/{user_id}/reset-password",
    response_model=PasswordReset,
    summary="重置密码 Reset a password (one-time temporary password)",
)
def reset_password_api(request: Request, user_id: int, db: DB, auth: Admin) -> PasswordReset:
    user = service.get_user(db, user_id)
    password = service.reset_password(db, user=user, actor=auth.user, ip=client_ip(request))
    return PasswordReset(username=user.username, temporary_password=password)


@api_router.get("/tokens", response_model=list[TokenOut], summary="API 令牌 API tokens")
def list_tokens_api(db: DB, auth: Admin, user_id: int | None = None) -> list[TokenOut]:
    return [TokenOut.of(t, service.token_state(t)) for t in service.list_tokens(db, user_id=user_id)]


@api_router.delete("/tokens/{token_id}", response_model=TokenOut, summary="吊销令牌 Revoke an API token")
def revoke_token_api(request: Request, token_id: int, db: DB, auth: Admin) -> TokenOut:
    token = service.revoke_token(db, token_id=token_id, actor=auth.user, ip=client_ip(request))
    return TokenOut.of(token, service.token_state(token))
