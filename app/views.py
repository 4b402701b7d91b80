"""Streamlit widgets for the chat: rendering only, no prompts and no provider logic."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from contextlib import closing

import streamlit as st

from app.i18n import t
from prompts.templates import is_warning
from retrieval.answer import Answer, Found, Source
from retrieval.llm import Delta
from retrieval.store import Section
from retrieval.support import unlinked

MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>~$:|])")
LINE_START = re.compile(r"^(\s*)([#>+\-=]|\d+[.)])", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def plain(text: str) -> str:
    """User-typed text (a question, a comment, a title) shown as typed: markdown, HTML,
    links, colour and icon directives all escaped."""
    escaped = MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def passage_markdown(text: str) -> str:
    """A passage's markdown with its headings as small bold labels: a passage sits inside an
    answer, and a `# Heading` in it must not render as a page title larger than the answer
    (lines inside fenced code are left alone)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else HEADING.match(line)
        lines.append(f"**{heading.group(1)}**" if heading and heading.group(1) else line)
    return "\n".join(lines)


def source_label(source: Source) -> str:
    heading = source.heading or "(top of document)"
    page = f" · {t('page')} {source.pages}" if source.pages else ""
    return f"[{source.n}] {source.doc} › {heading}{page} · {t('relevance')} {source.relevance:.2f}"


def render_sources(sources: list[Source], on_open: Callable[[Source], None], key: str) -> None:
    """Numbered like the citations; each expands to its passage and opens its section."""
    if not sources:
        return
    st.caption(t("sources"))
    for source in sources:
        with st.expander(plain(source_label(source)), expanded=False):
            st.markdown(passage_markdown(source.text))
            if st.button(
                t("open_section"), key=f"{key}-open-{source.n}", icon=":material/article:"
            ):
                on_open(source)


def render_notice(notice: str) -> None:
    """A weak match or an unsupported answer is said plainly (a warning); other notices are
    small print."""
    notice = unlinked(notice)  # it may quote a URL the passages lack: never a link
    if is_warning(notice):
        st.warning(notice, icon=":material/help:")
    else:
        st.caption(f":material/info: {notice}")


def render_passages(answer: Answer) -> None:
    """Retrieval-only: each passage its own block, titled and numbered like the sources."""
    for notice in answer.notices:
        render_notice(notice)
    for source in answer.sources:
        with st.container(border=True):
            st.markdown(f"**{plain(source_label(source))}**")
            st.markdown(passage_markdown(source.text))


def render_reasoning(text: str) -> None:
    if text:
        with st.expander(t("reasoning"), expanded=False):
            st.markdown(unlinked(text))


def render_answer(answer: Answer) -> None:
    """A finished answer: reasoning (collapsed), answer or passage blocks, problems."""
    render_reasoning(answer.reasoning)
    if answer.status == "retrieval_only":
        render_passages(answer)
    elif answer.answer:  # a URL none of its cited passages holds is shown, not linked
        st.markdown(unlinked(answer.answer, [s.text for s in answer.sources if s.cited]))
    if answer.error:
        st.error(friendly(answer.error), icon=":material/error:")
    if answer.status != "retrieval_only":
        for notice in answer.notices:
            if notice not in answer.answer:
                render_notice(notice)


def render_timing(answer: Answer) -> None:
    if not answer.timings.total_ms:
        return
    timing = answer.timings
    st.caption(
        t(
            "timing",
            model=answer.model or t("no_model_label"),
            retrieval=f"{timing.retrieval_ms:,.0f}",
            first=f"{timing.first_token_ms:,.0f}" if timing.first_token_ms else "–",
            total=f"{timing.total_ms:,.0f}",
        )
    )


def stream_answer(events: Iterable[Found | Delta | Answer], progress: dict) -> Answer:
    """Show reasoning and answer as they stream, keeping the partial answer in `progress`
    (the page keeps it if the user stops), then redraw the finished answer."""
    reasoning_slot, answer_slot = st.empty(), st.empty()
    with closing(iter(events)) as stream:  # a stop closes the model's stream at once
        for event in stream:
            if isinstance(event, Answer):
                reasoning_slot.empty()
                answer_slot.empty()
                render_answer(event)
                return event
            if isinstance(event, Found):
                progress.update(sources=event.sources, query=event.query)
                continue
            progress[event.kind] = progress.get(event.kind, "") + event.text
            if event.kind == "reasoning":
                with reasoning_slot.container(), st.expander(f"{t('reasoning')}…"):
                    st.markdown(unlinked(progress["reasoning"]))
            else:  # not checked yet: no URL is a link until the finished answer is
                answer_slot.markdown(unlinked(progress["answer"]) + " ▌")
    raise RuntimeError("the answer ended without a result")


def render_section(section: Section, cited: str) -> None:
    """A source's whole section in reading order, the cited passage highlighted."""
    st.caption(t("ingested", at=section.ingested_at or "?"))
    for passage in section.passages:
        if passage.text == cited:
            st.info(passage_markdown(passage.text), icon=":material/format_quote:")
        else:
            st.markdown(passage_markdown(passage.text))


def retry_soon(seconds: float = 3.0) -> None:
    """End this run and run the page again shortly (a notice stays up meanwhile)."""
    time.sleep(seconds)
    st.rerun()


def friendly(message: str) -> str:
    """Start error messages with a capital letter, as sentences."""
    return message[:1].upper() + message[1:]
