"""Tests of the in-memory Bot API itself, driven through a real ``telegram.Bot``.

The fake is only worth having if it refuses what Telegram refuses, so most tests here check that
PTB raises the same ``telegram.error`` class a real server would cause, and that a refused call
leaves no trace in the chat.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from bot.memory_api import ApiError, ChatSpec, MemoryBotApi, UserSpec
from bot.memory_http import MemoryHttpServer

ALICE = UserSpec(id=111, first_name="Alice", username="alice", language_code="fr")
BOB = UserSpec(id=222, first_name="Bob")


class FakeClock:
    """A clock the test moves by hand, so rate-limit tests never sleep."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> MemoryBotApi:
    return MemoryBotApi()


def _bot(api: MemoryBotApi) -> Bot:
    return Bot(api.token, request=api.request(), get_updates_request=api.request())


@pytest.fixture
async def bot(api: MemoryBotApi) -> AsyncIterator[Bot]:
    async with _bot(api) as bot:
        yield bot


def _keyboard(*labels_and_data: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data)] for text, data in labels_and_data]
    )


async def test_get_me_describes_the_bot(bot: Bot, api: MemoryBotApi) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (api.bot_id, "dataide_bot", True)
    assert me.can_read_all_group_messages is False
    assert api.calls[0][0] == "getMe"


