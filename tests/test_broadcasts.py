"""Staff announcements as staff and people live them: audience, preview, confirm, delivery
through the outbox (with Telegram refusing some), progress, /broadcasts and stopping."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from bot import broadcasts
from bot.clock import FrozenClock
from bot.config import Settings
from bot.memory_api import MemoryBotApi
from bot.models import Broadcast, OutboxMessage
from tests.conftest import STAFF_ID, make_settings
from tests.harness import Harness, Person, running_bot, visible
from tests.test_outbox_reliability import sender_killed_when
from tests.test_sessions import new_session, register

HEADER_FR = "Annonce de l'équipe DATAide"
HEADER_EN = "Announcement from the DATAide team"


async def people(bot: Harness, ids: range, language: str = "fr") -> list[Person]:
    """People who talked to the bot (Telegram lets a bot write only to them)."""
    everyone = [bot.user(i, first_name=f"P{i}", language_code=language) for i in ids]
    for person in everyone:
        await person.say("/start")
    return everyone


def received(bot: Harness, chat_id: int) -> list[str]:
    """The announcements a person got, as they read them."""
    return [
        visible(m)
        for m in bot.api.bot_messages(chat_id)
        if HEADER_FR in (m.text or "") or HEADER_EN in (m.text or "") or "📣" in (m.text or "")
    ]


async def prepare(staff: Person, audience_label_start: str, text: str) -> list[str]:
    """/broadcast, pick the audience whose label starts so, write the text; returns the
    labels of the confirmation buttons."""
    await staff.say("/broadcast")
    label = next(b for b in staff.buttons() if b.startswith(audience_label_start))
    await staff.press(label)
    await staff.say(text)
    return staff.buttons()


async def broadcast_rows(bot: Harness) -> list[Broadcast]:
    async with bot.services.sessions() as session:
        return list((await session.scalars(select(Broadcast).order_by(Broadcast.id))).all())


# ---------------------------------------------------------------------- audiences


async def test_everyone_gets_it_once_after_preview_and_confirm(bot: Harness) -> None:
    await people(bot, range(1, 4))
    await people(bot, range(4, 6), language="en")
    staff = bot.user(STAFF_ID, first_name="Équipe")
    await staff.say("/broadcast")
    # Five people plus the staff member themself, who also talked to the bot.
    assert staff.buttons()[0] == "Tout le monde (6)"
    assert staff.buttons()[1:3] == [
        "Les personnes francophones (4)",
        "Les personnes anglophones (2)",
    ]
    await staff.press("Tout le monde (6)")
    replies = await staff.say("Nouvelle cohorte : inscriptions ouvertes le 1er février !")
    preview = visible(replies[1])
    assert HEADER_FR in preview
    assert "Nouvelle cohorte : inscriptions ouvertes le 1er février !" in preview
    assert "/stop" in preview
    assert "6 personne(s)" in visible(replies[-1])
    assert bot.api.bot_messages(1)[-1].text is not None
    assert received(bot, 1) == [], "nothing goes out before Confirm"
    assert await broadcast_rows(bot) == []

    await staff.press("✅ Envoyer à 6 personne(s)")
    progress = staff.last_reply()
    assert "envoi en cours" in visible(progress)
    assert "Restants : 6 sur 6" in visible(progress)
    await bot.drain()
    for chat in (1, 2, 3):
        assert len(received(bot, chat)) == 1
        assert HEADER_FR in received(bot, chat)[0]
    for chat in (4, 5):
        assert len(received(bot, chat)) == 1
        assert HEADER_EN in received(bot, chat)[0]
        assert "To stop receiving announcements: /stop" in received(bot, chat)[0]
    # The one progress message was edited to the end, then a summary came.
    edited = next(m for m in bot.api.bot_messages(STAFF_ID) if m.message_id == progress.message_id)
    assert "Envoyés : 6" in visible(edited)
    assert "Restants : 0 sur 6" in visible(edited)
    assert "terminée" in visible(staff.last_reply())
    assert "6 envoyée(s) sur 6" in visible(staff.last_reply())
    [row] = await broadcast_rows(bot)
    assert (row.status, row.recipients, row.audience) == ("done", 6, "all")
    await bot.drain()  # nothing more, and no second summary
    assert sum("terminée" in visible(m) for m in bot.api.bot_messages(STAFF_ID)) == 1


async def test_language_audience_reaches_only_that_language(bot: Harness) -> None:
    await people(bot, range(11, 13))
    await people(bot, range(13, 15), language="en")
    staff = bot.user(STAFF_ID, language_code="en")
    buttons = await prepare(staff, "English speakers", "The next cohort opens soon.")
    assert buttons == ["✅ Send to 3 person(s)", "✖️ Cancel"]  # two people and the staff
    await staff.press("✅ Send to 3 person(s)")
    await bot.drain()
    assert [len(received(bot, chat)) for chat in (11, 12, 13, 14)] == [0, 0, 1, 1]


async def test_session_registrants_with_or_without_the_waitlist(bot: Harness) -> None:
    await new_session(bot, capacity=1)
    first, second = await people(bot, range(21, 23))
    await first.say("/sessions")
    await register(first)
    await second.say("/sessions")
    await register(second, "Liste d'attente : jeudi 3 décembre, 14 h")
    other = (await people(bot, range(23, 24)))[0]
    staff = bot.user(STAFF_ID)
    await staff.say("/broadcast")
    await staff.press("Les inscrit·e·s d'une séance…")
    assert staff.buttons() == ["jeudi 3 décembre, 14 h · 1 inscrit·e·s, 1 en attente"]
    await staff.press(staff.buttons()[0])
    assert staff.buttons() == [
        "Les inscrit·e·s seulement (1)",
        "Les inscrit·e·s et la liste d'attente (2)",
    ]
    await staff.press("Les inscrit·e·s seulement (1)")
    await staff.say("Le lien de la séance a changé.")
    await staff.press("✅ Envoyer à 1 personne(s)")
    await bot.drain()
    assert len(received(bot, first.chat_id)) == 1
    assert (
        "Au sujet de votre séance d'information du jeudi 3 décembre 2026"
        in received(bot, first.chat_id)[0]
    )
    assert received(bot, second.chat_id) == []
    assert received(bot, other.chat_id) == []
    await prepare_waitlist(staff)
    await bot.drain()
    assert [len(received(bot, p.chat_id)) for p in (first, second, other)] == [2, 1, 0]


async def prepare_waitlist(staff: Person) -> None:
    await staff.say("/broadcast")
    await staff.press("Les inscrit·e·s d'une séance…")
    await staff.press(staff.buttons()[0])
    await staff.press("Les inscrit·e·s et la liste d'attente (2)")
    await staff.say("Rappel : la séance approche.")
    await staff.press("✅ Envoyer à 2 personne(s)")


async def test_opted_out_and_blocked_people_are_skipped(bot: Harness) -> None:
    stays, leaves, blocks = await people(bot, range(31, 34))
    await leaves.say("/stop")
    staff = bot.user(STAFF_ID)
    bot.api.block(blocks.spec.id)
    await prepare(staff, "Tout le monde", "Première annonce")
    await staff.press("✅ Envoyer à 3 personne(s)")  # stays, blocks, staff
    await bot.drain()
    assert len(received(bot, stays.chat_id)) == 1
    assert received(bot, leaves.chat_id) == []
    assert "1 personne(s) injoignable(s)" in visible(staff.last_reply())
    # Marked as unreachable: the next broadcast does not even count them.
    await staff.say("/broadcast")
    assert staff.buttons()[0] == "Tout le monde (2)"


async def test_opting_out_withdraws_an_announcement_still_queued(bot: Harness) -> None:
    first, second = await people(bot, range(41, 43))
    staff = bot.user(STAFF_ID)
    await prepare(staff, "Tout le monde", "Annonce")
    await staff.press("✅ Envoyer à 3 personne(s)")
    await second.say("/stop")  # before the sender got to it
    await bot.drain()
    assert len(received(bot, first.chat_id)) == 1
    assert received(bot, second.chat_id) == []
    assert "1 retirée(s)" not in visible(staff.last_reply())
    [progress] = await broadcasts.recent(bot.services.sessions)
    assert (progress.sent, progress.cancelled, progress.status) == (2, 1, "done")


# ---------------------------------------------------------------------- staff's mistakes


async def test_cancel_sends_nothing_and_a_double_tap_sends_once(bot: Harness) -> None:
    await people(bot, range(51, 53))
    staff = bot.user(STAFF_ID)
    await prepare(staff, "Tout le monde", "Brouillon")
    replies = await staff.press("✖️ Annuler")
    assert "rien n'a été envoyé" in visible(replies[0])
    await bot.drain()
    assert received(bot, 51) == []
    assert await broadcast_rows(bot) == []

    await prepare(staff, "Tout le monde", "La vraie")
    confirm = staff.last_reply()
    await staff.press("✅ Envoyer à 3 personne(s)", message=confirm)
    replies = await staff.press("✅ Envoyer à 3 personne(s)", message=confirm)
    assert "plus d'annonce à confirmer" in visible(replies[0])
    await bot.drain()
    assert len(await broadcast_rows(bot)) == 1
    assert [len(received(bot, chat)) for chat in (51, 52)] == [1, 1]


async def test_text_is_echoed_escaped_and_bad_text_asked_again(bot: Harness) -> None:
    await people(bot, range(61, 62))
    staff = bot.user(STAFF_ID)
    await staff.say("/broadcast")
    await staff.press("Tout le monde (2)")
    replies = await staff.say("x" * (broadcasts.MAX_TEXT + 1))
    assert f"{broadcasts.MAX_TEXT + 1} caractères" in visible(replies[0])
    await staff.say("Tarifs <b>gratuits</b> & *sans* frais 🎉")
    await staff.press("✅ Envoyer à 2 personne(s)")
    await bot.drain()
    [message] = [m for m in bot.api.bot_messages(61) if "📣" in (m.text or "")]
    assert "Tarifs <b>gratuits</b> & *sans* frais 🎉" in visible(message)


async def test_free_text_while_buttons_are_expected_shows_them_again(bot: Harness) -> None:
    await people(bot, range(71, 72))
    staff = bot.user(STAFF_ID)
    await staff.say("/broadcast")
    replies = await staff.say("tout le monde")
    assert replies[-1].buttons, "the audience buttons again"
    assert await broadcast_rows(bot) == []


async def test_people_who_are_not_staff_can_do_nothing(bot: Harness) -> None:
    [person] = await people(bot, range(81, 82))
    replies = await person.say("/broadcast")
    assert "réservée à l'équipe" in visible(replies[0])
    replies = await person.say("/broadcasts")
    assert "réservée à l'équipe" in visible(replies[0])
    for data in ("cast:aud-all:fr", "cast:send:fr", "cast:stopyes-1:fr", "cast:sessions:fr"):
        replies = await person.forge(data)
        assert "réservée à l'équipe" in visible(replies[0])
    await person.forge("cast:aud-everyone:fr")  # not a known action: an expired button
    assert bot.api.callback_answers[-1].get("show_alert") is True
    assert await broadcast_rows(bot) == []


async def test_a_staff_member_removed_mid_dialogue_goes_no_further(
    settings: Settings, clock: FrozenClock
) -> None:
    async with running_bot(settings, clock) as bot:
        await people(bot, range(91, 92))
        staff = bot.user(STAFF_ID)
        await prepare(staff, "Tout le monde", "Annonce")
        bot.services.settings.staff_ids = frozenset()
        replies = await staff.press("✅ Envoyer à 2 personne(s)")
        assert "réservée à l'équipe" in visible(replies[0])
        assert await broadcast_rows(bot) == []


# ---------------------------------------------------------------------- Telegram's refusals


async def test_429_403_400_and_timeouts_each_end_in_one_state_and_none_twice(
    bot: Harness,
) -> None:
    everyone = await people(bot, range(101, 111))
    staff = bot.user(STAFF_ID)
    bot.api.block(102)
    bot.api.fail_next("sendMessage", retry_after=1, chat_id=103)
    bot.api.fail_next(
        "sendMessage", status=400, description="Bad Request: chat not found", chat_id=104
    )
    bot.api.fail_next("sendMessage", timeout=True, chat_id=105)
    bot.api.fail_next("sendMessage", timeout=True, times=5, chat_id=106)
    await prepare(staff, "Tout le monde", "Annonce")
    await staff.press("✅ Envoyer à 11 personne(s)")
    await bot.drain()
    clock: FrozenClock = bot.services.clock  # type: ignore[assignment]
    for _ in range(6):  # the timeouts are retried with backoff
        clock.advance(timedelta(seconds=400))
        await bot.drain()
    counts = Counter(len(received(bot, p.chat_id)) for p in everyone)
    assert counts == Counter({1: 7, 0: 3})  # blocked, refused, out of attempts
    async with bot.services.sessions() as session:
        statuses = Counter(
            (
                await session.scalars(
                    select(OutboxMessage.status).where(OutboxMessage.broadcast_id == 1)
                )
            ).all()
        )
    assert statuses == Counter({"sent": 8, "unreachable": 1, "failed": 2})
    summary = visible(staff.last_reply())
    assert "8 envoyée(s) sur 11, 2 échec(s), 1 personne(s) injoignable(s)" in summary


# ---------------------------------------------------------------------- restarts and stops


async def test_a_broadcast_resumes_after_a_restart_without_sending_twice(
    settings: Settings, clock: FrozenClock
) -> None:
    count = 70  # more than one batch of the sender (58)
    async with running_bot(settings, clock) as bot:
        await people(bot, range(1001, 1001 + count))
        staff = bot.user(STAFF_ID)
        await prepare(staff, "Tout le monde", "Annonce importante")
        await staff.press(f"✅ Envoyer à {count + 1} personne(s)")
        assert bot.services.sender is not None
        first_batch = await bot.services.sender.run_once()
        assert 0 < first_batch < count
        api = bot.api
    async with running_bot(settings, clock, api) as bot:
        await bot.drain()
        got = Counter(len(received(bot, chat)) for chat in range(1001, 1001 + count))
        assert got == Counter({1: count})
        assert sum("terminée" in visible(m) for m in api.bot_messages(STAFF_ID)) == 1


async def test_broadcasts_lists_counts_and_stops_a_running_one(bot: Harness) -> None:
    await people(bot, range(201, 261))
    staff = bot.user(STAFF_ID)
    await prepare(staff, "Tout le monde", "Longue annonce")
    await staff.press("✅ Envoyer à 61 personne(s)")
    assert bot.services.sender is not None
    await bot.services.sender.run_once()  # one batch out, the rest queued
    replies = await staff.say("/broadcasts")
    listing = visible(replies[0])
    assert "n° 1" in listing
    assert "en cours" in listing
    assert staff.buttons(replies[0]) == ["⏹ Arrêter l'annonce n° 1"]
    replies = await staff.press("⏹ Arrêter l'annonce n° 1")
    replies = await staff.press("Non, continuer l'envoi")
    assert "l'envoi continue" in visible(replies[0])
    await staff.press("⏹ Arrêter l'annonce n° 1")
    replies = await staff.press("Oui, arrêter")
    assert "arrêtée" in visible(replies[0])
    sent_before = sum(len(received(bot, chat)) for chat in range(201, 261))
    await bot.drain()
    assert sum(len(received(bot, chat)) for chat in range(201, 261)) == sent_before
    assert 0 < sent_before < 60
    replies = await staff.say("/broadcasts")
    assert "arrêtée" in visible(replies[0])
    assert staff.buttons(replies[0]) == []
    replies = await staff.forge("cast:stopyes-1:fr")
    assert "déjà terminée ou arrêtée" in visible(replies[0])
    replies = await staff.forge("cast:stop-99:fr")
    assert "Je ne trouve pas cette annonce" in visible(replies[0])


async def test_in_a_group_it_points_to_the_private_chat(bot: Harness) -> None:
    from bot.memory_api import ChatSpec

    group = ChatSpec(-500, "group", title="Équipe")
    staff = bot.user(STAFF_ID, chat=group)
    replies = await staff.say("/broadcast")
    assert "en privé" in visible(replies[0])
    assert await broadcast_rows(bot) == []


async def test_counts_come_from_the_outbox(bot: Harness) -> None:
    await people(bot, range(301, 303))
    staff = bot.user(STAFF_ID)
    await prepare(staff, "Tout le monde", "Annonce")
    await staff.press("✅ Envoyer à 3 personne(s)")
    async with bot.services.sessions() as session:
        queued = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "broadcast")
        )
    assert queued == 3
    [progress] = await broadcasts.recent(bot.services.sessions)
    assert (progress.remaining, progress.sent) == (3, 0)
    await bot.drain()
    [progress] = await broadcasts.recent(bot.services.sessions)
    assert (progress.remaining, progress.sent, progress.status) == (0, 3, "done")


async def test_help_lists_staff_commands_to_staff_only(bot: Harness) -> None:
    replies = await bot.user(STAFF_ID).say("/help")
    assert "/broadcast – envoyer une annonce" in visible(replies[0])
    replies = await bot.user(5).say("/help")
    assert "/broadcast" not in visible(replies[0])


async def test_a_broadcast_killed_mid_way_resumes_without_loss(
    database_url: str, clock: FrozenClock
) -> None:
    """SIGKILL the process sending a broadcast; the next one finishes it: nobody is missed,
    and only what was in flight at the kill (Telegram had it, the row was not yet marked)
    can go twice. The summary is sent once."""
    settings = make_settings(database_url)
    api = MemoryBotApi(token="123456:TEST", global_rate=30, per_chat_rate=1)
    chats = range(2001, 2041)
    async with running_bot(settings, clock, api) as bot:
        await people(bot, chats)
        staff = bot.user(STAFF_ID)
        await prepare(staff, "Tout le monde", "Annonce")
        await staff.press("✅ Envoyer à 41 personne(s)")
    before = api.sent_count
    await sender_killed_when(database_url, api, lambda: api.sent_count >= before + 12)
    got_before_restart = {chat for chat in chats if received_by(api, chat)}
    assert 0 < len(got_before_restart) < len(chats), "the kill did not come mid-way"
    clock.advance(timedelta(minutes=2))  # the dead process's leases run out
    async with running_bot(settings, clock, api) as bot:
        await bot.drain()
        counts = Counter(len(received_by(api, chat)) for chat in chats)
        assert counts[0] == 0, "someone never got the announcement"
        assert counts[1] >= len(chats) - 5, f"sent twice beyond the messages in flight: {counts}"
        assert max(counts) <= 2
        summaries = [m for m in api.bot_messages(STAFF_ID) if "terminée" in (m.text or "")]
        assert len(summaries) == 1


def received_by(api: MemoryBotApi, chat_id: int) -> list[str]:
    return [m.text or "" for m in api.bot_messages(chat_id) if "📣" in (m.text or "")]


async def test_stats_count_the_broadcasts_and_their_messages(bot: Harness) -> None:
    await people(bot, range(401, 404))
    bot.api.block(403)
    staff = bot.user(STAFF_ID)
    replies = await staff.say("/stats")
    assert "Annonces (30 derniers jours) : 0" in visible(replies[0])
    await prepare(staff, "Tout le monde", "Annonce")
    await staff.press("✅ Envoyer à 4 personne(s)")
    await bot.drain()
    replies = await staff.say("/stats")
    assert (
        "Annonces (30 derniers jours) : 1, soit 3 messages envoyés, 0 échecs, "
        "1 personnes injoignables"
    ) in visible(replies[0])
