"""A real SMTP server process for e-mail tests (aiosmtpd, on a free local port)."""

import socket

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []
        # The text of the last message to each address.
        self.bodies: dict[str, str] = {}

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        from email import message_from_bytes
        from email.header import decode_header, make_header

        message = message_from_bytes(envelope.content)
        subject = str(make_header(decode_header(message["Subject"])))
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), subject))
        payload = message.get_payload(decode=True) or b""
        for address in envelope.rcpt_tos:
            self.bodies[address] = payload.decode(message.get_content_charset() or "utf-8")
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "deadlines@example.cn"
    yield inbox
    controller.stop()
