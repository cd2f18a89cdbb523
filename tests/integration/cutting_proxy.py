"""A loopback TCP proxy that cuts the connection after N bytes: a link dropping mid-transaction."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class CuttingProxy:
    target_host: str
    target_port: int
    cut_request_after: int | None = None  # bytes client -> server before the cut
    cut_response_after: int | None = None  # bytes server -> client before the cut
    cuts: int = 0
    _server: asyncio.Server | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, up_writer, self.cut_request_after, writer),
            self._pipe(up_reader, writer, self.cut_response_after, up_writer),
        )

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        limit: int | None,
        other: asyncio.StreamWriter,
    ) -> None:
        sent = 0
        try:
            while data := await src.read(65536):
                if limit is not None and sent + len(data) > limit:
                    dst.write(data[: max(0, limit - sent)])
                    with contextlib.suppress(ConnectionError):
                        await dst.drain()
                    self.cuts += 1
                    # Drop both directions, as a link going down would.
                    dst.transport.abort()
                    other.transport.abort()
                    return
                sent += len(data)
                dst.write(data)
                await dst.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.close()
