from ingest.split import sections, split_hash, split_markdown, strip_front_matter
from retrieval.tokens import estimate_tokens, language

DOC = """---
title: Runbook
owner: it
---
# Install

Intro paragraph that is long enough to stand on its own as a chunk of text here.

## Linux

```bash
# this is a comment, not a heading
apt-get install -y openconnect
    indented line stays indented
```

### Troubleshooting

If the tunnel drops, restart the service and check the logs for TLS errors.
"""


def test_front_matter_is_dropped():
    assert strip_front_matter(DOC).startswith("# Install")
    assert "owner: it" not in " ".join(c.text for c in split_markdown(DOC, "a.md"))


def test_hash_inside_fence_is_not_a_heading():
    paths = [s.path for s in sections(strip_front_matter(DOC))]
    assert ("Install", "Linux", "Troubleshooting") in paths
    assert not any("this is a comment" in " ".join(p) for p in paths)


def test_heading_paths_and_code_indentation_kept():
    chunks = split_markdown(DOC, "it/vpn.md", min_tokens=0)
    by_heading = {c.heading: c for c in chunks}
    assert set(by_heading) == {"Install", "Install > Linux", "Install > Linux > Troubleshooting"}
    assert "    indented line stays indented" in by_heading["Install > Linux"].text
    assert all(c.doc == "it/vpn.md" for c in chunks)
    assert by_heading["Install > Linux"].embed_text.startswith("Install > Linux\n")


def test_tiny_sections_merge_into_parent_path():
    text = "# A\n\nshort\n\n## B\n\nalso short\n\n## C\n\n" + "long words here " * 200
    chunks = split_markdown(text, "d.md", chunk_tokens=200, min_tokens=40)
    assert chunks[0].heading == "A"
    assert "## B" in chunks[0].text and "also short" in chunks[0].text


def test_long_section_is_split_with_overlap_under_limit():
    sentences = " ".join(f"Sentence number {i} talks about backups." for i in range(300))
    chunks = split_markdown(
        f"# Backups\n\n{sentences}", "b.md", chunk_tokens=120, overlap_tokens=20
    )
    assert len(chunks) > 5
    assert all(estimate_tokens(c.text) <= 120 for c in chunks)
    assert all(c.heading == "Backups" for c in chunks)
    first_words = chunks[1].text.split()[:3]
    assert " ".join(first_words) in chunks[0].text  # overlap: the next piece repeats the tail


def test_hash_mode_matches_tutorial_split():
    text = "# One\nalpha\n# Two\nbeta\n\n## Sub\ngamma"
    expected = [p for p in text.split("# ") if p.strip()]
    assert [c.text for c in split_hash(text, "x.md")] == expected


def test_duplicate_passages_are_deduplicated():
    text = "# Same\n\nrepeated text\n\n# Same\n\nrepeated text\n"
    assert len(split_markdown(text, "x.md", min_tokens=0)) == 1


def test_cjk_counts_one_token_per_character():
    assert estimate_tokens("数据库备份") == 5
    assert estimate_tokens("abcdefgh") == 2


FAQ = """# Billing FAQ

## Refunds

### Can I get a refund after upgrading?

Yes, within 14 days.

### How do I cancel an add-on?

Open Settings > Add-ons and press Remove.

### 能开发票吗？

可以，在账单页面下载。

## Plans

Three plans exist.

### Limits

Free has 3 seats.
"""


def test_question_entries_are_never_merged_but_other_small_sections_are():
    chunks = split_markdown(FAQ, "faq.md", min_tokens=40, keep_questions=True)
    headings = [c.heading for c in chunks]
    # the headings above take part in the first entry, the next entry stays apart
    assert "## Refunds" in chunks[0].text and "within 14 days" in chunks[0].text
    assert "add-on" not in chunks[0].text
    assert headings[1:3] == [
        "Billing FAQ > Refunds > How do I cancel an add-on?",
        "Billing FAQ > Refunds > 能开发票吗？",
    ]
    # the small non-question sections still merge ("Plans" intro with its "Limits")
    assert headings[3] == "Billing FAQ > Plans" and "### Limits" in chunks[3].text
    merged = split_markdown(FAQ, "faq.md", min_tokens=40)
    assert len(merged) < len(chunks)
    assert all(c.lang == "en" for c in chunks)


def test_chunks_carry_their_documents_language():
    text = "# 部署\n\n用 Helm 安装服务端，副本数建议设为三个：\n\n```yaml\nreplicas: 3\n```\n"
    chunks = split_markdown(text * 3, "zh.md", min_tokens=0, chunk_tokens=32)
    assert language("```yaml\nreplicas: 3\nimage: zhiji/server:2.4\n```") == "en"
    assert {c.lang for c in chunks} == {"zh"}


def test_a_chinese_page_of_commands_and_config_is_a_chinese_page():
    """A page's language is read from its prose: fenced code, inline code, links and HTML do
    not make a Chinese page of YAML and shell English (it would be searched as English)."""
    from retrieval.tokens import page_language

    code = "```yaml\n" + "\n".join(f"listen_port_{i}: 9080 # proxy http port" for i in range(40))
    text = (
        "# 配置 TLS\n\n在 broker 上开启 TLS，修改配置文件后重启：\n\n"
        f"{code}\n```\n\n运行 `mqadmin updateTopic -n localhost:9876 -t TopicTest` 查看，"
        "详见 <a href='https://rocketmq.apache.org/docs/tls'>官方文档</a>。\n"
        "~~~\nshell commands in English here, many many words of them\n~~~\n"
    )
    assert language(text) == "en"  # counting every word, the code outweighs the prose
    assert page_language(text) == "zh"
    assert {c.lang for c in split_markdown(text, "tls.md")} == {"zh"}
    assert page_language("# Deploy\n\nRun the 安装 script, then restart.\n\n```\n配置\n```") == "en"
    assert page_language("```\nonly: code\n```") == "en"  # nothing but code: read whole
