"""What Telegram accepts in a message -- markup, keyboards, parameters -- for the in-memory API.

Why: a fake that accepts anything hides the most common production failures of a Telegram
bot: ``400 can't parse entities`` on an unescaped ``<`` or ``.`` in user-supplied text, and
``BUTTON_DATA_INVALID`` on callback data over 64 bytes. The markup parsers follow tdlib's
(td/telegram/MessageEntity.cpp), which the real Bot API runs, including its error wording and
UTF-8 *byte* offsets, and return what a person would see plus Bot API ``MessageEntity`` dicts
with UTF-16 offsets. Kept apart from memory_api.py, which holds the state and the methods.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

Entity = dict[str, Any]
JSON = dict[str, Any]

_SPACES = " \t\r\n\v\0"
_SYNONYMS = {
    "bold": ("b", "strong"),
    "italic": ("i", "em"),
    "underline": ("u", "ins"),
    "strikethrough": ("s", "strike", "del"),
    "spoiler": ("tg-spoiler", "span"),
}
_TAG_TYPE = {tag: kind for kind, tags in _SYNONYMS.items() for tag in tags}
_HTML_TAGS = {*_TAG_TYPE, "a", "code", "pre", "blockquote", "tg-emoji"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_MD2_END = {"bold": "*", "italic": "_", "underline": "__", "strikethrough": "~", "spoiler": "||"}
_MD2_NAMES = {"text_link": "TextUrl", "blockquote": "BlockQuote", "pre": "Pre", "code": "Code"}
_URL_RE = re.compile(r"(?:(?:https?|tg|ftp)://)?[^\s/]+\.\S*|tg://\S+", re.IGNORECASE)
_COMMAND_RE = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")
_MENTION_RE = re.compile(r"(?<!\w)@[A-Za-z0-9_]{2,32}(?!\w)")
_TRIMMED = " \t\r\n\v\f"
_MARKUP = re.compile("[&<]")
_BUTTON_URL = re.compile(r"(?:(?:https?|tg)://)?[^\s/]+\.\S*|tg://\S+")


class EntityParseError(ValueError):
    """Markup Telegram would reject; ``str(exc)`` is the text after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The text an entity covers, given its UTF-16 offset and length."""
    units = text.encode("utf-16-le")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le", "replace")


def _at(text: str, index: int) -> str:
    """Character at ``index`` or NUL past the end, mirroring tdlib's C-string reads."""
    return text[index] if index < len(text) else "\0"


@dataclass
class _Open:
    """An entity whose end has not been seen yet."""

    kind: str
    offset: int  # UTF-16 offset in the visible text
    chunk: int  # index of its first output chunk, to recover the entity's own text
    byte: int  # where it began in the raw text, for error messages
    argument: str = ""


@dataclass
class _Output:
    """Visible text being built, its running UTF-16 length, and the entities found."""

    source: str
    chunks: list[str] = field(default_factory=list)
    u16: int = 0
    entities: list[Entity] = field(default_factory=list)
    stack: list[_Open] = field(default_factory=list)

    def emit(self, text: str) -> None:
        self.chunks.append(text)
        self.u16 += utf16_len(text)

    def open(self, kind: str, index: int, argument: str = "") -> None:
        byte = len(self.source[:index].encode())
        self.stack.append(_Open(kind, self.u16, len(self.chunks), byte, argument))

    def close(self, kind: str, **extra: Any) -> None:
        opened = self.stack.pop()
        if self.u16 > opened.offset and kind:
            entity = {"type": kind, "offset": opened.offset, "length": self.u16 - opened.offset}
            self.entities.append({**entity, **extra})

    def inner_text(self) -> str:
        return "".join(self.chunks[self.stack[-1].chunk :])

    def result(self) -> tuple[str, list[Entity]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.chunks), entities


def decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode ``&...`` at ``pos`` like tdlib (``;`` optional); None if it is not an entity."""
    numeric = re.match(r"&#(x[0-9a-fA-F]*|[0-9]*)", text[pos:])
    if numeric:
        digits = numeric.group(1)
        code = int(digits[1:] or "0", 16) if digits.startswith("x") else int(digits or "0")
        if code == 0 or code >= 0x10FFFF or numeric.end() >= 10 or 0xD800 <= code <= 0xDFFF:
            return None
        char, size = chr(code), numeric.end()
    else:
        name = re.match(r"&([A-Za-z]*)", text[pos:])
        if name is None or name.group(1) not in _NAMED_ENTITIES:
            return None
        char, size = _NAMED_ENTITIES[name.group(1)], name.end()
    end = pos + size
    return char, end + (_at(text, end) == ";")


class _HtmlParser:
    """Port of tdlib's do_parse_html with the Bot API 7.x tags."""

    def __init__(self, text: str, strict_entities: bool) -> None:
        self.text, self.i, self.strict = text, 0, strict_entities
        self.out = _Output(text)

    def fail(self, message: str, index: int) -> EntityParseError:
        return EntityParseError(f"{message} at byte offset {len(self.text[:index].encode())}")

    def run(self) -> tuple[str, list[Entity]]:
        while self.i < len(self.text):
            char = self.text[self.i]
            if char == "&":
                self.ampersand()
            elif char == "<" and _at(self.text, self.i + 1) == "/":
                self.end_tag()
            elif char == "<":
                self.start_tag()
            else:  # a run of plain text up to the next markup character, in one piece
                end = _MARKUP.search(self.text, self.i)
                stop = end.start() if end else len(self.text)
                self.out.emit(self.text[self.i : stop])
                self.i = stop
        if self.out.stack:
            tag = self.out.stack[-1].kind
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{tag}"')
        for entity in self.out.entities:
            if entity["type"] == "code":
                entity.pop("language", None)  # Bot API code entities carry no language
        return self.out.result()

    def ampersand(self) -> None:
        decoded = decode_html_entity(self.text, self.i)
        if decoded is None and self.strict:
            # Deliberately stricter than tdlib, which keeps a stray "&": it nearly always means
            # user text was not html.escape()d, and the next "<" in such text will fail.
            raise self.fail('Unescaped "&" (use &amp;; the in-memory API is strict here)', self.i)
        char, self.i = decoded or ("&", self.i + 1)
        self.out.emit(char)

    def read_until_space_or(self, stop: str) -> str:
        begin = self.i
        while _at(self.text, self.i) not in _SPACES and _at(self.text, self.i) not in stop:
            self.i += 1
        return self.text[begin : self.i]

    def skip_spaces(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _SPACES:
            self.i += 1

    def start_tag(self) -> None:
        begin = self.i
        self.i += 1
        tag = self.read_until_space_or(">").lower()
        if self.i >= len(self.text):
            raise self.fail("Unclosed start tag", begin)
        if tag not in _HTML_TAGS:
            raise self.fail(f'Unsupported start tag "{tag}"', begin)
        attributes: dict[str, str] = {}
        while _at(self.text, self.i) != ">":
            self.skip_spaces()
            if _at(self.text, self.i) != ">":
                name, value = self.attribute(tag, begin)
                attributes[name] = value
        self.i += 1
        self.out.open(tag, begin, self.tag_argument(tag, attributes, begin))

    def attribute(self, tag: str, begin: int) -> tuple[str, str]:
        name = self.read_until_space_or("=>")
        if not name:
            raise self.fail(f'Empty attribute name in the tag "{tag}"', begin)
        self.skip_spaces()
        if _at(self.text, self.i) != "=":
            if (tag, name) == ("blockquote", "expandable"):
                return name, ""
            message = f'Expected equal sign in declaration of an attribute of the tag "{tag}"'
            raise self.fail(message, begin)
        self.i += 1
        self.skip_spaces()
        if self.i >= len(self.text):
            raise self.fail(f'Unclosed start tag "{tag}"', begin)
        value = self.quoted_value() if self.text[self.i] in "'\"" else self.name_token()
        if self.i >= len(self.text):
            raise self.fail("Unclosed start tag", begin)
        return name, value

    def name_token(self) -> str:
        begin = self.i
        while re.fullmatch(r"[A-Za-z0-9.-]", _at(self.text, self.i)):
            self.i += 1
        if _at(self.text, self.i) not in _SPACES and _at(self.text, self.i) != ">":
            raise self.fail("Unexpected end of name token", begin)
        return self.text[begin : self.i].lower()

    def quoted_value(self) -> str:
        quote, value = self.text[self.i], []
        self.i += 1
        while self.i < len(self.text) and self.text[self.i] != quote:
            decoded = decode_html_entity(self.text, self.i) if self.text[self.i] == "&" else None
            char, self.i = decoded or (self.text[self.i], self.i + 1)
            value.append(char)
        self.i += self.i < len(self.text)
        return "".join(value)

    def tag_argument(self, tag: str, attributes: dict[str, str], begin: int) -> str:
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise self.fail('Tag "span" must have class "tg-spoiler"', begin)
        if tag == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
            raise self.fail('Tag "tg-emoji" must have a valid "emoji-id" attribute', begin)
        language = attributes.get("class", "")
        return {
            "a": attributes.get("href", ""),
            "tg-emoji": attributes.get("emoji-id", ""),
            "code": language[9:] if language.startswith("language-") else "",
            "blockquote": "expandable" if "expandable" in attributes else "",
        }.get(tag, "")

    def end_tag(self) -> None:
        begin = self.i
        if not self.out.stack:
            raise self.fail("Unexpected end tag", begin)
        self.i += 2
        name = self.read_until_space_or(">")
        self.skip_spaces()
        if _at(self.text, self.i) != ">":
            raise self.fail("Unclosed end tag", begin)
        self.i += 1
        opened = self.out.stack[-1]
        if name and name != opened.kind:  # tdlib compares case-sensitively: </B> fails too
            byte = len(self.text[:begin].encode())
            raise EntityParseError(
                f'Unmatched end tag at byte offset {byte}, expected "</{opened.kind}>", '
                f'found "</{name}>"'
            )
        self.close(opened)

    def close(self, opened: _Open) -> None:
        out, tag, argument = self.out, opened.kind, opened.argument
        last = out.entities[-1] if out.entities else {}
        extent = (opened.offset, out.u16 - opened.offset)
        if tag == "pre" and last.get("language") and (last["offset"], last["length"]) == extent:
            out.entities.pop()  # <pre><code class="language-x"> is one pre entity
            out.close("pre", language=last["language"])
        elif tag == "a":
            url = argument or out.inner_text()
            out.close("text_link" if _URL_RE.fullmatch(url) else "", url=url)
        elif tag == "code":  # the language only survives inside <pre>
            out.close("code", **({"language": argument} if argument else {}))
        elif tag == "tg-emoji":
            out.close("custom_emoji", custom_emoji_id=argument)
        elif tag == "blockquote":
            out.close("expandable_blockquote" if argument else "blockquote")
        else:
            out.close(_TAG_TYPE.get(tag, tag))


class _MarkdownV2Parser:
    """Port of tdlib's parse_markdown_v2, without custom emoji."""

    def __init__(self, text: str) -> None:
        self.text, self.i, self.quote = text, 0, False
        self.out = _Output(text)

    def unfinished(self) -> EntityParseError:
        opened = self.out.stack[-1]
        name = _MD2_NAMES.get(opened.kind, opened.kind.capitalize())
        return EntityParseError(f"Can't find end of {name} entity at byte offset {opened.byte}")

    def run(self) -> tuple[str, list[Entity]]:
        text = self.text
        while self.i < len(text):
            char, top = text[self.i], self.out.stack[-1].kind if self.out.stack else ""
            reserved = "`" if top in ("code", "pre") else "_*[]()~`>#+-=|{}.!\n"
            if char == "\\" and 0 < ord(_at(text, self.i + 1)) <= 126:
                self.out.emit(text[self.i + 1])
                self.i += 1
            elif char not in reserved:
                self.out.emit(char)
            elif top and self.ends(char, top):
                self.end_entity(char, top)
            else:
                self.begin_entity(char)
            self.i += 1
        if self.quote and self.out.stack and self.out.stack[-1].kind == "blockquote":
            self.out.close("blockquote")
        if self.out.stack:
            raise self.unfinished()
        return self.out.result()

    def ends(self, char: str, top: str) -> bool:
        ahead = self.text[self.i : self.i + 3]
        if self.quote and char == "\n" and _at(self.text, self.i + 1) != ">":
            return True
        if top == "italic":
            return ahead[:2] != "__" and char == "_"
        if top in _MD2_END:
            return ahead.startswith(_MD2_END[top])
        return {"code": char == "`", "pre": ahead == "```", "text_link": char == "]"}.get(
            top, False
        )

    def begin_entity(self, char: str) -> None:
        start, ahead = self.i, self.text[self.i : self.i + 3]
        if char == "\n":
            self.out.emit("\n")
            if ahead[1:2] != ">":
                return
            self.i += 1
            if self.quote:
                return
            self.quote = True
            self.out.open("blockquote", start)
        elif char == ">" and start == 0:
            self.quote = True
            self.out.open("blockquote", start)
        elif ahead.startswith(("__", "||")):
            self.i += 1
            self.out.open("underline" if char == "_" else "spoiler", start)
        elif char in "_*~[":
            kind = {"_": "italic", "*": "bold", "~": "strikethrough", "[": "text_link"}[char]
            self.out.open(kind, start)
        elif ahead == "```":
            self.i += 3
            word = re.match(r"[^\s`]*", self.text[self.i :])
            language = word.group() if word else ""
            if not language or _at(self.text, self.i + len(language)) in "`\0":
                language = ""  # tdlib: a language needs something other than ``` after it
            self.i += len(language)
            newline = re.match(r"\r\n|\n\r|\r|\n", self.text[self.i :])
            self.i += (newline.end() if newline else 0) - 1
            self.out.open("pre", start, language)
        elif char == "`":
            self.out.open("code", start)
        else:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )

    def end_entity(self, char: str, kind: str) -> None:
        extra: dict[str, str] = {}
        if char == "\n" and kind != "blockquote":
            raise self.unfinished()
        if kind in ("underline", "spoiler"):
            self.i += 1
        elif kind == "pre":
            self.i += 2
            extra = (
                {"language": self.out.stack[-1].argument} if self.out.stack[-1].argument else {}
            )
        elif kind == "text_link":
            extra["url"] = self.link_url()
            kind = kind if _URL_RE.fullmatch(extra["url"]) else ""
        elif kind == "blockquote":
            self.quote = False
            self.out.emit("\n")
        self.out.close(kind, **extra)

    def link_url(self) -> str:
        if _at(self.text, self.i + 1) != "(":
            return self.out.inner_text()
        self.i += 2
        match = re.match(r"(?:\\[\x01-\x7e]|[^)\\]|\\)*", self.text[self.i :])
        assert match is not None
        begin, self.i = self.i, self.i + match.end()
        if self.i >= len(self.text):
            byte = len(self.text[:begin].encode())
            raise EntityParseError(f"Can't find end of a URL at byte offset {byte}")
        return re.sub(r"\\([\x01-\x7e])", r"\1", match.group())


