"""irctest controller for confab: copy into an irctest checkout's
``irctest/controllers/`` (see docs/dev/irctest.md).

Runs ``confab serve --data-dir DIR --listen HOST:PORT --config DIR/confab.toml``
with a fresh temporary directory per test. The binary is $CONFAB_BIN
(default: ``confab`` on the PATH).
"""

import os
import shutil
from pathlib import Path
from typing import Any, Optional, Set, Type

from irctest.specifications import Capabilities, OptionalBehaviors
from irctest.basecontrollers import (
    BaseServerController,
    DirectoryBasedController,
    NotImplementedByController,
)

CONFAB_BIN = os.environ.get("CONFAB_BIN", "confab")

# argon2id PHC hash of "operpassword" (generated with argon2-cffi; cheap
# parameters so OPER is quick in a debug build -- confab verifies with the
# parameters stored in the hash).
OPER_PASSWORD_HASH = (
    "$argon2id$v=19$m=8,t=1,p=1$z3iSwxeJ8M3oJlF+TN7Lng$"
    "Aod97cb1QbDUqcWt+izkbBT0T91Y9Q7lr3QAxJFAelI"
)

TEMPLATE_CONFIG = """
[chat]
# IRC clients do not auto-join; keep line clients out of #general too
default_room = ""

[accounts]
allow_guests = true
# irctest uses short passwords such as "sesame"
min_password_len = 1
registrations_per_address_per_hour = 1000000
max_failed_logins_per_address = 1000000

[limits]
# no fake lag for loopback
flood_exempt = ["127.0.0.0/8", "::1/128"]
# quick stop between tests
shutdown_grace_ms = 200

[irc]
server_name = "My.Little.Server"

[[opers]]
name = "operuser"
password_hash = "{oper_hash}"
"""

# Capabilities confab documents as supported (docs/irc.md).  A CAP NAK for one
# of these fails a test instead of skipping it.
SUPPORTED_CAPS = {
    "account-notify",
    "account-tag",
    "away-notify",
    "batch",
    "cap-notify",
    "chghost",
    "draft/chathistory",
    "chathistory",
    "draft/read-marker",
    "echo-message",
    "extended-join",
    "invite-notify",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "sasl",
    "server-time",
    "setname",
    "userhost-in-names",
}


class ConfabController(BaseServerController, DirectoryBasedController):
    software_name = "confab"
    supported_sasl_mechanisms: Set[str] = {"PLAIN"}
    supports_sts = False
    # confab has no mute extban
    extban_mute_char = None
    nickserv = "NickServ"
    _port_wait_interval = 0.05

    # Declared like recent irctest controllers do (ergo.py); from docs/irc.md.
    capabilities = frozenset(
        (
            Capabilities.ACCOUNT_NOTIFY,
            Capabilities.ACCOUNT_TAG,
            Capabilities.AWAY_NOTIFY,
            Capabilities.BATCH,
            Capabilities.ECHO_MESSAGE,
            Capabilities.EXTENDED_JOIN,
            Capabilities.LABELED_RESPONSE,
            Capabilities.MESSAGE_TAGS,
            Capabilities.MULTI_PREFIX,
            Capabilities.SERVER_TIME,
            Capabilities.SETNAME,
        )
    )
    # Documented: JOIN takes several channels, PRIVMSG up to 4 targets.
    # Not supported (per docs/irc.md): +e/+I lists, +C, multi-target KICK and
    # NAMES (TARGMAX KICK:1, NAMES:1), ELIST filters (ELIST= is empty),
    # MONITOR, WHOX, BOT mode, STATUSMSG, STS, SCRAM, server passwords.
    optional_behaviors = frozenset(
        (
            OptionalBehaviors.MULTI_JOIN,
            OptionalBehaviors.MULTI_PRIVMSG,
        )
    )

    def supports_cap(self, cap: str) -> bool:
        return cap in SUPPORTED_CAPS

    def create_config(self) -> None:
        super().create_config()
        with self.open_file("confab.toml"):
            pass

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        if password is not None:
            # confab's PASS is an account password, there is no server password
            raise NotImplementedByController("server password (PASS)")
        if ssl:
            raise NotImplementedByController("TLS listener in irctest")
        if kwargs.get("valid_metadata_keys") or kwargs.get("invalid_metadata_keys"):
            raise NotImplementedByController("METADATA")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        assert self.directory

        with self.open_file("confab.toml", "w") as fd:
            fd.write(TEMPLATE_CONFIG.format(oper_hash=OPER_PASSWORD_HASH))

        data_dir = self.directory / "data"
        data_dir.mkdir()

        if faketime and shutil.which("faketime"):
            faketime_cmd = ["faketime", "-f", faketime]
            self.faketime_enabled = True
        else:
            faketime_cmd = []

        self.proc = self.execute(
            [
                *faketime_cmd,
                CONFAB_BIN,
                "serve",
                "--data-dir",
                str(data_dir),
                "--listen",
                f"{hostname}:{port}",
                "--config",
                str(self.directory / "confab.toml"),
                "--log-level",
                os.environ.get("CONFAB_LOG", "warn"),
            ],
            proc_name="confab",
        )
        # A runner may kill whatever is left of these at the end of a run.
        pidfile = os.environ.get("CONFAB_PIDFILE")
        if pidfile:
            with open(pidfile, "a") as fd:
                fd.write(f"{self.proc.pid}\n")

    def wait_for_services(self) -> None:
        # NickServ is built in; it is up as soon as the port is.
        self.wait_for_port()

    def registerUser(
        self,
        case: Any,  # irctest.cases.BaseServerTestCase
        username: str,
        password: Optional[str] = None,
    ) -> None:
        """Registers an account through NickServ REGISTER over IRC
        (docs/irc.md: `REGISTER password` registers the current nick)."""
        if not case.run_services:
            # confab does not need this, but other controllers do, so keep the
            # same check as ergo.py.
            raise ValueError(
                "Attempted to register a nick, but `run_services` it not True."
            )
        assert password
        client = case.addClient(show_io=True)
        case.sendLine(client, "NICK " + username)
        case.sendLine(client, "USER r e g :user")
        while case.getRegistrationMessage(client).command != "001":
            pass
        case.getMessages(client)
        case.sendLine(client, f"PRIVMSG {self.nickserv} :REGISTER {password}")
        commands = set()
        for _ in range(50):
            msgs = case.getMessages(client)
            commands |= {msg.command for msg in msgs}
            if "900" in commands:
                break
        assert "900" in commands, f"NickServ REGISTER failed: {commands}"
        case.sendLine(client, "QUIT")
        case.assertDisconnected(client)


def get_irctest_controller_class() -> Type[ConfabController]:
    return ConfabController
