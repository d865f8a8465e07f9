"""Opting out of announcements and back in, from /stop, /announcements or the menu."""

from __future__ import annotations

from bot import people
from tests.harness import Harness, visible


async def test_stop_opts_out_and_the_button_opts_back_in(bot: Harness) -> None:
    person = bot.user(1)
    await person.say("/start")
    assert await people.wants_announcements(bot.services.sessions, 1)
    replies = await person.say("/stop")
    assert "vous ne recevrez plus les annonces" in visible(replies[0])
    assert "rappels" in visible(replies[0])  # reminders are not announcements
    assert not await people.wants_announcements(bot.services.sessions, 1)
    replies = await person.press("🔔 Recevoir les annonces")
    assert "de nouveau" in visible(replies[0])
    assert await people.wants_announcements(bot.services.sessions, 1)


async def test_menu_and_command_show_the_setting_in_the_persons_language(bot: Harness) -> None:
    person = bot.user(2, first_name="Sam", language_code="en")
    await person.say("/start")
    replies = await person.press("🔔 Announcements")
    assert "You receive the DATAide team's announcements" in visible(replies[0])
    await person.press("🔕 Stop announcements")
    replies = await person.say("/announcements")
    assert "You don't receive" in visible(replies[0])
    assert person.buttons(replies[0]) == ["🔔 Receive announcements"]


async def test_a_forged_button_changes_only_the_pressers_own_setting(bot: Harness) -> None:
    one, two = bot.user(3), bot.user(4)
    await one.say("/start")
    await two.say("/start")
    await two.forge("notif:off:fr")
    assert await people.wants_announcements(bot.services.sessions, 3)
    assert not await people.wants_announcements(bot.services.sessions, 4)
    await two.forge("notif:maybe:fr")
    assert bot.api.callback_answers[-1].get("show_alert") is True
    assert not await people.wants_announcements(bot.services.sessions, 4)
