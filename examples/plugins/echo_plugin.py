#!/usr/bin/env python3
"""A Rosey plugin in Python: `!echo <text>` says the text back, `!shout <text>` in capitals.

The whole protocol is in docs/plugins.md. In short: register a NATS micro service whose
metadata has `rosey_plugin: "1"`, one endpoint per command on `rosey.plugins.<plugin>.<command>`
with `help`, `usage` and `min_rank` in its metadata, and answer each JSON request with a JSON
reply such as {"chat": ["a line"]}.

Run:  python3 echo_plugin.py [nats://127.0.0.1:4222]    (or set NATS_URL)
"""

import asyncio
import json
import os
import signal
import sys

import nats
from nats.micro import add_service
from nats.micro.service import EndpointConfig, ServiceConfig

PLUGIN = "pyecho"
VERSION = "1.0.0"
PROTOCOL = "1"


def reply(chat=None, error=None):
    """A reply payload: chat lines, or one error/usage line."""
    body = {"v": 1}
    if chat:
        body["chat"] = chat
    if error:
        body["error"] = error
    return json.dumps(body).encode()


async def echo(req):
    try:
        cmd = json.loads(req.data)
    except ValueError:
        await req.respond_error("400", "bad request")
        return
    text = cmd.get("args", "").strip()  # unknown fields are ignored
    if not text:
        await req.respond(reply(error=f"Usage: {cmd.get('prefix', '!')}echo <text>"))
        return
    await req.respond(reply(chat=[f"{cmd.get('user', '?')} said: {text}"]))


async def shout(req):
    cmd = json.loads(req.data)
    text = cmd.get("args", "").strip() or "nothing"
    await req.respond(reply(chat=[text.upper() + "!"]))


def endpoint(name, handler, help_text, usage, min_rank=0):
    return EndpointConfig(
        name=name,
        handler=handler,
        subject=f"rosey.plugins.{PLUGIN}.{name}",
        metadata={"help": help_text, "usage": usage, "min_rank": str(min_rank)},
    )


async def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    nc = await nats.connect(url)
    service = await add_service(
        nc,
        ServiceConfig(
            name=PLUGIN,
            version=VERSION,
            description="Echo, from Python",
            metadata={"rosey_plugin": PROTOCOL},
        ),
    )
    await service.add_endpoint(endpoint("echo", echo, "Says your text back.", "!echo <text>"))
    await service.add_endpoint(endpoint("shout", shout, "Says your text in capitals.", "!shout <text>"))
    # Optional: bots look for plugins at once instead of at their next discovery.
    await nc.publish("rosey.plugins.announce", PLUGIN.encode())
    await nc.flush()
    print(f"{PLUGIN} {VERSION} ready", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await service.stop()
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
