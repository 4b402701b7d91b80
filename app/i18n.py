"""The page's words in English and Chinese: the browser's language by default, switchable."""

from __future__ import annotations

import streamlit as st

LANGUAGES = {"en": "English", "zh": "中文"}

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Ask the docs",
        "chat": "Chat",
        "feedback_page": "Feedback",
        "ask_placeholder": "Ask a question about the docs",
        "sign_in": "Sign in",
        "sign_in_sso": "Sign in with single sign-on",
        "sign_out": "Sign out",
        "user_name": "User name",
        "password": "Password",
        "signed_in_as": "Signed in as **{name}**",
        "model": "Model",
        "top_k": "Passages per answer (top-k)",
        "new_chat": "New chat",
        "search_chats": "Search chats",
        "no_chats": "No saved chats yet.",
        "rename": "Rename",
        "delete": "Delete chat",
        "save": "Save",
        "language": "Language",
        "index": "Index",
        "index_empty": "Empty: nothing ingested yet.",
        "index_line": "**{docs}** documents · **{chunks}** chunks  \nEmbedding model: `{model}`"
        "  \nLast ingest: {at}  \nIndex: `{where}`",
        "empty_index": "The index is empty. Run the ingest first: `make ingest` (or "
        "`python -m ingest`), or use **Admin: re-ingest docs** in the sidebar.",
        "no_model": "No language model configured: set `RAG_LLM` in `.env` (see README).",
        "retrieval_only": "Retrieval only (no model)",
        "reingest": "Admin: re-ingest docs",
        "reingest_button": "Re-ingest docs",
        "admin_password": "Admin password",
        "wrong_admin_password": "Wrong admin password.",
        "sources": "Sources",
        "relevance": "relevance",
        "open_section": "Open the section",
        "open_document": "Open the whole document",
        "source_title": "Source",
        "cited_passage": "The cited passage",
        "ingested": "Ingested {at}",
        "doc_missing": "The document is no longer in the docs folder.",
        "reasoning": "Reasoning",
        "stop": "Stop",
        "stopped": "Stopped.",
        "regenerate": "Regenerate",
        "edit": "Edit",
        "send": "Send",
        "copy": "Copy",
        "timing": "{model} · retrieval {retrieval} ms · first token {first} ms · total {total} ms",
        "no_model_label": "no model",
        "feedback_comment": "What was wrong? (optional)",
        "feedback_source": "The right source was… (optional)",
        "feedback_none": "None of these: the docs do not answer it",
        "feedback_send": "Send feedback",
        "feedback_thanks": "Thank you: your feedback reaches whoever keeps the docs.",
        "history_unavailable": "Chat history is unavailable: {error}",
        "chat_gone": "That conversation no longer exists.",
        "only_down": "Thumbs-down only",
        "export": "Download as eval questions (JSONL)",
        "no_feedback": "No feedback yet.",
        "admins_only": "Only admins can open this page.",
        "users_file_problem": "Users file: {problem}",
    },
    "zh": {
        "title": "向文档提问",
        "chat": "对话",
        "feedback_page": "反馈",
        "ask_placeholder": "就文档内容提问",
        "sign_in": "登录",
        "sign_in_sso": "单点登录",
        "sign_out": "退出登录",
        "user_name": "用户名",
        "password": "密码",
        "signed_in_as": "当前用户：**{name}**",
        "model": "模型",
        "top_k": "每个回答使用的段落数（top-k）",
        "new_chat": "新对话",
        "search_chats": "搜索对话",
        "no_chats": "还没有保存的对话。",
        "rename": "重命名",
        "delete": "删除对话",
        "save": "保存",
        "language": "语言",
        "index": "索引",
        "index_empty": "空：尚未导入任何文档。",
        "index_line": "**{docs}** 篇文档 · **{chunks}** 个段落  \n向量模型：`{model}`"
        "  \n上次导入：{at}  \n索引：`{where}`",
        "empty_index": "索引为空。请先导入文档：`make ingest`（或 `python -m ingest`），"
        "或使用侧边栏的 **管理员：重新导入文档**。",
        "no_model": "未配置语言模型：在 `.env` 中设置 `RAG_LLM`（见 README）。",
        "retrieval_only": "仅检索（不使用模型）",
        "reingest": "管理员：重新导入文档",
        "reingest_button": "重新导入文档",
        "admin_password": "管理员密码",
        "wrong_admin_password": "管理员密码错误。",
        "sources": "来源",
        "relevance": "相关度",
        "open_section": "打开所在章节",
        "open_document": "打开整篇文档",
        "source_title": "来源",
        "cited_passage": "被引用的段落",
        "ingested": "导入时间 {at}",
        "doc_missing": "文档已不在文档目录中。",
        "reasoning": "推理过程",
        "stop": "停止",
        "stopped": "已停止。",
        "regenerate": "重新生成",
        "edit": "编辑",
        "send": "发送",
        "copy": "复制",
        "timing": "{model} · 检索 {retrieval} 毫秒 · 首个字 {first} 毫秒 · 总计 {total} 毫秒",
        "no_model_label": "无模型",
        "feedback_comment": "哪里不对？（可选）",
        "feedback_source": "正确的来源是……（可选）",
        "feedback_none": "都不是：文档中没有答案",
        "feedback_send": "提交反馈",
        "feedback_thanks": "谢谢！您的反馈会转给维护文档的同事。",
        "history_unavailable": "对话记录不可用：{error}",
        "chat_gone": "该对话已不存在。",
        "only_down": "只看差评",
        "export": "下载为评测问题（JSONL）",
        "no_feedback": "还没有反馈。",
        "admins_only": "只有管理员可以打开此页面。",
        "users_file_problem": "用户文件：{problem}",
    },
}


def ui_language() -> str:
    """The language picked in the sidebar, else the browser's."""
    chosen = st.session_state.get("ui_lang")
    if chosen in LANGUAGES:
        return chosen
    locale = (st.context.locale or "") if hasattr(st, "context") else ""
    return "zh" if locale.lower().startswith("zh") else "en"


def t(key: str, **values: object) -> str:
    text = STRINGS[ui_language()][key]
    return text.format(**values) if values else text
