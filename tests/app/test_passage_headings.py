"""Headings inside a passage are small bold labels, not page titles larger than the answer."""

from __future__ import annotations

from app.views import passage_markdown


def test_headings_become_bold_labels_and_the_rest_stays():
    text = "# Annual leave\nStaff get **27 days**.\n  ### Carry-over ###\n- up to 5 days\n#hashtag"
    assert passage_markdown(text).splitlines() == [
        "**Annual leave**", "Staff get **27 days**.", "**Carry-over**", "- up to 5 days",
        "#hashtag",  # no space: not a heading in markdown either
    ]  # fmt: skip


def test_code_keeps_its_comment_lines_and_chinese_headings_too():
    text = "## 年假\n```bash\n# reset the VPN\nvpn reset\n```\n#### 结转"
    assert passage_markdown(text).splitlines() == [
        "**年假**", "```bash", "# reset the VPN", "vpn reset", "```", "**结转**",
    ]  # fmt: skip
    assert passage_markdown("#\nno title") == "#\nno title"  # an empty heading is left alone
