"""Plain-text notes copied from web pages: the lines around the article, dropped; its title.

Staff paste articles from blogs and wikis into text files: a site's menu line, the title, a
date, a view counter, tags, then the paragraphs, then "previous / next" links, share buttons
and a copyright line. None of that is the article, and all of it would match many questions a
little (a menu names every topic; every page has a date). Pure functions: no I/O.
"""

from __future__ import annotations

import re

DATE = re.compile(
    r"\d{4}\s*[-/.年]\s*\d{1,2}(\s*[-/.月]\s*\d{1,2}\s*日?)?"
    r"|\d{1,2}:\d{2}(:\d{2})?"
    r"|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s*\d{4}",
    re.IGNORECASE,
)
DATE_WORDS = re.compile(
    r"发布于|发表于|更新于|最后更新|发布时间|更新时间|发布|发表|更新|时间|日期|"
    r"\b(posted|published|updated|last|modified|on|at|date)\b|[:：,，|·\s]",
    re.IGNORECASE,
)
COUNTER = re.compile(
    r"(阅读|浏览|访问|评论|点赞|收藏|喜欢|字数|阅读量|views?|reads?|comments?|likes?|words?)"
    r"\s*[:：(（]?\s*\d|\d[\d,.]*\s*[kKwW万千]?\+?\s*"
    r"(次阅读|人阅读|次浏览|阅读|浏览|views?|reads?|comments?|likes?)",
    re.IGNORECASE,
)
LABELLED = re.compile(
    r"^(标签|分类|专栏|类别|tags?|categor(y|ies)|filed under|上一篇|下一篇|上一页|下一页|"
    r"previous|next|prev|分享到|share( this)?|相关文章|related( posts)?|本文链接|原文链接|"
    r"permalink|友情链接|links)\s*[:：>»]",
    re.IGNORECASE,
)
COPYRIGHT = re.compile(
    r"©|\(c\)\s*\d{4}|copyright|版权所有|all rights reserved|ICP\s*备|powered by|本站由", re.I
)
URL = re.compile(r"https?://\S+|www\.\S+")
SEPARATORS = re.compile(r"\s*[|·•»>/]\s*|\s{2,}")
MAX_TITLE_CHARS = 80
MAX_CHROME_CHARS = 80  # a line of site chrome is short; a paragraph is not


def is_chrome(line: str) -> bool:
    """A line of the page around the article: a menu, a date, a counter, tags, navigation, a
    share or copyright line, or links alone."""
    text = line.strip()
    if not text or len(text) > MAX_CHROME_CHARS:
        return False
    if LABELLED.match(text) or COPYRIGHT.search(text):
        return True
    if not URL.sub("", text).strip(" -|·:：()（）[]"):
        return True  # links alone
    if DATE.search(text) and len(DATE_WORDS.sub("", DATE.sub("", text))) <= 2:
        return True  # a date (and time) with at most a label
    if DATE.search(text) and len(text) <= 60 and re.search(r"[|·•]", text):
        return True  # a byline: date | category | author
    if COUNTER.search(text) and len(text) <= 40:
        return True
    return is_menu(text)


def is_menu(text: str) -> bool:
    """Short items in a row, split by bars, dots, arrows or wide spaces: three or more all
    short, or four or more with at most one longer (the site's name before its menu)."""
    items = [item for item in SEPARATORS.split(text) if item]
    short = sum(len(item) <= 8 for item in items)
    return (len(items) >= 3 and short == len(items)) or (
        len(items) >= 4 and short >= len(items) - 1
    )


def is_title(line: str) -> bool:
    """A short line that does not end as a sentence or a clause does."""
    text = line.strip()
    ends = ("。", "；", ";", "，", ",", ".", ":", "：")
    return 0 < len(text) <= MAX_TITLE_CHARS and not text.endswith(ends)


def clean_notes(text: str) -> tuple[str, str]:
    """(title, body) of a page of notes: the site's lines dropped before the article's first
    paragraph and after its last (a short line inside the article stays, whatever it says),
    the title its first real short line."""
    lines = text.splitlines()
    long = [i for i, line in enumerate(lines) if len(line.strip()) > MAX_CHROME_CHARS]
    if not long:  # no article paragraph to frame: nothing here is the site around one
        return "", text.strip("\n")
    first, last = long[0], long[-1]
    kept = [line for i, line in enumerate(lines) if first <= i <= last or not is_chrome(line)]
    title = ""
    for index, line in enumerate(kept):
        if not line.strip():
            continue
        if is_title(line) and any(rest.strip() for rest in kept[index + 1 :]):
            title = line.strip()  # a title over text; a page of one line keeps its line
            kept = kept[index + 1 :]
        break
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")
    return title, body
