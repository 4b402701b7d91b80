"""The admins' doc-gap page: where the docs fall short over a period, grouped by meaning, and
each gap made an eval question once a page answers it (accounts/gaps.py does the work)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import streamlit as st

from accounts import gaps
from app.chat import Page, admin_page
from app.i18n import t
from app.views import plain

NOT_IN_DOCS = "\0not-in-docs"  # the pick "the docs should not answer it"


def render(page: Page) -> None:
    if not admin_page(page, t("gaps_page")):
        return
    st.caption(t("gaps_about"))
    since, until = chosen_period()
    show_names = not st.toggle(t("gaps_hide_names"), key="gaps_hide_names")
    viewer = gaps.Viewer(admin=True, readable=None, show_names=show_names)  # admins read all
    found = gaps.report(grouped(page, since, until), viewer)
    if found:
        gap_table(page, found)
    else:
        st.caption(t("gaps_none"))
    made = page.chats.gap_questions()
    st.download_button(t("gaps_eval_download", n=len(made)), gaps.eval_jsonl(made),
                       "gap-questions.jsonl", "application/jsonl", key="gaps_jsonl")  # fmt: skip


def gap_table(page: Page, found: list[gaps.Gap]) -> None:
    """The gaps as a table (cells are text, never markdown), its CSV, and one expander each."""
    st.dataframe(gaps.table_rows(found), hide_index=True, width="stretch")
    csv = gaps.csv_text(found).encode("utf-8-sig")  # the BOM: Excel then reads Chinese
    st.download_button(t("gaps_download"), csv, "doc-gaps.csv", "text/csv", key="gaps_csv")
    kept = {q.question: q for q in page.chats.gap_questions()}
    documents = indexed_documents(page)
    for gap in found:
        gap_details(page, gap, kept.get(gap.question), documents)


def chosen_period() -> tuple[float, float]:
    """The days picked (the last 7 by default), as whole local days: a stable cache key."""
    today = date.today()
    picked = st.date_input(t("gaps_period"), (today - timedelta(days=6), today),
                           max_value=today, key="gaps_period")  # fmt: skip
    days = picked if isinstance(picked, tuple) else (picked,)
    start = days[0] if days else today - timedelta(days=6)
    return gaps.period(start, days[-1] if days else today)


def grouped(page: Page, since: float, until: float) -> list[list[gaps.GapItem]]:
    """The period's questions grouped, recomputed only when the chat store has changed."""
    embedder = page.back.retriever.embedder
    return _grouped(str(page.chats.path), since, until, page.chats.revision(), embedder.name,
                    _store=page.chats, _embedder=embedder)  # fmt: skip


@st.cache_data(ttl=3600, max_entries=16, show_spinner=False)
def _grouped(path: str, since: float, until: float, revision: tuple, model: str, _store,
             _embedder) -> list[list[gaps.GapItem]]:  # fmt: skip
    return gaps.group(gaps.gap_items(_store, since, until), _embedder)


def indexed_documents(page: Page) -> list[str]:
    info = page.back.status()
    return _documents(page.back.uri, info.version if info else 0, _back=page.back)


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def _documents(uri: str, version: int, _back) -> list[str]:
    return sorted(_back.retriever.store.docs())


def gap_details(page: Page, gap: gaps.Gap, kept, documents: list[str]) -> None:
    """A gap's wordings and closest pages, and the form that makes it an eval question."""
    key = "gap-" + hashlib.sha256(gap.question.encode()).hexdigest()[:12]
    with st.expander(plain(f"{gap.count} × {gap.question}")):
        st.caption(t("gaps_questions"))
        st.text("\n".join(gap.questions))
        if gap.asked_as:
            st.caption(t("gaps_asked_as"))
            st.text("\n".join(gap.asked_as))
        if gap.closest:
            st.caption(t("gaps_closest"))
            st.text(gaps.counted(gap.closest))
        if kept:
            st.caption(t("gaps_kept", page=plain(kept.doc or t("gaps_not_in_docs"))))
        eval_form(page, gap, key, documents)


def eval_form(page: Page, gap: gaps.Gap, key: str, documents: list[str]) -> None:
    with st.form(key):
        picked = st.selectbox(t("gaps_answered_by"), [None, NOT_IN_DOCS, *documents],
                              format_func=_doc_label, key=f"{key}-doc")  # fmt: skip
        typed = st.text_input(t("gaps_or_path"), key=f"{key}-path")
        heading = st.text_input(t("gaps_heading"), key=f"{key}-heading")
        if not st.form_submit_button(t("gaps_make_eval"), key=f"{key}-make"):
            return
    doc = typed.strip() or picked
    if not doc:
        st.warning(t("gaps_need_page"))
        return
    answered_by = None if doc == NOT_IN_DOCS else doc
    page.save(lambda store, user: gaps.keep_eval_question(store, user, gap, answered_by, heading))
    st.rerun()


def _doc_label(doc: str | None) -> str:
    if doc is None:
        return t("gaps_pick")
    return t("gaps_not_in_docs") if doc == NOT_IN_DOCS else doc


if __name__ == "__main__":  # run by st.navigation as a page; app/main.py built the context
    render(st.session_state.page)
