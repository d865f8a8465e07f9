"""Telegram's text-markup parsers (HTML, MarkdownV2, legacy Markdown) for the in-memory Bot API.

Why this exists: a fake that accepts any markup hides the most common production failure of a
Telegram bot -- ``400 can't parse entities`` on an unescaped ``<`` or ``.`` in user-supplied
text. These functions follow tdlib's parsers (td/telegram/MessageEntity.cpp), which is what the
real Bot API runs, including its error wording and UTF-8 *byte* offsets in error messages, and
they return the text a person would see plus Bot API ``MessageEntity`` dicts with UTF-16 offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Entity = dict[str, Any]

_SPACES = " \t\r\n\v\0"
_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "pre",
        "code",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "blockquote": "BlockQuote",
}
_COMMAND_RE = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")
_MENTION_RE = re.compile(r"(?<!\w)@[A-Za-z0-9_]{2,32}(?!\w)")
_URL_RE = re.compile(r"^(?:(?:https?|tg|ftp)://)?[^\s/]+\.[^\s]*$|^tg://\S+$", re.IGNORECASE)


class EntityParseError(ValueError):
    """Markup Telegram would reject; ``str(exc)`` is the text after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    """tdlib reports positions as UTF-8 byte offsets into the raw text."""
    return len(text[:index].encode("utf-8"))


def _at(text: str, index: int) -> str:
    """Character at ``index`` or NUL past the end, mirroring tdlib's C-string reads."""
    return text[index] if index < len(text) else "\0"


def _valid_url(url: str) -> bool:
    """Rough stand-in for tdlib's check_url: Telegram silently drops links it can't parse."""
    return bool(url) and _URL_RE.match(url) is not None


@dataclass
class _Open:
    """An entity whose end has not been seen yet."""

    tag: str
    offset: int  # UTF-16 offset in the visible text
    out_index: int  # index into the output chunks, to recover the entity's own text
    byte: int = 0
    argument: str = ""


@dataclass
class _Output:
    """Visible text being built, with its running UTF-16 length and the entities found."""

    chunks: list[str] = field(default_factory=list)
    u16: int = 0
    entities: list[Entity] = field(default_factory=list)

    def emit(self, text: str) -> None:
        self.chunks.append(text)
        self.u16 += utf16_len(text)

    def since(self, index: int) -> str:
        return "".join(self.chunks[index:])

    def add(self, kind: str, opened: _Open, **extra: Any) -> None:
        length = self.u16 - opened.offset
        if length > 0:
            entity = {"type": kind, "offset": opened.offset, "length": length}
            self.entities.append({**entity, **extra})

    def result(self) -> tuple[str, list[Entity]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.chunks), entities


def decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode ``&...`` at ``pos`` like tdlib (``;`` optional); None if it is not an entity."""
    end = pos + 1
    if _at(text, end) == "#":
        end += 1
        hexadecimal = _at(text, end) == "x"
        end += hexadecimal
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while _at(text, end) in digits and end < len(text):
            end += 1
        code = int(text[start:end], 16 if hexadecimal else 10) if end > start else 0
        if code == 0 or code >= 0x10FFFF or end - pos >= 10 or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        while end < len(text) and text[end].isascii() and text[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if named is None:
            return None
        char = named
    return char, end + (_at(text, end) == ";")


class _HtmlParser:
    """Port of tdlib's do_parse_html with the Bot API 7.x tags."""

    def __init__(self, text: str, strict_entities: bool) -> None:
        self.text = text
        self.i = 0
        self.strict = strict_entities
        self.out = _Output()
        self.stack: list[_Open] = []

    def fail(self, message: str, index: int) -> EntityParseError:
        return EntityParseError(f"{message} at byte offset {_byte_offset(self.text, index)}")

    def run(self) -> tuple[str, list[Entity]]:
        text = self.text
        while self.i < len(text):
            char = text[self.i]
            if char == "&":
                self.ampersand()
            elif char == "<":
                if _at(text, self.i + 1) == "/":
                    self.end_tag()
                else:
                    self.start_tag()
            else:
                self.out.emit(char)
                self.i += 1
        if self.stack:
            tag = self.stack[-1].tag
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{tag}"')
        for entity in self.out.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        return self.out.result()

    def ampersand(self) -> None:
        decoded = decode_html_entity(self.text, self.i)
        if decoded is not None:
            self.out.emit(decoded[0])
            self.i = decoded[1]
            return
        if self.strict:
            # Deliberately stricter than tdlib (which keeps a stray "&" literally): a raw "&"
            # almost always means user text was not html.escape()d, and the next "<" will fail.
            raise self.fail('Unescaped "&" (use &amp;; the in-memory API is strict here)', self.i)
        self.out.emit("&")
        self.i += 1

    def skip_spaces(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _SPACES:
            self.i += 1

    def start_tag(self) -> None:
        text, begin = self.text, self.i
        self.i += 1
        while _at(text, self.i) not in _SPACES and _at(text, self.i) != ">":
            self.i += 1
        if self.i >= len(text):
            raise self.fail("Unclosed start tag", begin)
        tag = text[begin + 1 : self.i].lower()
        if tag not in _HTML_TAGS:
            raise self.fail(f'Unsupported start tag "{tag}"', begin)
        attributes = self.attributes(tag, begin)
        self.i += 1
        argument = self.tag_argument(tag, attributes, begin)
        self.stack.append(_Open(tag, self.out.u16, len(self.out.chunks), argument=argument))

    def attributes(self, tag: str, begin: int) -> dict[str, str]:
        text, found = self.text, {}
        while _at(text, self.i) != ">":
            self.skip_spaces()
            if _at(text, self.i) == ">":
                break
            name_begin = self.i
            while _at(text, self.i) not in _SPACES and _at(text, self.i) not in "=>":
                self.i += 1
            name = text[name_begin : self.i]
            if not name:
                raise self.fail(f'Empty attribute name in the tag "{tag}"', begin)
            self.skip_spaces()
            if _at(text, self.i) != "=":
                if tag == "blockquote" and name == "expandable":
                    found[name] = ""
                    continue
                raise self.fail(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}"', begin
                )
            self.i += 1
            self.skip_spaces()
            if self.i >= len(text):
                raise self.fail(f'Unclosed start tag "{tag}"', begin)
            found[name] = self.attribute_value()
            if self.i >= len(text):
                raise self.fail("Unclosed start tag", begin)
        return found

    def attribute_value(self) -> str:
        text = self.text
        quote = text[self.i]
        if quote not in "'\"":
            token_begin = self.i
            while re.fullmatch(r"[A-Za-z0-9.-]", _at(text, self.i)):
                self.i += 1
            if _at(text, self.i) not in _SPACES and _at(text, self.i) != ">":
                raise self.fail("Unexpected end of name token", token_begin)
            return text[token_begin : self.i].lower()
        self.i += 1
        value: list[str] = []
        while self.i < len(text) and text[self.i] != quote:
            decoded = decode_html_entity(text, self.i) if text[self.i] == "&" else None
            if decoded is not None:
                value.append(decoded[0])
                self.i = decoded[1]
            else:
                value.append(text[self.i])
                self.i += 1
        self.i += self.i < len(text)
        return "".join(value)

    def tag_argument(self, tag: str, attributes: dict[str, str], begin: int) -> str:
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise self.fail('Tag "span" must have class "tg-spoiler"', begin)
        if tag == "tg-emoji":
            emoji_id = attributes.get("emoji-id", "")
            if not emoji_id.isdigit():
                raise self.fail('Tag "tg-emoji" must have a valid "emoji-id" attribute', begin)
            return emoji_id
        if tag == "a":
            return attributes.get("href", "")
        if tag == "code":
            language = attributes.get("class", "")
            return language[9:] if language.startswith("language-") else ""
        if tag == "blockquote":
            return "expandable" if "expandable" in attributes else ""
        return ""

    def end_tag(self) -> None:
        text, begin = self.text, self.i
        if not self.stack:
            raise self.fail("Unexpected end tag", begin)
        self.i += 2
        while _at(text, self.i) not in _SPACES and _at(text, self.i) != ">":
            self.i += 1
        name = text[begin + 2 : self.i]
        self.skip_spaces()
        if _at(text, self.i) != ">":
            raise self.fail("Unclosed end tag", begin)
        self.i += 1
        opened = self.stack.pop()
        if name and name != opened.tag:  # tdlib compares case-sensitively, so </B> fails too
            raise EntityParseError(
                f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                f'expected "</{opened.tag}>", found "</{name}>"'
            )
        self.close(opened)

    def close(self, opened: _Open) -> None:
        out, tag = self.out, opened.tag
        if tag == "a":
            url = opened.argument or out.since(opened.out_index)
            if _valid_url(url):
                out.add("text_link", opened, url=url)
        elif tag == "tg-emoji":
            out.add("custom_emoji", opened, custom_emoji_id=opened.argument)
        elif tag == "blockquote" and opened.argument:
            out.add("expandable_blockquote", opened)
        elif tag == "code":
            extra = {"language": opened.argument} if opened.argument else {}
            out.add("code", opened, **extra)
        elif tag == "pre":
            last = out.entities[-1] if out.entities else None
            same = last is not None and last["offset"] == opened.offset
            if last and same and last["type"] == "code" and last.get("language"):
                last.update(type="pre", length=out.u16 - opened.offset)
            else:
                out.add("pre", opened)
        else:
            out.add(_HTML_TYPES[tag], opened)


