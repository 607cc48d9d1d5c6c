"""``KOKORO_WYOMING_PORT`` (``serve --wyoming-port 10200``): a Wyoming TTS server in the HTTP
server's process and event loop, so it speaks with the same engine through the same admission queue.

Home Assistant: add the Wyoming Protocol integration with this host and port (docs/voice-agents.md).
"""

from __future__ import annotations

import logging

from wyoming.server import AsyncTcpServer

from kokoro_server.api.state import Serving
from kokoro_server.api.wyoming.handler import SpeechHandler

log = logging.getLogger("kokoro_server.wyoming")


class WyomingServer:
    def __init__(self, state: Serving) -> None:
        self.state = state
        settings = state.settings
        self.host = settings.wyoming_host or settings.host
        self._server = AsyncTcpServer(self.host, settings.wyoming_port or 0)

    @property
    def port(self) -> int:
        """The port it listens on (the one asked for, or the one given for port 0)."""
        sockets = self._server._server.sockets if self._server._server is not None else ()
        return int(sockets[0].getsockname()[1]) if sockets else int(self.state.settings.wyoming_port or 0)

    async def start(self) -> None:
        await self._server.start(lambda reader, writer: SpeechHandler(self.state, reader, writer))
        log.info("Wyoming server (Home Assistant) listening on tcp://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        await self._server.stop()
