"""Who is asking: no sign-in, local users (the users file or the old shared password), or
single sign-on through Streamlit's OIDC login. Every run of every page starts here."""

from __future__ import annotations

import json
import logging

import streamlit as st

from accounts.users import SHARED_USER, LoginError, User, sign_in, with_groups
from app import services
from app.i18n import t
from retrieval.settings import Settings

COOKIE = "docsqa_session"
log = logging.getLogger("app.auth")


def current_user(settings: Settings) -> User:
    """The signed-in user; draws the sign-in page and stops the run when there is none."""
    mode = settings.auth_mode()
    if mode == "none":
        return User("local", "Local user", admin=settings.admin_password is None)
    if mode == "oidc":
        return oidc_user(settings)
    return local_user(settings)


# --- local users ------------------------------------------------------------------------------


def local_user(settings: Settings) -> User:
    flush_cookie()
    signed_out = st.session_state.get("signed_out")  # the cookie of this tab is stale
    name = st.session_state.get("user_name") or (None if signed_out else from_cookie(settings))
    user = still_valid(settings, name) if name else None
    if user is not None:
        st.session_state.user_name = user.name
        return user
    st.session_state.pop("user_name", None)
    login_form(settings)
    st.stop()
    raise AssertionError("unreachable")


def still_valid(settings: Settings, name: str) -> User | None:
    """Checked on every run: a user removed from the file is signed out at once."""
    accounts = services.users(settings).accounts
    if name in accounts:
        return accounts[name].user
    if name == SHARED_USER and settings.app_password is not None:
        return User(SHARED_USER, "Staff")
    return None


def binding(settings: Settings, name: str) -> str:
    """What a session token is bound to: the password hash (a new password ends sessions)."""
    account = services.users(settings).accounts.get(name)
    if account:
        return account.password_hash
    return settings.app_password.get_secret_value() if settings.app_password else ""


def from_cookie(settings: Settings) -> str | None:
    token = st.context.cookies.get(COOKIE)
    if not isinstance(token, str):  # no cookie (or a test harness without a browser)
        return None
    tokens = services.session_tokens(settings)
    name = tokens.name_in(token) if token else None
    if name and tokens.verify(token, binding(settings, name)):
        return name
    return None


def login_form(settings: Settings) -> None:
    st.title(t("title"))
    for problem in services.users(settings).problems:
        st.warning(t("users_file_problem", problem=problem), icon=":material/warning:")
    with st.form("login"):
        name = st.text_input(
            t("user_name"), value="" if services.users(settings).accounts else SHARED_USER
        )
        password = st.text_input(t("password"), type="password")
        if not st.form_submit_button(t("sign_in")):
            return
    try:
        user = sign_in(
            services.users(settings).accounts,
            name.strip(),
            password,
            client_address(),
            services.throttle(settings),
            settings.app_password.get_secret_value() if settings.app_password else None,
        )
    except LoginError as exc:
        log.warning("failed sign-in for %r", name.strip()[:64])
        st.error(str(exc))
        return
    st.session_state.user_name = user.name
    st.session_state.pop("signed_out", None)
    token = services.session_tokens(settings).issue(user.name, binding(settings, user.name))
    st.session_state.set_cookie = (token, int(settings.session_days * 86_400))
    st.rerun()


def client_address() -> str:
    address = st.context.ip_address
    return address if isinstance(address, str) else "unknown"


def sign_out_button() -> None:
    if st.button(t("sign_out"), icon=":material/logout:", width="stretch"):
        if st.session_state.get("auth_mode") == "oidc":
            st.logout()
        for key in ("user_name", "conversation", "history"):
            st.session_state.pop(key, None)
        st.query_params.clear()
        st.session_state.set_cookie = ("", 0)
        st.session_state.signed_out = True
        st.rerun()


def flush_cookie() -> None:
    """Write (or clear) the session cookie asked for on the last run, in the browser."""
    pending = st.session_state.pop("set_cookie", None)
    if pending is None:
        return
    token, max_age = pending
    url = st.context.url
    secure = "; Secure" if isinstance(url, str) and url.startswith("https:") else ""
    cookie = f"{COOKIE}={token}; Path=/; Max-Age={max_age}; SameSite=Strict{secure}"
    st.html(
        f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True
    )


# --- single sign-on ---------------------------------------------------------------------------


def oidc_user(settings: Settings) -> User:
    st.session_state.auth_mode = "oidc"
    if not st.user.is_logged_in:
        st.title(t("title"))
        if st.button(t("sign_in_sso"), icon=":material/login:", type="primary"):
            st.login(settings.oidc_provider or None)
        st.stop()
    claims = st.user.to_dict()
    name = str(claims.get("email") or claims.get("preferred_username") or claims.get("sub"))
    groups = claims.get(settings.oidc_groups_claim) or []
    groups = [groups] if isinstance(groups, str) else [str(g) for g in groups]
    user = with_groups(User(name[:128], str(claims.get("name") or "")), groups)
    return User(user.name, user.display, user.groups, settings.oidc_admin_group in user.groups)
