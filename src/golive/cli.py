"""The ``golive`` command line: run the server and manage channels."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from golive import __version__
from golive.config import ENV_PREFIX, ConfigFileError, Settings
from golive.db.api_tokens import SCOPES, ApiTokenStore, TokenError
from golive.db.channels import ChannelError, ChannelStore
from golive.db.engine import Database
from golive.db.invites import InviteStore
from golive.db.users import UserError, UserStore

PROG = "golive"


class _Fail(Exception):
    """A user-facing error: printed as one line on stderr, exit status 1."""


def _option_help(field: str, text: str | None = None) -> str:
    info = Settings.model_fields[field]
    default = info.default
    shown = "" if default is None or default == "" else f"default {default}, "
    return f"{text or info.description} ({shown}env {ENV_PREFIX}{field.upper()})"


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    # default=SUPPRESS leaves unset options out of the namespace, so Settings falls back to
    # the environment, the config file and its own defaults, in that order.
    group = parser.add_argument_group("settings")
    group.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        default=argparse.SUPPRESS,
        help=_option_help("data_dir", "directory for the database and media"),
    )
    group.add_argument(
        "--database-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=_option_help("database_url", "SQLAlchemy async URL; default: SQLite in DIR"),
    )
    group.add_argument(
        "--config",
        dest="config_file",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help=_option_help("config_file", "TOML file with settings"),
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every ``golive`` command."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Self-hosted live video: RTMP ingest, low-latency HLS, chat."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run the server", description="Run the server.")
    _add_common_options(serve)
    net = serve.add_argument_group("network")
    net.add_argument("--host", default=argparse.SUPPRESS, help=_option_help("host"))
    for option, field in (("--rtmp-port", "rtmp_port"), ("--http-port", "http_port")):
        net.add_argument(
            option, type=int, metavar="PORT", default=argparse.SUPPRESS, help=_option_help(field)
        )
    net.add_argument(
        "--public-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=_option_help("public_url", "base URL viewers use, for displayed URLs"),
    )
    serve.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error", "critical"],
        default=argparse.SUPPRESS,
        help=_option_help("log_level", "logging level"),
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help=_option_help("workers"),
    )
    # Set by the parent of worker processes (worker_processes.py) for each child.
    serve.add_argument("--worker-ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.set_defaults(handler=_serve)

    channel = commands.add_parser(
        "channel", help="manage channels", description="Manage channels and stream keys."
    )
    channel_commands = channel.add_subparsers(
        dest="channel_command", metavar="ACTION", required=True
    )

    add = channel_commands.add_parser(
        "add", help="create a channel and print its stream key", description="Create a channel."
    )
    add.add_argument("name", help="channel name: 1-32 of a-z 0-9 - _, starting with a-z or 0-9")
    add.add_argument(
        "--key", help="use this stream key (32+ URL-safe characters) instead of a random one"
    )
    add.add_argument("--title", default="", help="display title")
    _add_common_options(add)
    add.set_defaults(handler=_channel_add)

    lst = channel_commands.add_parser("list", help="list channels", description="List channels.")
    _add_common_options(lst)
    lst.set_defaults(handler=_channel_list)

    rotate = channel_commands.add_parser(
        "rotate-key",
        help="replace a channel's stream key",
        description="Replace a channel's stream key; the old key stops working.",
    )
    rotate.add_argument("name", help="channel name")
    _add_common_options(rotate)
    rotate.set_defaults(handler=_channel_rotate_key)

    user = commands.add_parser("user", help="manage users", description="Manage API users.")
    user_commands = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    user_add = user_commands.add_parser("add", help="create a user", description="Create a user.")
    user_add.add_argument("username", help="1-32 of a-z 0-9 . - _, starting with a-z or 0-9")
    user_add.add_argument("--admin", action="store_true", help="an administrator")
    user_add.add_argument("--display-name", default="", help="name shown to people")
    _add_common_options(user_add)
    user_add.set_defaults(handler=_user_add)
    user_list = user_commands.add_parser("list", help="list users", description="List users.")
    _add_common_options(user_list)
    user_list.set_defaults(handler=_user_list)

    invite = commands.add_parser(
        "invite",
        help="manage sign-up invite codes",
        description="Invite codes let someone sign up on the web site when signup = invite.",
    )
    invite_commands = invite.add_subparsers(dest="invite_command", metavar="ACTION", required=True)
    invite_create = invite_commands.add_parser(
        "create",
        help="create invite codes and print them once",
        description="Create one-use invite codes; each is printed once.",
    )
    invite_create.add_argument("--count", type=int, default=1, help="how many (1-100)")
    _add_common_options(invite_create)
    invite_create.set_defaults(handler=_invite_create)
    invite_list = invite_commands.add_parser(
        "list", help="list invite codes", description="List invite codes (hints only)."
    )
    _add_common_options(invite_list)
    invite_list.set_defaults(handler=_invite_list)

    token = commands.add_parser(
        "token", help="manage API tokens", description="Manage personal API tokens."
    )
    token_commands = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    token_create = token_commands.add_parser(
        "create",
        help="create a token and print it once",
        description="Create a personal API token for a user; it is printed once.",
    )
    token_create.add_argument("username", help="the token's user")
    token_create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        choices=SCOPES,
        required=True,
        help="read, write or admin (administrators only); repeat for several",
    )
    token_create.add_argument("--name", default="", help="what the token is for")
    _add_common_options(token_create)
    token_create.set_defaults(handler=_token_create)
    token_list = token_commands.add_parser(
        "list", help="list tokens", description="List API tokens (never the secrets)."
    )
    token_list.add_argument("username", nargs="?", help="only this user's tokens")
    _add_common_options(token_list)
    token_list.set_defaults(handler=_token_list)
    token_revoke = token_commands.add_parser(
        "revoke", help="revoke a token", description="Revoke an API token at once."
    )
    token_revoke.add_argument("token_id", type=int, help="the token's id (see token list)")
    _add_common_options(token_revoke)
    token_revoke.set_defaults(handler=_token_revoke)

    config = commands.add_parser(
        "config", help="check and document settings", description="Settings files and reference."
    )
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_commands.add_parser(
        "check",
        help="check a TOML settings file",
        description="Report unknown keys and invalid values of a TOML settings file, with "
        "their line numbers; exit status 1 if there are any.",
    )
    check.add_argument("file", type=Path, help="the TOML file")
    check.set_defaults(handler=_config_check)
    reference = config_commands.add_parser(
        "reference",
        help="print the settings reference (Markdown)",
        description="Print the settings table of docs/configuration.md.",
    )
    reference.add_argument(
        "--write",
        type=Path,
        metavar="FILE",
        help="replace the table in FILE (e.g. docs/configuration.md) instead of printing it",
    )
    reference.set_defaults(handler=_config_reference)
    return parser


_SETTINGS_OPTIONS = (
    "workers",
    "data_dir",
    "database_url",
    "config_file",
    "host",
    "rtmp_port",
    "http_port",
    "public_url",
    "log_level",
)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the options given on the command line, then env, file and defaults."""
    given = {name: getattr(args, name) for name in _SETTINGS_OPTIONS if hasattr(args, name)}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise _Fail(_describe_validation_error(exc)) from None
    except ConfigFileError as exc:
        raise _Fail(str(exc)) from None


