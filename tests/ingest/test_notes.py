"""Pages without headings (notes copied from the web) and pages titled only by their front
matter: what is kept, what is dropped, and what titles their chunks."""

from __future__ import annotations

from ingest.notes import clean_notes, is_chrome
from ingest.split import front_matter_title, split_markdown

PARAGRAPH = (
    "缓存读写策略有三种：旁路缓存模式、读写穿透和异步缓存写入。旁路缓存模式是平时使用最多的，"
    "写数据时先更新数据库，再直接删除缓存；读数据时先读缓存，读不到再读数据库并写回缓存。"
)
NOTE = f"""站点首页 | 归档 | 分类 | 标签 | 关于
缓存读写策略详解
2024年3月5日 10:20
阅读 (1,234)
标签：Redis 缓存

{PARAGRAPH}

写得很短的一行也是正文。

{PARAGRAPH.replace("三种", "3 种")}

上一篇：Redis 持久化
下一篇：分布式锁
© 2024 小站 版权所有
https://example.com/feed
"""


def test_site_lines_are_dropped_and_the_title_found():
    title, body = clean_notes(NOTE)
    assert title == "缓存读写策略详解"
    assert body.startswith("缓存读写策略有三种") and body.rstrip().endswith("写回缓存。")
    for gone in ("归档", "阅读 (1,234)", "标签：", "上一篇", "版权所有", "https://"):
        assert gone not in body, gone
    assert "写得很短的一行也是正文。" in body  # a short line inside the article stays


def test_chrome_lines_and_article_lines():
    chrome = ["首页 · 归档 · 搜索 · RSS", "Posted on 2021-10-21 | 分类于 网络", "👁 2.8k 次阅读",
              "Copyright © 2023 Someone", "下一篇：NoSQL 基础", "2023-01-05", "Views: 1024"]  # fmt: skip
    article = ["IP 地址负责网络层寻址。", "How do I reset my password?", "阅读这本书让我受益很多。"]
    assert all(is_chrome(line) for line in chrome), [x for x in chrome if not is_chrome(x)]
    assert not any(is_chrome(line) for line in article)


def test_a_note_is_split_on_paragraphs_under_its_title():
    chunks = split_markdown(NOTE, "notes/cache.txt", chunk_tokens=80, min_tokens=10)
    assert len(chunks) >= 2
    assert all(c.heading == "缓存读写策略详解" for c in chunks)
    assert not any("阅读 (1,234)" in c.text or "版权所有" in c.text for c in chunks)


def test_a_front_matter_title_heads_a_page_without_a_top_heading():
    yaml = '---\ntitle: "Rate limiting"\nkeywords: [a]\n---\n\nIntro.\n\n## Burst\n\nBurst text.\n'
    toml = '+++\ntitle = "限流"\nweight = 2\n+++\n\n## 突发\n\n突发流量的处理方式如下，排队等待。\n'
    assert front_matter_title(yaml) == "Rate limiting" and front_matter_title(toml) == "限流"
    headings = {c.heading for c in split_markdown(yaml, "a.md", min_tokens=0)}
    assert headings == {"Rate limiting", "Rate limiting > Burst"}
    zh = split_markdown(toml, "b.md", min_tokens=0)
    assert [c.heading for c in zh] == ["限流 > 突发"] and "+++" not in zh[0].text
    titled = "---\ntitle: Other\n---\n# Own title\n\nText here.\n"
    assert {c.heading for c in split_markdown(titled, "c.md", min_tokens=0)} == {"Own title"}


def test_a_note_of_one_line_keeps_it_as_its_text():
    line = "The fire drill this year is on the second Tuesday of May"
    chunks = split_markdown(line + "\n", "notes.txt")
    assert [(c.heading, c.text) for c in chunks] == [("", line)]
    body = "The body, " + "long enough to be a paragraph of an article and not a menu; " * 2
    assert clean_notes(f"Short title\n\n{body}\n") == ("Short title", body)
    assert clean_notes("Home | Blog | About\nShort lines only\n")[1].startswith("Home")
    assert split_markdown(NOTE, "notes/cache.md", min_tokens=0)[0].text.startswith("站点首页")
    assert clean_notes("A sentence, not a title.\nMore text.\n")[0] == ""
