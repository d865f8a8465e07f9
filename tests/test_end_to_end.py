"""`python -m bot run` as a real process, long polling a Bot API server on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.memory_api import MemoryBotApi, UserSpec
from bot.memory_http import MemoryHttpServer
from tests.processes import start_bot

TOKEN = "424242:E2E-TEST"


async def test_question_answered_through_real_long_polling(tmp_path: Path) -> None:
    api = MemoryBotApi(token=TOKEN)
    async with MemoryHttpServer(api) as server:
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": f"http://127.0.0.1:{server.port}",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
            "KNOWLEDGE_DIR": str(PROJECT_ROOT / "knowledge"),
        }
        env.pop("WEBHOOK_URL", None)
        bot = await start_bot(env, tmp_path, ready=False)  # long polling: no webhook events
        try:
            person = UserSpec(77, "Maude", language_code="fr")
            api.user_message(person, "Combien vaut la bourse innovation?")
            replies = await api.wait_for_bot_messages(person.id, 1, within=60)
            assert "50\u00a0000\u00a0$" in (replies[0].text or "")
            assert any(method == "getUpdates" for method, _ in api.calls)
        finally:
            status = await bot.stop(within=30)
        log = bot.output
        assert status == 0, log
        assert TOKEN not in log, "the token must never reach the logs"
        assert "Combien vaut" not in log, "message text must not be logged at INFO"