def _describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "invalid settings: " + "; ".join(problems)


def _serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    ready_fd: int | None = args.worker_ready_fd
    if ready_fd is None and settings.worker_count > 1:
        from golive.log_format import configure_logging
        from golive.worker_processes import run_workers

        configure_logging(settings.log_level, settings.log_format)
        # Each worker parses the same command line, with its ports and role appended.
        return run_workers(settings, sys.argv[1:], settings.worker_count)
    # Imported here so channel commands do not pay for (or depend on) the server stack.
    from golive.app import run

    # SIGHUP re-reads the same sources: the command line, the environment, the file.
    status: int = run(settings, reload=lambda: settings_from_args(args), worker_ready_fd=ready_fd)
    return status


def _run_with_store(
    args: argparse.Namespace, action: Callable[[Settings, ChannelStore], Awaitable[int]]
) -> int:
    settings = settings_from_args(args)

    async def main() -> int:
        db = await Database.open(settings)
        try:
            return await action(settings, ChannelStore(db.sessionmaker))
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except OSError as exc:
        raise _Fail(f"cannot use data directory {settings.data_dir}: {exc}") from None
    except SQLAlchemyError as exc:
        # SQLAlchemy's messages run to several lines (SQL, parameters, a link); keep the first.
        raise _Fail(f"database error: {str(exc).splitlines()[0]}") from None


