# The bot as a container: `docker build -t dataide-bot .`, then see docs/deploy.md.
# Long polling by default; set WEBHOOK_URL (and publish PORT) for webhook mode.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json \
    PORT=8080

WORKDIR /app
# Dependencies only, first, so a change of code or knowledge reuses this layer. The code is
# not installed: `python -m bot` runs from /app, where knowledge/ and migrations/ are.
COPY pyproject.toml README.md ./
RUN mkdir bot handlers && touch bot/__init__.py handlers/__init__.py \
    && pip install . && pip uninstall -y dataide-bot && rm -rf bot handlers build *.egg-info
COPY . .
# The classifier is trained now, where memory is plentiful, and its weights ship in the
# image: a start then reads them (about 160 MiB) instead of training (about 370 MiB). A
# knowledge base changed later (/reload, a mounted knowledge/) trains once more at start.
ENV CACHE_DIR=/app/cache
RUN python -m bot kb train
RUN useradd --create-home --uid 10001 bot && mkdir -p /app/data \
    && chown -R bot /app/data /app/cache
USER bot

EXPOSE 8080
# Database reachable and outbox readable; in webhook mode, also this container's /healthz.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "if [ -n \"$WEBHOOK_URL\" ]; then python -m bot health --server; else python -m bot health; fi"]
# SIGTERM (docker stop) shuts down in order: give it the time it needs (docker stop -t 30).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