async def test_html_escaped_text_is_stored_as_a_person_reads_it(
    bot: Bot, api: MemoryBotApi
) -> None:
    api.user_message(ALICE, "hi")
    sent = await bot.send_message(
        ALICE.id, f"<b>{html.escape('a < b & c')}</b> ok", parse_mode="HTML"
    )
    stored = api.bot_messages(ALICE.id)[-1]
    assert stored.text == sent.text == "a < b & c ok"
    assert stored.raw_text == "<b>a &lt; b &amp; c</b> ok"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 9)]
    assert sent.from_user is not None
    assert sent.from_user.id == api.bot_id


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a < b", 'Unsupported start tag ""'),
        ("<br>line", 'Unsupported start tag "br"'),
        ("<b>bold</i>", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("R&D", 'Unescaped "&"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_bad_html_is_refused_and_not_stored(
    bot: Bot, api: MemoryBotApi, text: str, reason: str
) -> None:
    api.user_message(ALICE, "hi")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as caught:
        await bot.send_message(ALICE.id, text, parse_mode="HTML")
    # PTB strips "Bad Request: " and capitalize()s the rest, which lowercases it.
    assert reason.lower() in caught.value.message
    assert api.bot_messages(ALICE.id) == []


async def test_wire_descriptions_are_telegrams(api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    with pytest.raises(ApiError) as caught:
        await api.call(
            "sendMessage", {"chat_id": ALICE.id, "text": "Done.", "parse_mode": "MarkdownV2"}
        )
    assert (caught.value.status, caught.value.description) == (
        400,
        (
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped "
            "with the preceding '\\'"
        ),
    )
    with pytest.raises(ApiError) as caught:
        await api.call("sendMessage", {"chat_id": 5, "text": "x"})
    assert caught.value.description == "Bad Request: chat not found"


async def test_all_supported_html_tags_are_accepted(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    text = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><del>d</del>"
        '<a href="https://example.org">a</a><code>c</code><pre><code class="language-py">p'
        '</code></pre><tg-spoiler>t</tg-spoiler><span class="tg-spoiler">x</span>'
        "<blockquote expandable>q</blockquote>&#65;&quot;"
    )
    sent = await bot.send_message(ALICE.id, text, parse_mode="HTML")
    assert sent.text == 'bsieunsdacptxqA"'
    assert {e.type for e in sent.entities} >= {"bold", "text_link", "pre", "spoiler"}


async def test_markdown_v2_reserved_character_is_refused(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(ALICE.id, "*Done*.", parse_mode="MarkdownV2")
    assert caught.value.message == (
        "Can't parse entities: character '.' is reserved and must be escaped with the "
        "preceding '\\'"
    )
    sent = await bot.send_message(ALICE.id, "*Done*\\.", parse_mode="MarkdownV2")
    assert sent.text == "Done."
    assert [(e.type, e.length) for e in sent.entities] == [("bold", 4)]


async def test_text_length_is_counted_in_utf16_units(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    await bot.send_message(ALICE.id, "x" * 4096)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ALICE.id, "x" * 4097)
    # 2049 emoji are 2049 Python characters but 4098 UTF-16 code units.
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ALICE.id, "😀" * 2049)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(ALICE.id, " \n ")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(ALICE.id, "<b></b>", parse_mode="HTML")
    assert len(api.bot_messages(ALICE.id)) == 1


async def test_callback_data_is_limited_to_64_bytes(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    await bot.send_message(ALICE.id, "ok", reply_markup=_keyboard(("Yes", "y" * 64)))
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        # 33 characters, but 66 bytes in UTF-8.
        await bot.send_message(ALICE.id, "no", reply_markup=_keyboard(("Yes", "é" * 33)))
    assert [m.text for m in api.bot_messages(ALICE.id)] == ["ok"]


async def test_unknown_chat_and_blocked_user(bot: Bot, api: MemoryBotApi) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(BOB.id, "hello?")
    api.user_message(ALICE, "/start")
    api.block(ALICE.id)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE.id, "hello?")
    api.unblock(ALICE.id)
    await bot.send_message(ALICE.id, "welcome back")
    assert [m.text for m in api.bot_messages(ALICE.id)] == ["welcome back"]


async def test_injected_flood_error_becomes_retry_after(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    api.fail_next("sendMessage", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ALICE.id, "first")
    assert caught.value._retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(ALICE.id, "second")  # only the next call was failed
    assert [m.text for m in api.bot_messages(ALICE.id)] == ["second"]


async def test_injected_fault_can_target_one_chat(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    api.user_message(BOB, "hi")
    api.fail_next("sendMessage", chat_id=BOB.id, description="Bad Request: boom")
    await bot.send_message(ALICE.id, "fine")
    with pytest.raises(BadRequest, match="Boom"):
        await bot.send_message(BOB.id, "fails")


async def test_injected_timeout_raises_timed_out(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    api.fail_next("sendMessage", timeout=True, times=2)
    for _ in range(2):
        with pytest.raises(TimedOut):
            await bot.send_message(ALICE.id, "lost")
    assert api.bot_messages(ALICE.id) == []
    await bot.send_message(ALICE.id, "delivered")
    assert len(api.bot_messages(ALICE.id)) == 1


async def test_unknown_method_is_a_404_and_is_recorded(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    with pytest.raises(InvalidToken, match="Not Found"):
        await bot.send_dice(ALICE.id)
    assert [name for name, _ in api.unknown_calls] == ["sendDice"]


async def test_user_press_needs_a_visible_button(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    sent = await bot.send_message(ALICE.id, "Sure?", reply_markup=_keyboard(("Yes", "y")))
    with pytest.raises(LookupError, match=r"'Maybe'.*\['Yes'\]"):
        api.user_press(ALICE, sent.message_id, "Maybe")
    update = Update.de_json(api.user_press(ALICE, sent.message_id, "Yes"), bot)
    assert update.callback_query is not None
    assert update.callback_query.data == "y"
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == sent.message_id
    assert await update.callback_query.answer("noted")
    with pytest.raises(BadRequest, match="Query is too old"):
        await update.callback_query.answer("twice")
    assert [a["text"] for a in api.callback_answers] == ["noted"]


async def test_forged_callback_for_a_missing_message(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    update = Update.de_json(api.user_callback(ALICE, 999, "admin:delete_all"), bot)
    assert update.callback_query is not None
    assert update.callback_query.data == "admin:delete_all"
    assert update.callback_query.message is not None
    assert not update.callback_query.message.is_accessible


async def test_user_message_gets_command_and_mention_entities(bot: Bot, api: MemoryBotApi) -> None:
    raw = api.user_message(ALICE, "/start@dataide_bot hello @dataide_bot")
    update = Update.de_json(raw, bot)
    assert update.message is not None
    assert update.effective_user is not None
    assert update.effective_user.language_code == "fr"
    entities = [(e.type, e.offset, e.length) for e in update.message.entities]
    assert entities == [("bot_command", 0, 18), ("mention", 25, 12)]
    assert update.message.chat.type == "private"


async def test_privacy_mode_hides_unaddressed_group_chatter(bot: Bot, api: MemoryBotApi) -> None:
    group = ChatSpec(id=-100123, type="supergroup", title="Team")
    api.user_message(ALICE, "just chatting", chat=group)
    api.user_message(ALICE, "/help", chat=group)
    api.user_message(BOB, "hey @dataide_bot", chat=group)
    texts = [u.message.text for u in await bot.get_updates() if u.message]
    assert texts == ["/help", "hey @dataide_bot"]
    assert len(api.messages(group.id)) == 3
    assert [u["message"]["text"] for u in api.undelivered] == ["just chatting"]
    with pytest.raises(ValueError, match="empty message"):
        api.user_message(ALICE, "  ")


async def test_edit_semantics(bot: Bot, api: MemoryBotApi) -> None:
    api.user_message(ALICE, "hi")
    sent = await bot.send_message(ALICE.id, "Pick", reply_markup=_keyboard(("A", "a")))
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "Pick", ALICE.id, sent.message_id, reply_markup=_keyboard(("A", "a"))
        )
    edited = await bot.edit_message_text("Picked", ALICE.id, sent.message_id)
    assert isinstance(edited, type(sent))
    assert edited.text == "Picked"
    stored = api.bot_messages(ALICE.id)[0]
    assert (stored.text, stored.edits, stored.buttons) == ("Picked", 1, [])  # keyboard dropped
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", ALICE.id, 999)
    user_message_id = api.messages(ALICE.id)[0].message_id
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("x", ALICE.id, user_message_id)
    assert await bot.delete_message(ALICE.id, sent.message_id)
    assert api.bot_messages(ALICE.id) == []


async def test_global_flood_limit_with_a_fake_clock() -> None:
    clock = FakeClock()
    api = MemoryBotApi(clock=clock, global_rate=30)
    users = [UserSpec(id=1000 + n, first_name=f"U{n}") for n in range(31)]
    for user in users:
        api.user_message(user, "hi")
    async with _bot(api) as bot:
        for user in users[:30]:
            clock.now += 0.01
            await bot.send_message(user.id, "news")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(users[30].id, "news")
        assert caught.value._retry_after == dtm.timedelta(seconds=1)
        assert api.sent_count == 30
        clock.now = 1000.0 + 1.01  # the first send leaves the one-second window
        await bot.send_message(users[30].id, "news")
    assert api.sent_count == 31
    assert api.send_times[users[30].id] == [1001.01]


async def test_per_chat_flood_limit_is_independent_per_chat() -> None:
    clock = FakeClock()
    api = MemoryBotApi(clock=clock, per_chat_rate=1)
    api.user_message(ALICE, "hi")
    api.user_message(BOB, "hi")
    async with _bot(api) as bot:
        await bot.send_message(ALICE.id, "one")
        with pytest.raises(RetryAfter):
            await bot.send_message(ALICE.id, "two")
        await bot.send_message(BOB.id, "other chat is fine")
        clock.now += 1
        await bot.send_message(ALICE.id, "two")
    assert api.send_times[ALICE.id] == [1000.0, 1001.0]


async def test_get_updates_offset_confirms_and_drops(bot: Bot, api: MemoryBotApi) -> None:
    for text in ("one", "two", "three"):
        api.user_message(ALICE, text)
    ids = [u.update_id for u in await bot.get_updates()]
    assert len(ids) == 3
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
    assert [u.update_id for u in await bot.get_updates()] == ids[1:]  # ids[0] is gone
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[2:]
    assert [u.update_id for u in await bot.get_updates(limit=5)] == ids[2:]
    assert await bot.get_updates(offset=ids[2] + 1) == ()


async def test_get_updates_long_polls_until_an_update_arrives(bot: Bot, api: MemoryBotApi) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)
    assert not poll.done()
    api.user_message(ALICE, "wake up")
    updates = await asyncio.wait_for(poll, 2)
    assert [u.message.text for u in updates if u.message] == ["wake up"]
    assert loop.time() - started < 2


async def test_a_second_poller_terminates_the_first(bot: Bot, api: MemoryBotApi) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(bot.get_updates(timeout=10))
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 2)
    api.user_message(ALICE, "hi")
    assert len(await asyncio.wait_for(second, 2)) == 1


async def test_commands_and_webhook_bookkeeping(bot: Bot, api: MemoryBotApi) -> None:
    await bot.set_my_commands([("start", "Start"), ("help", "Aide")], language_code="fr")
    assert [c.command for c in await bot.get_my_commands(language_code="fr")] == ["start", "help"]
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Start-Now", "x")])
    await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""
    assert (
        "setMyCommands",
        {
            "commands": [
                {"command": "start", "description": "Start"},
                {"command": "help", "description": "Aide"},
            ],
            "language_code": "fr",
        },
    ) in api.calls


async def test_webhook_rules(bot: Bot, api: MemoryBotApi) -> None:
    with pytest.raises(BadRequest, match=r"(?i)an https url must be provided"):
        await bot.set_webhook("http://example.org/hook")
    api.user_message(ALICE, "pending")
    await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).pending_update_count == 1
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


async def test_misc_methods(bot: Bot, api: MemoryBotApi) -> None:
    first = api.user_message(ALICE, "question")
    assert await bot.send_chat_action(ALICE.id, "typing")
    with pytest.raises(BadRequest, match=r"(?i)wrong parameter action"):
        await bot.send_chat_action(ALICE.id, "dancing")
    assert api.chat_actions == [(ALICE.id, "typing")]
    answer = await bot.send_message(
        ALICE.id, "answer", reply_to_message_id=first["message"]["message_id"]
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "question"
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(ALICE.id, "x", reply_to_message_id=42)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(ALICE.id, 42)
    with pytest.raises(BadRequest, match=r"(?i)text buttons are unallowed"):
        await bot.send_message(ALICE.id, "x", reply_markup=_keyboard(("Empty", "")))
    assert await bot.set_chat_menu_button()
    assert api.menu_buttons == {None: {"type": "default"}}
    assert await bot.delete_message(ALICE.id, first["message"]["message_id"])
    assert [m.text for m in api.messages(ALICE.id)] == ["answer"]
    assert len(api.messages(ALICE.id, include_deleted=True)) == 2
    assert await bot.close()
    assert await bot.log_out()


async def test_http_rejects_a_wrong_token_and_times_out_on_request() -> None:
    api = MemoryBotApi()
    async with MemoryHttpServer(api) as server:
        with pytest.raises(InvalidToken, match="rejected by the server"):
            async with Bot("999:WRONG", base_url=server.base_url):  # initialize: getMe -> 401
                pass
        request = HTTPXRequest(read_timeout=0.2)
        async with Bot(api.token, base_url=server.base_url, request=request) as bot:
            api.fail_next("getMe", timeout=True)
            with pytest.raises(TimedOut):
                await bot.get_me()
            assert (await bot.get_me()).id == api.bot_id


async def test_http_accepts_json_bodies_and_query_strings() -> None:
    api = MemoryBotApi()
    api.user_message(ALICE, "hi")
    async with MemoryHttpServer(api) as server, httpx.AsyncClient() as client:
        url = f"{server.base_url}{api.token}"
        sent = await client.post(f"{url}/sendMessage", json={"chat_id": ALICE.id, "text": "json"})
        assert sent.json()["result"]["text"] == "json"
        got = await client.get(f"{url}/sendMessage", params={"chat_id": ALICE.id, "text": ""})
        assert (got.status_code, got.json()) == (
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"},
        )
        missing = await client.get(f"{url}/getChat")
        assert (missing.status_code, missing.json()["description"]) == (404, "Not Found")


async def test_real_http_round_trip_with_httpx_request() -> None:
    api = MemoryBotApi()
    async with MemoryHttpServer(api) as server:
        assert server.port > 0
        async with Bot(api.token, base_url=server.base_url) as bot:
            me = await bot.get_me()
            assert me.username == "dataide_bot"

            api.user_message(ALICE, "/start")
            updates = await bot.get_updates(timeout=1)
            assert [u.message.text for u in updates if u.message] == ["/start"]

            sent = await bot.send_message(
                ALICE.id,
                "<b>Bonjour</b> &amp; bienvenue",
                parse_mode="HTML",
                reply_markup=_keyboard(("Go", "g")),
            )
            assert sent.text == "Bonjour & bienvenue"
            assert sent.reply_markup is not None
            assert sent.reply_markup.inline_keyboard[0][0].callback_data == "g"

            doc = await bot.send_document(
                ALICE.id,
                document=b"a,b\n1,2\n",
                filename="data.csv",
                caption="Your <i>file</i>",
                parse_mode="HTML",
            )
            assert doc.document is not None
            assert doc.document.file_name == "data.csv"
            stored = api.bot_messages(ALICE.id)[-1]
            assert stored.document == ("data.csv", b"a,b\n1,2\n")
            assert stored.text == "Your file"

            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(ALICE.id, "1 < 2", parse_mode="HTML")
            api.fail_next("sendMessage", retry_after=3)
            with pytest.raises(RetryAfter):
                await bot.send_message(ALICE.id, "later")

            poll = asyncio.create_task(
                bot.get_updates(offset=updates[-1].update_id + 1, timeout=10)
            )
            await asyncio.sleep(0.05)
            api.user_press(ALICE, sent.message_id, "Go")
            pressed = await asyncio.wait_for(poll, 3)
            assert [u.callback_query.data for u in pressed if u.callback_query] == ["g"]

            with pytest.raises(InvalidToken, match="Not Found"):
                await bot.send_dice(ALICE.id)
        assert [name for name, _ in api.unknown_calls] == ["sendDice"]
        assert api.internal_errors == []


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        "Bonjour <b>!</b>",
        parse_mode="HTML",
        reply_markup=_keyboard(("Aide", "help")),
        do_quote=True,
    )


async def _pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(f"Vous avez choisi: {query.data}")


async def _converse(api: MemoryBotApi, app: Application) -> None:  # type: ignore[type-arg]
    """Run polling, talk to the bot like a person and check what the person sees."""
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(CallbackQueryHandler(_pressed))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        await app.start()
        api.user_message(ALICE, "/start")
        [reply] = await api.wait_for_bot_messages(ALICE.id, 1)
        assert (reply.text, reply.reply_to) == ("Bonjour !", 1)
        api.user_press(ALICE, reply.message_id, "Aide")
        await api.wait_for(lambda: api.bot_messages(ALICE.id)[0].edits == 1)
        assert api.bot_messages(ALICE.id)[0].text == "Vous avez choisi: help"
        assert api.bot_messages(ALICE.id)[0].buttons == []
        assert len(api.callback_answers) == 1
        assert loop.time() - started < 2  # waits are event-driven, not timeouts
        await app.updater.stop()
        await app.stop()
    assert api.pending_updates() == []  # PTB confirmed every update on shutdown
    assert api.unknown_calls == []
    assert api.internal_errors == []


async def test_application_polls_and_answers_in_memory() -> None:
    api = MemoryBotApi()
    app = (
        Application.builder()
        .token(api.token)
        .request(api.request())
        .get_updates_request(api.request())
        .build()
    )
    await _converse(api, app)


async def test_application_polls_and_answers_over_http() -> None:
    api = MemoryBotApi()
    async with MemoryHttpServer(api) as server:
        app = Application.builder().token(api.token).base_url(server.base_url).build()
        await _converse(api, app)