def parse_html(text: str, *, strict_entities: bool = True) -> tuple[str, list[Entity]]:
    """Parse Bot API HTML into (visible text, entities) or raise EntityParseError."""
    return _HtmlParser(text, strict_entities).run()


class _MarkdownV2Parser:
    """Port of tdlib's parse_markdown_v2 (the one with nesting and ``>`` blockquotes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.out = _Output()
        self.stack: list[_Open] = []
        self.blockquote = False

    def reserved(self, char: str) -> EntityParseError:
        return EntityParseError(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    def unfinished(self, opened: _Open) -> EntityParseError:
        name = _MD2_NAMES[opened.tag]
        return EntityParseError(f"Can't find end of {name} entity at byte offset {opened.byte}")

    def run(self) -> tuple[str, list[Entity]]:
        text = self.text
        while self.i < len(text):
            char = text[self.i]
            if char == "\\" and 0 < ord(_at(text, self.i + 1)) <= 126:
                self.out.emit(text[self.i + 1])
                self.i += 2
                continue
            top = self.stack[-1].tag if self.stack else ""
            reserved = "`" if top in ("code", "pre") else "_*[]()~`>#+-=|{}.!\n"
            if char not in reserved:
                self.out.emit(char)
            elif self.ends_entity(char, top):
                self.end_entity(char)
            else:
                self.begin_entity(char)
            self.i += 1
        if self.blockquote and self.stack and self.stack[-1].tag == "blockquote":
            self.out.add("blockquote", self.stack.pop())
        if self.stack:
            raise self.unfinished(self.stack[-1])
        return self.out.result()

    def ends_entity(self, char: str, top: str) -> bool:
        text, i = self.text, self.i
        if not top:
            return False
        if self.blockquote and char == "\n" and _at(text, i + 1) != ">":
            return True
        nxt, nxt2 = _at(text, i + 1), _at(text, i + 2)
        return {
            "bold": char == "*",
            "italic": char == "_" and nxt != "_",
            "underline": char == "_" and nxt == "_",
            "code": char == "`",
            "pre": char == "`" and nxt == "`" and nxt2 == "`",
            "text_link": char == "]",
            "custom_emoji": char == "]",
            "strikethrough": char == "~",
            "spoiler": char == "|" and nxt == "|",
            "blockquote": False,
        }[top]

    def begin_entity(self, char: str) -> None:
        text, start = self.text, self.i
        nxt = _at(text, self.i + 1)
        argument, kind = "", ""
        if char == "_":
            kind = "underline" if nxt == "_" else "italic"
            self.i += nxt == "_"
        elif char in "*~[":
            kind = {"*": "bold", "~": "strikethrough", "[": "text_link"}[char]
        elif char == "|" and nxt == "|":
            kind, self.i = "spoiler", self.i + 1
        elif char == "!" and nxt == "[":
            kind, self.i = "custom_emoji", self.i + 1
        elif char == "`":
            kind, argument = self.begin_code()
        elif char == "\n":
            self.out.emit("\n")
            if nxt != ">":
                return
            self.i += 1
            if self.blockquote:
                return
            kind, self.blockquote = "blockquote", True
        elif char == ">" and start == 0:
            kind, self.blockquote = "blockquote", True
        else:
            raise self.reserved(char)
        byte = _byte_offset(text, start)
        self.stack.append(_Open(kind, self.out.u16, len(self.out.chunks), byte, argument))

    def begin_code(self) -> tuple[str, str]:
        text = self.text
        if not (_at(text, self.i + 1) == "`" and _at(text, self.i + 2) == "`"):
            return "code", ""
        self.i += 3
        end, language = self.i, ""
        while _at(text, end) not in _SPACES and _at(text, end) != "`":
            end += 1
        if end != self.i and end < len(text) and text[end] != "`":
            language, self.i = text[self.i : end], end
        if _at(text, self.i) in "\r\n" and self.i < len(text):
            pair = _at(text, self.i + 1) in "\r\n" and text[self.i] != _at(text, self.i + 1)
            self.i += 2 if pair else 1
        self.i -= 1
        return "pre", language

    def read_url(self, what: str) -> str:
        text = self.text
        self.i += 2
        begin, url = self.i, []
        while self.i < len(text) and text[self.i] != ")":
            if text[self.i] == "\\" and 0 < ord(_at(text, self.i + 1)) <= 126:
                self.i += 1
            url.append(text[self.i])
            self.i += 1
        if _at(text, self.i) != ")":
            raise EntityParseError(
                f"Can't find end of a {what} at byte offset {_byte_offset(text, begin)}"
            )
        return "".join(url)

    def end_entity(self, char: str) -> None:
        opened = self.stack[-1]
        kind, extra = opened.tag, {}
        if char == "\n" and kind != "blockquote":
            raise self.unfinished(opened)
        if kind in ("underline", "spoiler"):
            self.i += 1
        elif kind == "pre":
            self.i += 2
            if opened.argument:
                extra["language"] = opened.argument
        elif kind == "text_link":
            url = opened_text = self.out.since(opened.out_index)
            if _at(self.text, self.i + 1) == "(":
                url = self.read_url("URL")
            if not _valid_url(url) or not opened_text:
                kind = ""
            extra["url"] = url
        elif kind == "custom_emoji":
            if _at(self.text, self.i + 1) != "(":
                raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
            match = re.fullmatch(r"tg://emoji\?id=(\d+)", self.read_url("custom emoji URL"))
            if match is None:
                raise EntityParseError("Custom emoji URL must have an emoji identifier")
            extra["custom_emoji_id"] = match.group(1)
        elif kind == "blockquote":
            self.blockquote = False
            self.out.emit("\n")
        self.stack.pop()
        if kind:
            self.out.add(kind, opened, **extra)


def parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    """Parse Bot API MarkdownV2 into (visible text, entities) or raise EntityParseError."""
    return _MarkdownV2Parser(text).run()


def parse_markdown(text: str) -> tuple[str, list[Entity]]:
    """Parse legacy Markdown (``_ * ` ``` [text](url)``) the way tdlib's parse_markdown does."""
    out, i = _Output(), 0
    kinds = {"_": "italic", "*": "bold", "`": "code", "[": "text_link"}
    while i < len(text):
        char = text[i]
        if char == "\\" and _at(text, i + 1) in "_*`[" and i + 1 < len(text):
            out.emit(text[i + 1])
            i += 2
            continue
        if char not in kinds:
            out.emit(char)
            i += 1
            continue
        begin, end_char, i = i, "]" if char == "[" else char, i + 1
        kind, language = kinds[char], ""
        if char == "`" and text[i : i + 2] == "``":
            kind, i = "pre", i + 2
            end = i
            while _at(text, end) not in _SPACES and _at(text, end) != "`":
                end += 1
            if end != i and end < len(text) and text[end] != "`":
                language, i = text[i:end], end
            i += _at(text, i) == "\n"
        opened = _Open(kind, out.u16, len(out.chunks))
        while i < len(text) and (
            text[i] != end_char or (kind == "pre" and text[i + 1 : i + 3] != "``")
        ):
            out.emit(text[i])
            i += 1
        if i >= len(text):
            byte = _byte_offset(text, begin)
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {byte}")
        extra: dict[str, str] = {"language": language} if language else {}
        if kind == "text_link":
            url = out.since(opened.out_index)
            if _at(text, i + 1) == "(":
                close = text.find(")", i + 2)
                url, i = text[i + 2 : close if close >= 0 else len(text)], close
            if not _valid_url(url):
                kind = ""
            extra["url"] = url
        if kind:
            out.add(kind, opened, **extra)
        i += 3 if kind == "pre" else 1
    return out.result()


def parse_markup(
    text: str, parse_mode: str | None, *, strict_html: bool = True
) -> tuple[str, list[Entity]]:
    """Dispatch on ``parse_mode`` like the Bot API; raise ValueError for an unknown mode."""
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text, strict_entities=strict_html)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise ValueError("unsupported parse_mode")


def strip_text(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim surrounding whitespace as Telegram does, shifting and clipping entities to match."""
    stripped = text.strip(" \t\r\n\v\f")
    lead = utf16_len(text[: len(text) - len(text.lstrip(" \t\r\n\v\f"))])
    size = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(0, entity["offset"] - lead)
        end = min(size, entity["offset"] - lead + entity["length"])
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def detect_entities(text: str) -> list[Entity]:
    """Entities Telegram adds to a *user's* message: bot commands and @mentions."""
    found = [("bot_command", m) for m in _COMMAND_RE.finditer(text)]
    found += [("mention", m) for m in _MENTION_RE.finditer(text)]
    entities = [
        {"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())}
        for kind, m in found
    ]
    return sorted(entities, key=lambda e: e["offset"])
