"""Helpers every handler module shares: who is talking, in which language, how to reply."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode

from bot import callbacks
from bot.assistant import Assistant, Button, Reply
from bot.context import BotContext
from bot.language import ui_language
from bot.people import PersonView, Profile

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def remember(update: Update, context: BotContext) -> PersonView | None:
    """Record the person behind an update (first contact, name, Telegram language)."""
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    services = context.services
    profile = Profile(
        telegram_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )
    return await services.people.touch(profile, services.clock.now())


def menu_language(person: PersonView | None, update: Update) -> str:
    """The language for menus and fixed replies: /lang choice, else Telegram's, else French."""
    if person is not None:
        return ui_language(person.chosen_language, person.telegram_language)
    user = update.effective_user
    return ui_language(None, user.language_code if user else None)


def keyboard(
    buttons: tuple[Button, ...], row: tuple[Button, ...] = ()
) -> InlineKeyboardMarkup | None:
    """One button per row (labels are sentences, readable on a phone), then `row` side by
    side."""
    if not buttons and not row:
        return None
    rows = [[InlineKeyboardButton(b.label, callback_data=b.data)] for b in buttons]
    if row:
        rows.append([InlineKeyboardButton(b.label, callback_data=b.data) for b in row])
    return InlineKeyboardMarkup(rows)


def choices(
    assistant: Assistant, language: str, *options: tuple[str, str, str]
) -> tuple[Button, ...]:
    """Buttons from (message key, callback prefix, callback value) triples, in order."""
    return tuple(
        Button(assistant.message(key, language), callbacks.encode(prefix, value, language))
        for key, prefix, value in options
    )


async def send(update: Update, reply: Reply) -> Message | None:
    """Send a reply in the chat of the update (quoting the question in groups)."""
    message = update.effective_message
    chat = update.effective_chat
    if chat is None:
        return None
    in_group = chat.type != ChatType.PRIVATE
    if message is not None and in_group and update.callback_query is None:
        return await message.reply_text(
            reply.text,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard(reply.buttons, reply.row),
            link_preview_options=NO_PREVIEW,
            do_quote=True,
        )
    return await chat.send_message(
        reply.text,
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard(reply.buttons, reply.row),
        link_preview_options=NO_PREVIEW,
    )


def addressed_text(message: Message, bot_username: str, bot_id: int) -> str | None:
    """The text meant for us, or None when a group message is not addressed to the bot.

    In a group the bot speaks only when spoken to: a mention of its @username (which is
    removed from the text) or a reply to one of its messages.
    """
    text = message.text or ""
    if message.chat.type == ChatType.PRIVATE:
        return text
    mention = f"@{bot_username}".lower() if bot_username else None
    if mention and mention in text.lower():
        start = text.lower().index(mention)
        return (text[:start] + text[start + len(mention) :]).strip()
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return text
    return None


async def send_file(
    update: Update, filename: str, content: bytes, caption: str | None = None
) -> Message | None:
    """Send a file (a calendar, an export) in the chat of the update."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await chat.send_document(
        document=InputFile(content, filename=filename),
        caption=caption,
        parse_mode=ParseMode.HTML if caption else None,
    )


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


async def refuse_unless_staff(update: Update, context: BotContext, language: str) -> bool:
    """True (after a polite refusal) when the person is not staff: checked on every call."""
    user = update.effective_user
    if context.services.is_staff(user.id if user else None):
        return False
    await send(update, context.services.assistant.fixed("staff_only", language))
    return True


async def staff_language(update: Update, context: BotContext) -> str | None:
    """The staff member's language, or None after refusing someone who is not staff."""
    person = await remember(update, context)
    language = menu_language(person, update)
    if await refuse_unless_staff(update, context, language):
        return None
    return language


def ids(update: Update) -> tuple[int, int]:
    """(user id, chat id) of an update that has both (messages and button presses do)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        raise ValueError("this update has no user or no chat")
    return user.id, chat.id