def print_stream_key(settings: Settings, name: str, key: str) -> None:
    """Print a channel's new stream key with the URLs to publish to and watch at."""
    print(f"Stream key:  {key}")
    print("             (shown only now: golive stores just a hash of it)")
    print(f"RTMP server: {settings.rtmp_base_url}")
    print(f"RTMP URL:    {settings.rtmp_publish_url(key)}")
    print(f"Watch URL:   {settings.watch_url(name)}")


def _channel_add(args: argparse.Namespace) -> int:
    async def action(settings: Settings, store: ChannelStore) -> int:
        channel, key = await store.add(args.name, args.key, title=args.title)
        print(f"Created channel {channel.name!r}.")
        print_stream_key(settings, channel.name, key)
        return 0

    return _run_with_store(args, action)


def _channel_list(args: argparse.Namespace) -> int:
    async def action(settings: Settings, store: ChannelStore) -> int:
        channels = await store.list()
        if not channels:
            print("No channels. Create one with: golive channel add NAME")
            return 0
        rows = [("NAME", "KEY", "CREATED", "TITLE")]
        rows += [
            (
                c.name,
                c.masked_key,
                c.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                c.title,
            )
            for c in channels
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            print(line.rstrip())
        return 0

    return _run_with_store(args, action)


def _channel_rotate_key(args: argparse.Namespace) -> int:
    async def action(settings: Settings, store: ChannelStore) -> int:
        key = await store.rotate_key(args.name)
        print(f"New stream key for channel {args.name!r}; the old key no longer works.")
        print_stream_key(settings, args.name, key)
        return 0

    return _run_with_store(args, action)


def _run_with_db(args: argparse.Namespace, action: Callable[[Database], Awaitable[int]]) -> int:
    settings = settings_from_args(args)

    async def main() -> int:
        db = await Database.open(settings)
        try:
            return await action(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except OSError as exc:
        raise _Fail(f"cannot use data directory {settings.data_dir}: {exc}") from None
    except SQLAlchemyError as exc:
        raise _Fail(f"database error: {str(exc).splitlines()[0]}") from None


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _user_add(args: argparse.Namespace) -> int:
    async def action(db: Database) -> int:
        user = await UserStore(db.sessionmaker).add(
            args.username, display_name=args.display_name, is_admin=args.admin
        )
        kind = "administrator" if user.is_admin else "user"
        print(f"Created {kind} {user.username!r} (id {user.id}).")
        print(f"Give them an API token: golive token create {user.username} --scope read")
        return 0

    return _run_with_db(args, action)


def _invite_create(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= 100:
        raise _Fail("--count must be between 1 and 100")

    async def action(db: Database) -> int:
        store = InviteStore(db.sessionmaker)
        codes = [await store.create() for _ in range(args.count)]
        print("Invite codes (shown once; each lets one person sign up when signup = invite):")
        for code in codes:
            print(f"  {code}")
        return 0

    return _run_with_db(args, action)


def _invite_list(args: argparse.Namespace) -> int:
    async def action(db: Database) -> int:
        invites = await InviteStore(db.sessionmaker).list()
        if not invites:
            print("No invite codes. Create one with: golive invite create")
            return 0
        rows = [("ID", "CODE", "CREATED", "USED")]
        rows += [
            (
                str(i.id),
                f"{i.hint}…",
                i.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                "yes" if i.used else "",
            )
            for i in invites
        ]
        _print_table(rows)
        return 0

    return _run_with_db(args, action)


def _user_list(args: argparse.Namespace) -> int:
    async def action(db: Database) -> int:
        users = await UserStore(db.sessionmaker).list()
        if not users:
            print("No users. Create one with: golive user add NAME [--admin]")
            return 0
        rows = [("ID", "USERNAME", "ADMIN", "CREATED", "NAME")]
        rows += [
            (
                str(u.id),
                u.username,
                "yes" if u.is_admin else "",
                u.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                u.display_name,
            )
            for u in users
        ]
        _print_table(rows)
        return 0

    return _run_with_db(args, action)


def _token_create(args: argparse.Namespace) -> int:
    async def action(db: Database) -> int:
        user = await UserStore(db.sessionmaker).by_name(args.username)
        if user is None:
            raise _Fail(f"no user named {args.username!r} (create one with: golive user add)")
        token, secret = await ApiTokenStore(db.sessionmaker).create(
            user, args.scopes, name=args.name
        )
        print(f"API token {token.id} for {user.username!r}, scopes: {token.scopes}")
        print(f"Token:  {secret}")
        print("        (shown only now: golive stores just a hash of it)")
        print("Use it: curl -H 'Authorization: Bearer <token>' .../api/v1/me")
        return 0

    return _run_with_db(args, action)


def _token_list(args: argparse.Namespace) -> int:
    async def action(db: Database) -> int:
        users = UserStore(db.sessionmaker)
        user_id = None
        if args.username:
            user = await users.by_name(args.username)
            if user is None:
                raise _Fail(f"no user named {args.username!r}")
            user_id = user.id
        names = {u.id: u.username for u in await users.list()}
        tokens = await ApiTokenStore(db.sessionmaker).list(user_id)
        if not tokens:
            print("No tokens. Create one with: golive token create USER --scope read")
            return 0
        rows = [("ID", "USER", "TOKEN", "SCOPES", "CREATED", "STATE", "NAME")]
        rows += [
            (
                str(t.id),
                names.get(t.user_id, "?"),
                f"{t.token_hint}…",
                t.scopes,
                t.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                "revoked" if t.revoked_at else "active",
                t.name,
            )
            for t in tokens
        ]
        _print_table(rows)
        return 0

    return _run_with_db(args, action)


def _token_revoke(args: argparse.Namespace) -> int:
    async def action(db: Database) -> int:
        token = await ApiTokenStore(db.sessionmaker).revoke(args.token_id)
        print(f"Token {token.id} ({token.token_hint}…) is revoked.")
        return 0

    return _run_with_db(args, action)


def _config_check(args: argparse.Namespace) -> int:
    from golive.config.check import check_config_file

    problems = check_config_file(args.file)
    if not problems:
        print(f"{args.file}: OK")
        return 0
    for problem in problems:
        line = f"{problem.line}:" if problem.line is not None else ""
        key = f" {problem.key}:" if problem.key else ""
        print(f"{args.file}:{line}{key} {problem.message}", file=sys.stderr)
    print(f"{len(problems)} problem(s) in {args.file}", file=sys.stderr)
    return 1


def _config_reference(args: argparse.Namespace) -> int:
    from golive.config.reference import render_reference, update_document

    if args.write is None:
        print(render_reference(), end="")
        return 0
    try:
        text = args.write.read_text(encoding="utf-8")
        args.write.write_text(update_document(text), encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise _Fail(f"cannot update {args.write}: {exc}") from None
    print(f"Updated the settings reference in {args.write}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``golive`` script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (_Fail, ChannelError, UserError, TokenError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
