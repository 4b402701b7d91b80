"""A docs folder as an admin's share fills it: names no tool should have written, the legacy
encodings Chinese offices still use, and every broken kind of file. No file stops a sync.

A fixed regression folder of 30+ kinds runs through the real `python -m ingest`; a property
test throws random names, contents and file types at the scan that every ingest starts with.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.pipeline import name_problem, printable, scan
from ingest.reader_base import DocError, decode
from tests.conftest import run_cli
from tests.ingest import officegen

LEAVE_ZH = "全职员工每年享有十五天带薪年假，试用期结束后开始计算。"
GOOD = "# Leave\n\nEvery employee gets 27 days of paid annual leave per year.\n"


def b(path: Path) -> bytes:
    return os.fsencode(path)


def write(folder: Path, name: bytes | str, data: bytes | str) -> None:
    raw = name if isinstance(name, bytes) else name.encode()
    target = os.path.join(os.fsencode(folder), raw)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as out:
        out.write(data if isinstance(data, bytes) else data.encode())


def awkward_folder(root: Path) -> dict[str, str]:
    """The regression folder; returns what each good file must make searchable."""
    root.mkdir(parents=True, exist_ok=True)
    good = {
        "good.md": "27 days of paid annual leave",
        "zh/gbk.txt": "带薪年假",
        "zh/gb2312.html": "报销单据",
        "zh/utf16.md": "值班电话",
        "zh/big5.txt": "會議室",
        "zh/sjis.txt": "会議室予約",
        "zh/bom.md": "门禁卡",
        "deep/" + "/".join(f"d{i}" for i in range(40)) + "/deep.md": "deep folder",
        "page.rst": "restructured",
        "script.html": "visible words",
    }
    write(root, "good.md", GOOD)
    write(root, "zh/gbk.txt", ("带薪年假：" + LEAVE_ZH).encode("gbk"))
    html = '<html><head><meta charset="gb2312"></head><body><h1>报销</h1>'
    html += "<p>报销单据请在月底前提交。</p>"
    write(root, "zh/gb2312.html", (html + "</body></html>").encode("gb2312"))
    write(root, "zh/utf16.md", "# 值班\n\n值班电话是 8123。\n".encode("utf-16"))
    write(root, "zh/big5.txt", "會議室預訂請在三天前完成。".encode("big5"))
    write(root, "zh/sjis.txt", "会議室予約は三日前までにお願いします。".encode("shift_jis"))
    write(root, "zh/bom.md", "\ufeff# 门禁\n\n门禁卡丢失请联系前台。\n".encode())
    write(root, next(iter(k for k in good if k.startswith("deep/"))), "# Deep\n\ndeep folder\n")
    write(root, "page.rst", "Title\n=====\n\nrestructured text body.\n")
    write(root, "script.html", "<p>visible words</p><script>alert('x')</script>")
    # the bad ones: names
    write(root, b"bad\xff\xfename.md", GOOD.replace("27", "28"))
    write(root, b"zh/\xb0\xec\xb9\xab.md", "# GBK name\n\nnamed in GBK bytes\n")  # 办公 in GBK
    write(root, "new\nline.md", "# x\n\nnewline in the name\n")
    write(root, "tab\there.md", "# x\n\ntab in the name\n")
    write(root, "esc\x1bname.md", "# x\n\nescape in the name\n")
    write(root, "long/" + "n" * 200 + "/" + "m" * 200 + "/" + "o" * 200 + "/" + "p" * 200 + "/"
          + "q" * 200 + ".md", "# long\n\nlong path\n")  # fmt: skip
    # the bad ones: contents
    write(root, "binary.md", bytes(range(256)) * 4)
    write(root, "nul.txt", b"text\x00with nul")
    write(root, "garbage.txt", bytes([0x80, 0xFF, 0xFE, 0x81, 0x00 + 0x7F]) * 300)
    write(root, "empty.md", "")
    write(root, "blank.md", "   \n\n")
    write(root, "truncated.pdf", b"%PDF-1.4\n1 0 obj\n<<")
    write(root, "zero.pdf", b"")
    write(root, "notzip.docx", b"this is not a zip")
    write(root, "bad-utf16.md", b"\xff\xfe" + b"\x00\xd8")  # a lone surrogate
    write(root, "huge.md", b"# big\n\n" + b"x" * 6_000_000)
    book = officegen.xlsx(root.parent / "book.xlsx", {"S": [["name", "room"]] * 40}).read_bytes()
    write(root, "truncated.xlsx", book[: len(book) // 2])
    write(root, "photo.png", b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 20)
    deck = officegen.pptx(root.parent / "deck.pptx", [{"title": "Secret plans"}])
    write(root, "locked.pptx", officegen.encrypted(root.parent / "locked.pptx", deck).read_bytes())
    # the bad ones: types
    os.mkfifo(root / "fifo.md")
    (root / "folder.md").mkdir()
    (root / "loop.md").symlink_to(root / "loop.md")
    (root / "broken.md").symlink_to(root / "missing-target.md")
    outside = root.parent / "outside.md"
    outside.write_text("# Outside\n\nnot in the docs folder\n")
    (root / "escape.md").symlink_to(outside)
    (root / "linked-folder").symlink_to(root / "zh", target_is_directory=True)
    write(root, "closed/.access", "no such group!\n")
    write(root, "closed/secret.md", "# Secret\n\nclosed folder\n")
    return good


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    root = tmp_path_factory.mktemp("awkward") / "docs"
    good = awkward_folder(root)
    return root, good


def test_the_awkward_folder_syncs_and_reports_every_bad_file(awkward, tmp_path):
    root, good = awkward
    db = str(tmp_path / "awkward.db")
    result = run_cli("-m", "ingest", str(root), "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    failed = {f["path"]: f["error"] for f in report["docs_failed"]}
    assert failed["bad\\xff\\xfename.md"].startswith("file name is not valid UTF-8")
    assert "zh/\\xb0칫.md" in failed  # its last three bytes happen to be valid UTF-8
    assert "control characters" in failed["new\\nline.md"]
    assert "tab\\there.md" in failed and "esc\\x1bname.md" in failed
    assert any("path too long" in why for why in failed.values())
    for name in ("binary.md", "nul.txt", "garbage.txt", "empty.md", "blank.md", "truncated.pdf",
                 "zero.pdf", "notzip.docx", "bad-utf16.md", "huge.md", "fifo.md", "loop.md",
                 "broken.md", "escape.md", "linked-folder", "truncated.xlsx", "photo.png",
                 "locked.pptx"):  # fmt: skip
        assert name in failed, (name, failed)
    assert "re-save it as UTF-8" in failed["garbage.txt"]
    assert "limit" in failed["huge.md"]
    assert "XLSX" in failed["truncated.xlsx"] and "not a readable image" in failed["photo.png"]
    assert "password-protected PPTX" in failed["locked.pptx"]
    assert any(path.startswith("closed") for path in failed)
    assert all(path.isprintable() for path in failed)
    decoded = {d["path"]: d["encoding"] for d in report["docs_decoded"]}
    assert decoded["zh/gbk.txt"] == "gb18030" and decoded["zh/gb2312.html"] == "gb18030"
    assert decoded["zh/big5.txt"] == "big5" and decoded["zh/sjis.txt"] == "shift_jis"
    assert decoded["zh/utf16.md"] == "utf-16"
    assert report["docs_added"] == len(good) + 1  # the closed folder's file is kept, for admins
    for doc, words in good.items():  # stored as the right text, and found by its words
        found = run_cli("-m", "retrieval", words, "--db", db, "--k", "10", "--json")
        assert found.returncode == 0, found.stderr
        texts = {hit["doc"]: hit["text"] for hit in json.loads(found.stdout)}
        assert words in texts.get(doc, ""), (doc, list(texts))


def test_legacy_encodings_are_read_and_mojibake_is_refused():
    text = "带薪年假每年十五天，试用期结束后计算。"
    assert decode(text.encode("gbk")) == text and decode(text.encode("gbk")).encoding == "gb18030"
    assert decode(text.encode("gb18030")) == text
    assert decode(("\ufeff" + text).encode()) == text
    assert decode(text.encode("utf-16")) == text
    declared = decode(text.encode("gb2312"), "gb2312")
    assert declared == text and declared.encoding == "gb18030"
    with pytest.raises(DocError, match="re-save it as UTF-8"):
        decode(bytes([0x80, 0xFF, 0x81, 0xFE]) * 200)


def test_printable_names():
    assert printable(os.fsdecode(b"bad\xff\xfename.md")) == "bad\\xff\\xfename.md"
    assert printable("new\nline\t.md") == "new\\nline\\t.md"
    assert printable("年假.md") == "年假.md"
    assert name_problem(os.fsdecode(b"\xff.md")) and not name_problem("年假/政策.md")


NAME_BYTES = st.binary(min_size=1, max_size=40).filter(
    lambda n: b"/" not in n and b"\x00" not in n and n not in (b".", b"..")
)
CONTENT = st.one_of(
    st.binary(max_size=2_000),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"%PDF-1.4\n", b"PK\x03\x04", b"\xff\xfe\x00\xd8", b"", b"\x00"]),
    st.text(alphabet="带薪年假办公室會議", max_size=80).map(lambda t: t.encode("gbk", "ignore")),
)
KIND = st.sampled_from(["file", "file", "file", "fifo", "dir", "loop", "broken"])
SUFFIX = st.sampled_from(
    [".md", ".txt", ".html", ".pdf", ".docx", ".rst", ".xlsx", ".csv", ".pptx", ".png", ".tif"]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(NAME_BYTES, SUFFIX, CONTENT, KIND), min_size=1, max_size=12))
def test_random_folders_never_stop_a_scan_or_lose_the_good_file(tmp_path_factory, entries):
    root = tmp_path_factory.mktemp("random") / "docs"
    root.mkdir()
    write(root, "good.md", GOOD)
    made = 1
    for name, suffix, content, kind in entries:
        target = os.path.join(os.fsencode(root), b"x" + name + suffix.encode())
        if os.path.lexists(target):
            continue
        if kind == "file":
            Path(os.fsdecode(target)).write_bytes(content)
        elif kind == "fifo":
            os.mkfifo(target)
        elif kind == "dir":
            os.mkdir(target)
            continue  # a folder named x.md is not a document
        elif kind == "loop":
            os.symlink(target, target)
        else:
            os.symlink(target + b".missing", target)
        made += 1
    docs, failed = scan(root, 5_000_000)
    assert "good.md" in {d.path for d in docs}  # the good file beside them is never lost
    assert len(docs) + len(failed) == made  # every other file is read or reported, none lost
    for doc in docs:
        doc.path.encode("utf-8")  # what reaches the index is clean text
        doc.text.encode("utf-8")
    assert all(f.path.isprintable() and f.error for f in failed)
