from ingest.split import sections, split_hash, split_markdown, strip_front_matter
from retrieval.tokens import estimate_tokens

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
