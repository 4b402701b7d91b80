"""OCR speed, memory and accuracy on scans made here from known text: A4 pages of Chinese or
English sentences drawn with the Noto CJK font (Simplified Chinese face) at 10.5 pt, rendered at
150 and 300 dpi, plain or 'rough' (turned 1.5 degrees, speckled, saved as a JPEG at quality 60),
each read through the ingest's own path (`ingest.ocr`: RapidOCR, reading order, paragraphs).
CER is the edit distance over the known text with all whitespace removed (PP-OCR drops some
spaces between English words; spacing is not what a search depends on). Speed is pages per
second on this machine's cores; memory is the peak RSS of a child process that reads a 50-page
300 dpi scanned PDF with `PdfReader` (OCR included), once for each long side the pictures are
scaled to (`ingest.ocr.MAX_SIDE`: 2,000 was RapidOCR's default, 1,600 ours), each with the
scan's CER beside its peak. Goals: Chinese CER <= 3% at 300 dpi and <= 6% at 150 dpi, the
50-page scan under 600 MB.

    python -m bench.ocr [--pages N] [--scan-pages 50] [--sides 2000,1600] [--no-accuracy]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SIMPLIFIED = 2  # the font file's Simplified Chinese face
ZH_WORDS = str.split(
    "员工 每年 享有 带薪 年假 申请 需要 提前 两周 在 系统 中 提交 部门 经理 审批 后 生效 "
    "报销 单据 请 于 月底 前 交 财务 办公室 门禁卡 遗失 应 立即 联系 前台 补办 会议室 预订 "
    "仓库 货物 出库 运输 司机 路线 安排 客户 合同 签署 盖章 归档 数据 备份 服务器 每周 "
    "检查 一次 安全 培训 新 入职 必须 参加 考核 通过 方可 上岗 通知 自 三月 起 执行"
)
EN_WORDS = str.split(
    "employees receive paid annual leave requests must be submitted two weeks ahead in the "
    "system after the manager approves them expense claims go to finance before the month "
    "ends lost badges are replaced at reception meeting rooms warehouse shipments leave on "
    "schedule drivers follow the route customers sign contracts backups run every week"
)
A4_INCHES = (8.27, 11.69)


def sentences(lang: str, count: int, seed: int) -> list[str]:
    """`count` lines of known text that fill a page's width at 10.5 pt."""
    rng = random.Random(seed)
    words, width, join = (ZH_WORDS, 34, "") if lang == "zh" else (EN_WORDS, 70, " ")
    lines = []
    for _ in range(count):
        line = ""
        while len(line) < width:
            line = (line + join + rng.choice(words)).strip()
        lines.append(line + ("。" if lang == "zh" else "."))
    return lines


def page(lines: list[str], dpi: int, rough: bool, seed: int = 0):
    """An A4 page at `dpi` with `lines` at 10.5 pt; rough: turned, speckled, JPEG-saved."""
    from PIL import Image, ImageDraw, ImageFont

    size = round(10.5 / 72 * dpi)
    width, height = (round(x * dpi) for x in A4_INCHES)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, size, index=SIMPLIFIED)
    margin = dpi  # one inch
    for n, line in enumerate(lines):
        draw.text((margin, margin + n * size * 1.9), line, font=font, fill=0)
    if rough:
        image = image.rotate(1.5, resample=Image.BICUBIC, fillcolor=255)
        rng = random.Random(seed)
        pixels = image.load()
        for _ in range(width * height // 400):  # 0.25% speckles
            x, y = rng.randrange(width), rng.randrange(height)
            pixels[x, y] = rng.choice((0, 255))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=60)
        image = Image.open(io.BytesIO(out.getvalue()))
    return image.convert("RGB")


def cer(truth: str, read: str) -> float:
    """Character error rate: edit distance / known length, whitespace removed from both."""
    a, b = "".join(truth.split()), "".join(read.split())
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (char != other)))  # fmt: skip
        previous = current
    return previous[-1] / max(len(a), 1)


def accuracy(pages: int) -> list[dict]:
    """CER and seconds a page for each language x dpi x plain/rough, over `pages` pages."""
    from ingest.ocr import engine, page_text, recognise

    engine()  # loaded once, outside the timings
    rows = []
    for lang in ("zh", "en"):
        for dpi in (150, 300):
            for rough in (False, True):
                errors, seconds = [], 0.0
                for n in range(pages):
                    lines = sentences(lang, 30, seed=n)
                    image = page(lines, dpi, rough, seed=n)
                    started = time.perf_counter()
                    text = page_text(recognise(image))
                    seconds += time.perf_counter() - started
                    errors.append(cer("".join(lines), text))
                rows.append({"lang": lang, "dpi": dpi, "rough": rough, "pages": pages,
                             "cer": sum(errors) / len(errors),
                             "pages_per_s": pages / seconds})  # fmt: skip
    return rows


