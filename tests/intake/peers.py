"""Other helpdesks' own parser fixtures (corpus `peers/`): Zammad 5.2.2's test/data/mail with
its expected parser outputs, compared field by field with parse_message.

`compare()` gives, per mail, each comparable field as agree/differ, so the figure the
README quotes and the per-field tests come from the same code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import yaml

from maildesk.intake.htmltext import html_to_text
from maildesk.intake.message import ParsedMail
from maildesk.intake.parse import parse_message

_SPACE = re.compile(r"\s+")


class _RubyLoader(yaml.SafeLoader):
    """Zammad's yml files are Ruby-tagged hashes (`!ruby/hash:...`): read them as plain maps."""


def _ruby(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_RubyLoader.add_multi_constructor("!ruby/", _ruby)
_RubyLoader.add_constructor("!binary", yaml.SafeLoader.construct_yaml_binary)


@dataclass
class Field:
    mail: str
    name: str
    expected: object
    got: object

    @property
    def agrees(self) -> bool:
        return self.expected == self.got


def zammad_cases(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    folder = root / "peers" / "zammad" / "mail"
    out = []
    for yml in sorted(folder.glob("*.yml")):
        box = yml.with_suffix(".box")
        if box.is_file():
            out.append((box, yaml.load(yml.read_bytes(), Loader=_RubyLoader) or {}))
    return out


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.replace("\u00a0", " ")).strip()


def _addrs(value: str) -> list[str]:
    return [a.lower() for _, a in getaddresses([value]) if "@" in a]


def _variants(data: bytes) -> set[bytes]:
    return {data, data.replace(b"\r\n", b"\n")}


def _attachment_fields(name: str, expected: list[dict[str, Any]], mail: ParsedMail
                       ) -> Iterator[Field]:
    ours: list[tuple[set[bytes], str]] = []
    for att in mail.attachments:
        texts = {att.data}
        for codec in ("utf-8", "cp1252"):
            try:
                texts.add(att.data.decode(codec).encode("utf-8"))
            except UnicodeDecodeError:
                pass
        ours.append(({v for t in texts for v in _variants(t)}, att.filename))
    for att in expected:
        prefs = att.get("preferences") or {}
        if prefs.get("content-alternative") or prefs.get("original-format"):
            continue  # Zammad keeps the HTML alternative of the body as a file: not ours
        data = att.get("data")
        raw = data if isinstance(data, bytes) else str(data or "").encode("utf-8")
        match = next((fn for datas, fn in ours if _variants(raw) & datas), None)
        label = str(att.get("filename"))
        yield Field(name, f"attachment {label} data", True, match is not None)
        if match is not None:
            yield Field(name, f"attachment {label} name", label, match)


def mismatches(fields: list[Field], known: object) -> list[str]:
    """What disagrees without being a listed difference, and listed differences that now
    agree (`known`: a collection of (mail, field name) pairs)."""
    wrong = []
    for field in fields:
        listed = (field.mail, field.name) in known  # type: ignore[operator]
        if field.agrees == listed:
            state = "now agrees: drop it from KNOWN_DIFFERENCES" if listed else "differs"
            wrong.append(f"{field.name} {state}: expected {field.expected!r:.200}, "
                         f"got {field.got!r:.200}")
    return wrong


def compare(box: Path, expected: dict[str, Any]) -> list[Field]:
    """Each comparable field of one Zammad fixture, expected vs parse_message's value."""
    name = box.stem
    mail = parse_message(box.read_bytes())
    fields: list[Field] = []
    if "from_email" in expected:
        fields.append(Field(name, "from_addr", str(expected["from_email"]).lower(),
                            mail.from_addr))
    if "from_display_name" in expected:
        fields.append(Field(name, "from_name", _norm(str(expected["from_display_name"] or "")),
                            _norm(mail.from_name or "")))
    if "subject" in expected:
        fields.append(Field(name, "subject", _norm(str(expected["subject"] or "")),
                            _norm(mail.subject)))
    if "message_id" in expected and not str(expected["message_id"]).endswith(
            "@zammad_generated>"):  # Zammad's own ids for mail without one: not modelled
        fields.append(Field(name, "message_id", str(expected["message_id"]).strip("<>"),
                            mail.message_id))
    for key, got in (("to", mail.to), ("cc", mail.cc)):
        if expected.get(key):
            fields.append(Field(name, key, _addrs(str(expected[key])), got))
    if "body" in expected:
        body = str(expected["body"] or "")
        html = expected.get("content_type") == "text/html" or (
            "content_type" not in expected and re.search(r"<(?:div|p|br|span)\b", body))
        if html:
            body = html_to_text(body)
        if body.strip() == "no visible content":
            body = ""
        fields.append(Field(name, "body", _norm(body), _norm(mail.body)))
    fields.extend(_attachment_fields(name, expected.get("attachments") or [], mail))
    return fields