def parse_markup(
    text: str, parse_mode: str | None, *, strict_html: bool = True
) -> tuple[str, list[Entity]]:
    """Apply ``parse_mode`` like the Bot API; ValueError for a mode this fake does not know."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _HtmlParser(text, strict_html).run()
    if mode == "markdownv2":
        return _MarkdownV2Parser(text).run()
    if mode:  # includes legacy "Markdown", which this project does not use
        raise ValueError("unsupported parse_mode")
    return text, []


def strip_text(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim surrounding whitespace as Telegram does, shifting and clipping entities to match."""
    stripped = text.strip(_TRIMMED)
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIMMED))])
    size, kept = utf16_len(stripped), []
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


@dataclass
class Button:
    """An inline keyboard button as a person sees it."""

    text: str
    callback_data: str | None = None
    url: str | None = None


class ApiError(Exception):
    """A Telegram-level error, answered as ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def payload(self) -> JSON:
        """The JSON body Telegram answers with."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def param(params: JSON, key: str) -> Any:
    """A parameter, "" counting as absent like in the Bot API."""
    value = params.get(key)
    return None if value == "" else value


def as_int(params: JSON, key: str, missing: str | int) -> int:
    """An integer parameter; ``missing`` is the error description, or a default value."""
    value = param(params, key)
    if value is None and isinstance(missing, int):
        return missing
    if value is None:
        raise ApiError(400, str(missing))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {key} specified") from None