def scan_lines(n: int) -> list[str]:
    """The known text of page n of the memory scan (Chinese and English pages in turn)."""
    return sentences("zh" if n % 2 else "en", 30, seed=100 + n)


def scanned_pdf(path: Path, pages: int, dpi: int) -> None:
    """A PDF of `pages` JPEG scans (Chinese and English pages in turn)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    doc = canvas.Canvas(str(path))
    for n in range(pages):
        image = page(scan_lines(n), dpi, rough=True, seed=n)
        width, height = image.width * 72 / dpi, image.height * 72 / dpi
        doc.setPageSize((width, height))
        doc.drawImage(ImageReader(image), 0, 0, width, height)
        doc.showPage()
    doc.save()


def child_read(path: str, pages: int, side: int) -> None:
    """In a child process: read the scanned PDF as the ingest does, pictures scaled to `side`;
    print time, peak RSS and the text."""
    import resource

    import ingest.ocr
    from ingest.formats import PdfReader
    from ingest.ocr import OcrOptions

    ingest.ocr.MAX_SIDE = side  # read when the engine is first loaded

    started = time.perf_counter()
    text = PdfReader(OcrOptions(max_pages=pages, max_seconds=1e9)).read(Path(path).read_bytes())
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "text": str(text),
                      "ocr_pages": text.ocr_pages}))  # fmt: skip


def scan_cer(text: str) -> float:
    """Mean CER over the scan's pages (split at the reader's page marks)."""
    from ingest.formats import PAGE_MARK_RE

    read = PAGE_MARK_RE.split(text)[2::2]  # [before, "1", page 1, "2", page 2, ...]
    known = ["".join(scan_lines(n)) for n in range(len(read))]
    return sum(cer(a, b) for a, b in zip(known, read, strict=True)) / max(len(read), 1)


def memory(pages: int, sides: tuple[int, ...] = (2000, 1600), dpi: int = 300) -> list[dict]:
    """The scan read in a child process once per picture side: peak RSS and CER of each."""
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scan.pdf"
        scanned_pdf(path, pages, dpi)
        size_mb = path.stat().st_size / 1e6
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        for side in sides:
            out = subprocess.run(
                [sys.executable, "-m", "bench.ocr", "--child", str(path), "--scan-pages",
                 str(pages), "--sides", str(side)],
                capture_output=True, text=True, check=True, env=env,
            )  # fmt: skip
            run = json.loads(out.stdout.strip().splitlines()[-1])
            run["cer"] = scan_cer(run.pop("text"))
            found.append({**run, "side": side, "pages": pages, "dpi": dpi, "pdf_mb": size_mb})
    return found


def markdown(rows: list[dict], mem: list[dict] | None) -> str:
    lines = ["| text | dpi | scan | pages | CER | pages/s |", "|---|---|---|---|---|---|"]
    lines = lines if rows else []
    for r in rows:
        kind = "rough" if r["rough"] else "plain"
        lines.append(f"| {r['lang']} | {r['dpi']} | {kind} | {r['pages']} | {r['cer']:.2%} | "
                     f"{r['pages_per_s']:.2f} |")  # fmt: skip
    if mem is None:
        return "\n".join(lines)
    first = mem[0]
    lines += [
        f"{first['pages']}-page {first['dpi']} dpi scanned PDF ({first['pdf_mb']:.1f} MB, rough "
        "pages) read by PdfReader with OCR in a child process (goal < 600 MB):",
        "",
        "| long side | peak RSS | CER | seconds | pages/s | pages OCR'd |",
        "|---|---|---|---|---|---|",
    ]
    for m in mem:
        speed = m["pages"] / m["seconds"]
        lines.append(f"| {m['side']} | {m['peak_mb']:.0f} MB | {m['cer']:.2%} | "
                     f"{m['seconds']:.0f} | {speed:.2f} | {m['ocr_pages']} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=2, help="pages per accuracy cell")
    parser.add_argument("--scan-pages", type=int, default=50, help="pages of the memory scan")
    parser.add_argument("--sides", default="2000,1600", help="long sides the scan is read at")
    parser.add_argument("--no-accuracy", action="store_true", help="only the memory scan")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sides = tuple(int(x) for x in args.sides.split(","))
    if args.child:
        child_read(args.child, args.scan_pages, sides[0])
        return 0
    if not args.no_accuracy:
        print(markdown(accuracy(args.pages), None), flush=True)  # first: the scan takes minutes
        print()
    print(markdown([], memory(args.scan_pages, sides)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
