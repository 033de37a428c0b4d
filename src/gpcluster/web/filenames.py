"""File names that come from or go to a browser: uploads are renamed to something safe to store and show,
and downloads get a Content-Disposition header that cannot be broken by what is in the name."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import quote

#: longest stem kept from an uploaded file's name (file systems allow 255 bytes; pages need far less)
MAX_STEM_CHARACTERS = 80
_UNSAFE = re.compile(r"[^\w.()\- ]+")  # \w is Unicode letters and digits: never a control character


def safe_upload_name(raw: str | None, default: str) -> str:
    """The uploaded file's name without folders, control or path characters, at most 80 characters before
    its suffix; `default` when nothing usable is left. Safe as a file name in a temporary folder and as
    text on a page."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = PureWindowsPath(PurePosixPath(text).name).name  # browsers may send C:\\Users\\...\\roster.csv
    text = _UNSAFE.sub("_", text).strip(" ._")
    stem, dot, suffix = text.rpartition(".")
    if not dot:
        stem, suffix = text, ""
    suffix = suffix[:10]
    stem = stem[:MAX_STEM_CHARACTERS].rstrip(" ._")
    if not stem:
        return default
    return f"{stem}.{suffix}" if suffix else stem


def content_disposition(filename: str) -> str:
    """An `attachment` Content-Disposition for `filename` (RFC 6266): a plain ASCII fallback and the exact
    name percent-encoded, so quotes, semicolons or line breaks in a name cannot change the header."""
    ascii_name = re.sub(r"[^A-Za-z0-9._()\- ]+", "-", filename).strip() or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
