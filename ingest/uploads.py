"""Files an admin uploads from the browser, written into a folder of the docs: type and size
checked, names made safe, never outside the docs folder, never over an existing file."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path, PurePosixPath

from retrieval.errors import UserError
from retrieval.files import write_atomic
from retrieval.settings import Settings

UNSAFE = re.compile(r"[^\w.\- ]+")
MAX_FILES = 50


def safe_name(name: str) -> str:
    """The file's own name (no folders), with odd characters replaced and no leading dot."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = unicodedata.normalize("NFC", base)
    base = UNSAFE.sub("_", base).strip(" .")
    if not base or base.startswith("."):
        raise UserError(f"unusable file name {name!r}")
    return base[:120]


def target_folder(docs_dir: Path, folder: str) -> Path:
    root = docs_dir.resolve()
    target = (root / folder).resolve()
    hidden = any(part.startswith(".") and part != "." for part in Path(folder).parts)
    if not target.is_relative_to(root) or hidden:
        raise UserError(f"folder {folder!r} is not inside the docs folder")
    if not target.is_dir():
        raise UserError(f"folder {folder!r} does not exist")
    return target


def save_uploads(settings: Settings, folder: str, files: list[tuple[str, bytes]]) -> list[str]:
    """Check every file first, then write each atomically; returns the paths written."""
    if len(files) > MAX_FILES:
        raise UserError(f"at most {MAX_FILES} files at once")
    target = target_folder(Path(settings.docs_dir), folder)
    limit = settings.max_file_mb * 1e6
    allowed = {e.lower() for e in settings.doc_extensions}
    checked = []
    for name, data in files:
        clean = safe_name(name)
        if Path(clean).suffix.lower() not in allowed:
            raise UserError(f"{clean}: type not ingested (allowed: {', '.join(sorted(allowed))})")
        if len(data) > limit:
            raise UserError(f"{clean}: larger than {settings.max_file_mb:g} MB")
        if (target / clean).exists():
            raise UserError(f"{clean} already exists in {folder}: rename it or remove the old one")
        checked.append((clean, data))
    written = []
    for clean, data in checked:
        write_atomic(target / clean, data)
        written.append((target / clean).relative_to(Path(settings.docs_dir).resolve()).as_posix())
    return written
