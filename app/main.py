"""The staff chat: `streamlit run app/main.py`. Thin pages over retrieval's answer pipeline.

Every run: settings, then who is asking (the sign-in page stops the run), then the index and
the chat store, then the page the URL names (the feedback and doc-gap pages for admins
only).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `streamlit run` adds app/ only

import streamlit as st  # noqa: E402

from app import auth, chat, services, sidebar, views  # noqa: E402
from app.i18n import t  # noqa: E402

log = logging.getLogger("app")

st.set_page_config(page_title="Docs QA", page_icon=":material/menu_book:", layout="centered")


def open_backend(settings, user):
    """The shared index connection; while it cannot be reached yet (its server starting, a
    transient failure), staff see a notice and the page retries: never an error page.
    What went wrong goes to the log, and to admins."""
    try:
        return services.backend(settings.fingerprint(), settings)
    except Exception as exc:  # the page must explain, never show a traceback
        log.exception("cannot open the index (retrying)")
        st.info(t("index_starting"), icon=":material/hourglass_top:")
        if user.admin:
            st.caption(views.plain(views.friendly(str(exc))))
        views.retry_soon()


def main() -> None:
    settings = services.settings()
    user = auth.current_user(settings)
    back = open_backend(settings, user)
    page = chat.Page(settings, user, back, services.chat_store(settings))
    st.session_state.setdefault("history", [])
    chat.open_conversation(page)
    model, k = sidebar.draw(page)
    pages = [st.Page(lambda: chat.render(page, model, k), title=t("chat"), url_path="chat",
                     icon=":material/forum:", default=True)]  # fmt: skip
    if user.admin and page.chats is not None:
        st.session_state.page = page  # what the page file reads
        pages.append(st.Page("feedback_page.py", title=t("feedback_page"),
                             url_path="feedback", icon=":material/reviews:"))  # fmt: skip
        pages.append(st.Page("gaps_page.py", title=t("gaps_page"),
                             url_path="gaps", icon=":material/troubleshoot:"))  # fmt: skip
    st.navigation(pages, position="top" if len(pages) > 1 else "hidden").run()


main()
