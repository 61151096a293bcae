"""Attachment names that are safe to show and to store beside the article.

Senders choose attachment names, so a name is hostile input: it may carry path parts
(`../../etc/cron.d/x`, `C:\\..\\x.bat`), NUL or other control characters, bidi overrides
that make `exe.pdf` display as `fdp.exe`, or be longer than any file system allows.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["safe_filename", "MAX_FILENAME_BYTES"]

MAX_FILENAME_BYTES = 255  # the NAME_MAX of common file systems (ext4, NTFS, APFS)

# Characters Windows refuses in names; replaced so a downloaded attachment opens everywhere.
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_DOTS = re.compile(r"\.{2,}")
_SPACES = re.compile(r"\s+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9_-]{1,16}$")
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)
_INPUT_CAP = 4096  # characters looked at: a name longer than this is truncated anyway


def _clean(name: str) -> str:
    name = name[:_INPUT_CAP]
    # The last path component only, the way mail clients save attachments.
    parts = [p for p in re.split(r"[/\\]", name) if p.strip()]
    name = parts[-1] if parts else ""
    name = unicodedata.normalize("NFC", name)
    out = []
    for ch in name:
        cat = unicodedata.category(ch)
        if cat in ("Zl", "Zp") or ch in "\t\r\n":
            out.append(" ")
        elif cat in ("Cc", "Cf", "Cs", "Cn"):
            # control, format (bidi overrides, zero-width), lone surrogates, unassigned
            continue
        else:
            out.append(ch)
    name = "".join(out)
    name = _WINDOWS_FORBIDDEN.sub("_", name)
    name = _SPACES.sub(" ", name)
    name = _DOTS.sub(".", name)
    name = name.strip(" .")  # no leading dots (hidden files), no trailing dots/spaces (Windows)
    stem = name.split(".", 1)[0]
    if stem.upper() in _RESERVED:
        name = "_" + name
    return _truncate(name)


def _truncate(name: str) -> str:
    """Cut to MAX_FILENAME_BYTES of UTF-8, keeping a short extension when there is one."""
    if len(name.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return name
    match = _EXTENSION.search(name)
    ext = match.group(0) if match and match.start() > 0 else ""
    stem = name[: len(name) - len(ext)]
    budget = MAX_FILENAME_BYTES - len(ext.encode("utf-8"))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(" .")
    return stem + ext


def safe_filename(name: str | None, fallback: str) -> str:
    """A display- and storage-safe file name: one component, printable, <= 255 bytes.

    Falls back to `fallback` (cleaned the same way) when nothing usable is left.
    """
    cleaned = _clean(name) if name else ""
    if cleaned:
        return cleaned
    cleaned = _clean(fallback) if fallback else ""
    return cleaned or "attachment"
