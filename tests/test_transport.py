"""The uvicorn protocol subclass: what it keeps per connection and what it leaves behind."""

from __future__ import annotations

import asyncio
import gc

from websockets.server import ServerProtocol

from live.web.transport import LiveWebSocketProtocol, _Flag, _Inbox


async def test_a_closed_connection_leaves_no_cyclic_garbage(server):
    """Closed viewers must be freed by reference counting: the GC policy freezes live
    connections and relies on it (live.gcpolicy)."""
    gc.collect()
    viewers = [await server.viewer() for _ in range(20)]
    for i, viewer in enumerate(viewers):
        if i % 2:
            await viewer.close()
        else:
            viewer.ws.transport.abort()  # a phone that drops off the network
    server.clients.clear()
    del viewers
    await asyncio.sleep(0.3)
    assert server.app.state.live.hub.connections() == 0
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        protocols = [o for o in gc.garbage if type(o) in (LiveWebSocketProtocol, ServerProtocol)]
        transports = [o for o in gc.garbage if type(o).__name__ == "_SelectorSocketTransport"
                      and o.get_extra_info("sockname", ("", 0))[1] == server.settings.port]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert (len(protocols), len(transports)) == (0, 0)


async def test_inbox_and_flag_behave_like_the_asyncio_originals():
    inbox = _Inbox()
    assert inbox.empty()
    getter = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert await getter == 1 and not inbox.empty()
    assert await inbox.get() == 2 and inbox.empty()
    cancelled = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    inbox.put_nowait(3)
    assert await inbox.get() == 3

    flag = _Flag()
    waiter = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    flag.set()
    await waiter
    flag.clear()
    assert not flag.is_set()
    flag.set()
    await flag.wait()


def test_text_frames_match_the_websockets_encoder():
    from websockets.frames import Frame, Opcode

    from live.frames import text_frame

    for size in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        payload = b"x" * size
        assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False), size
