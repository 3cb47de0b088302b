#!/usr/bin/python3
"""A local SMTP server for tests and the demo (Debian's python3-aiosmtpd).

Listens on 127.0.0.1 (port 0 = an ephemeral one) and prints `PORT <n>` on
stdout once it accepts connections. Every accepted message is written to
--dir as <queue id>.json: envelope sender and recipients, the decoded
Message-ID, Subject and plain-text body, and the raw message. The DATA
reply is `250 Ok: queued as <ID>`.

At RCPT it refuses, with `550 5.1.1 mailbox unavailable`, a recipient whose
local part starts with `bounce` or that is listed with --reject.

Exits when its parent process goes away (a test binary killed hard must not
leave it behind).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import secrets
import socket
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, folder, rejected):
        self.folder = folder
        self.rejected = {address.lower() for address in rejected}
        self.accepted = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("bounce") or address.lower() in self.rejected:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        queue_id = secrets.token_hex(5).upper()
        self.accepted += 1
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body_part = message.get_body(preferencelist=("plain",))
        body = body_part.get_content() if body_part is not None else ""
        record = {
            "seq": self.accepted,
            "queue_id": queue_id,
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "message_id": str(message.get("Message-ID", "")).strip(),
            "subject": str(message.get("Subject", "")),
            "body": body,
            "raw": raw.decode("utf-8", "replace"),
        }
        path = os.path.join(self.folder, queue_id + ".json")
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
        os.replace(path + ".tmp", path)
        return "250 Ok: queued as " + queue_id


async def watch_parent(parent):
    while True:
        await asyncio.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reject", action="append", default=[])
    args = parser.parse_args()

    handler = Handler(args.dir, args.reject)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(64)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="yuetan-smtp-peer", enable_SMTPUTF8=True, decode_data=False),
        sock=sock,
    )
    print("PORT %d" % sock.getsockname()[1], flush=True)
    asyncio.ensure_future(watch_parent(os.getppid()))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
