"""python -m field_client [--db device.sqlite3] [--server URL] COMMAND …

login USER [--password P]           get a device token (asks for the password if omitted)
queue TYPE --data JSON [--id UUID] [--base-version N] [--delete] [--attach FILE[:kind]] …
push | upload | pull [--types a,b] | sync | status
"""

import argparse
import getpass
import json
import sys
import uuid

from field_client.client import SyncClient, SyncError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m field_client", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="device.sqlite3", help="the device's offline store (SQLite)")
    parser.add_argument("--server", help="base URL, e.g. http://127.0.0.1:8000 (remembered)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    commands = parser.add_subparsers(dest="command", required=True)
    login = commands.add_parser("login")
    login.add_argument("username")
    login.add_argument("--password")
    queue = commands.add_parser("queue")
    queue.add_argument("type")
    queue.add_argument("--id", default=None, help="record id (new UUID if omitted)")
    queue.add_argument("--data", default="{}", help="the record's fields as JSON")
    queue.add_argument("--base-version", type=int, default=None)
    queue.add_argument("--delete", action="store_true")
    queue.add_argument("--attach", action="append", default=[], help="FILE or FILE:kind (photo, signature, scan)")
    commands.add_parser("push")
    commands.add_parser("upload")
    pull = commands.add_parser("pull")
    pull.add_argument("--types", default="")
    commands.add_parser("sync")
    commands.add_parser("status")
    args = parser.parse_args(argv)

    progress = (lambda text: None) if args.quiet else None
    client = SyncClient(args.db, server=args.server, progress=progress)
    try:
        if args.command == "login":
            password = args.password or getpass.getpass()
            body = client.login(args.username, password)
            print(json.dumps(body["user"], ensure_ascii=False))
        elif args.command == "queue":
            attachments = []
            for spec in args.attach:
                path, _, kind = spec.partition(":")
                attachments.append((path, kind or "photo"))
            record_id = args.id or str(uuid.uuid4())
            op_id = client.queue(
                args.type,
                record_id,
                json.loads(args.data),
                action="delete" if args.delete else "upsert",
                base_version=args.base_version,
                attachments=attachments,
            )
            print(json.dumps({"op_id": op_id, "id": record_id, "photos": client.photos_of(op_id)}))
        elif args.command == "push":
            print(json.dumps(client.push()))
        elif args.command == "upload":
            print(json.dumps({"uploaded": client.upload()}))
        elif args.command == "pull":
            types = [t for t in args.types.split(",") if t]
            print(json.dumps({"pulled": client.pull(types=types or None)}))
        elif args.command == "sync":
            print(json.dumps(client.sync()))
        elif args.command == "status":
            print(json.dumps(client.status(), ensure_ascii=False, indent=2))
    except SyncError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