def as_json(params: JSON, key: str) -> Any:
    """Objects arrive JSON-encoded over HTTP and as Python objects through MemoryRequest."""
    value = param(params, key)
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None


def _check_button(button: Any) -> Button:
    """Validate one inline button like the Bot API; keep what a person can see or press."""
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise ApiError(
            400,
            'Bad Request: can\'t parse inline keyboard button: Field "text" '
            "must be of type String",
        )
    if not button["text"].strip():
        raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
    data, url = button.get("callback_data"), button.get("url")
    if data is not None and len(str(data).encode()) > 64:
        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    if url is not None and not _BUTTON_URL.fullmatch(url):
        message = f"Bad Request: inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
        raise ApiError(400, message)
    if not data and not url and not set(button) - {"text", "callback_data", "url"}:
        raise ApiError(
            400,
            "Bad Request: can't parse inline keyboard button: Text buttons are "
            "unallowed in the inline keyboard",
        )
    return Button(button["text"], str(data) if data else None, url)


def parse_reply_markup(params: JSON) -> tuple[JSON | None, list[list[Button]]]:
    """Return (markup as sent, inline buttons); inline keyboards are fully validated."""
    markup = as_json(params, "reply_markup")
    kinds = {"inline_keyboard", "keyboard", "remove_keyboard", "force_reply"}
    if markup is not None and not (isinstance(markup, dict) and kinds & set(markup)):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = (markup or {}).get("inline_keyboard", [])
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array of Arrays')
    return markup, [[_check_button(button) for button in row] for row in rows]
