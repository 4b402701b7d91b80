"""The admins' feedback page: every thumbs up or down, filterable, exportable as eval questions."""

from __future__ import annotations

import json
from datetime import datetime

import streamlit as st

from accounts.chats import regression_questions
from app.chat import Page, admin_page
from app.i18n import t


def render(page: Page) -> None:
    if not admin_page(page, t("feedback_page")):
        return
    only_down = st.toggle(t("only_down"), value=True, key="only_down")
    items = page.chats.feedback(only_down=only_down)
    if not items:
        st.caption(t("no_feedback"))
        return
    rows = [
        {
            "when": datetime.fromtimestamp(f.created).strftime("%Y-%m-%d %H:%M"),
            "user": f.user,
            "thumbs": "👍" if f.thumbs else "👎",
            "question": f.question,
            "answer": f.answer[:300],
            "comment": f.comment,
            "right source": f.right_source or "",
            "model": f.model,
            "index version": f.index_version,
        }
        for f in items
    ]
    st.dataframe(rows, hide_index=True, width="stretch")  # cells are text, never markdown
    questions, _skipped = regression_questions(page.chats.feedback(only_down=True))
    body = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions)
    st.download_button(t("export"), body, "feedback-questions.jsonl", "application/jsonl")


if __name__ == "__main__":  # run by st.navigation as a page; app/main.py built the context
    render(st.session_state.page)
