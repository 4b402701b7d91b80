"""Streamlit widgets for the chat: rendering only, no prompts and no provider logic."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from retrieval.answer import Answer, Source
from retrieval.llm import Delta


def source_label(source: Source) -> str:
    heading = source.heading or "(top of document)"
    return f"[{source.n}] {source.doc} › {heading} · score {source.score:.2f}"


def render_sources(sources: list[Source]) -> None:
    """Numbered like the citations; each expands to the passage (markdown, HTML not rendered)."""
    if not sources:
        return
    st.caption("Sources")
    for source in sources:
        with st.expander(source_label(source), expanded=False):
            st.markdown(source.text)


def render_reasoning(text: str) -> None:
    if text:
        with st.expander("Reasoning", expanded=False):
            st.markdown(text)


def render_answer(answer: Answer) -> None:
    """A finished answer: reasoning (collapsed), answer, problems, sources."""
    render_reasoning(answer.reasoning)
    if answer.answer:
        st.markdown(answer.answer)
    if answer.error:
        st.error(friendly(answer.error), icon=":material/error:")
    for notice in answer.notices:
        if notice not in answer.answer:
            st.caption(f":material/info: {notice}")
    render_sources(answer.sources)


def stream_answer(events: Iterable[Delta | Answer]) -> Answer:
    """Show reasoning and answer as they stream, then redraw the finished answer."""
    reasoning_slot = st.empty()
    answer_slot = st.empty()
    reasoning, text = "", ""
    for event in events:
        if isinstance(event, Answer):
            reasoning_slot.empty()
            answer_slot.empty()
            render_answer(event)
            return event
        if event.kind == "reasoning":
            reasoning += event.text
            with reasoning_slot.container(), st.expander("Reasoning…", expanded=False):
                st.markdown(reasoning)
        else:
            text += event.text
            answer_slot.markdown(text + " ▌")
    raise RuntimeError("the answer ended without a result")


def friendly(message: str) -> str:
    """Start error messages with a capital letter, as sentences."""
    return message[:1].upper() + message[1:]
