#!/usr/bin/env python3
"""Open a Strider log with the reference Python MCAP reader and validate every message
against its channel's JSON schema.

Development check, not part of the README commands:

    python3 -m pip install mcap jsonschema
    python3 scripts/check_log.py runs/shard-0000.mcap [more.mcap ...]

Prints one line per file (messages per topic, metadata) and exits non-zero on the first
schema violation or unreadable file.
"""

import json
import sys
from collections import Counter

import jsonschema
from mcap.reader import make_reader


def check(path: str) -> None:
    with open(path, "rb") as f:
        reader = make_reader(f)
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        strider = meta.get("strider")
        if strider is None:
            raise SystemExit(f"{path}: no `strider` metadata record")
        validators = {}
        counts = Counter()
        f.seek(0)
        for schema, channel, message in make_reader(f).iter_messages():
            if channel.id not in validators:
                if schema.encoding != "jsonschema":
                    raise SystemExit(f"{path}: {channel.topic}: schema encoding {schema.encoding!r}")
                doc = json.loads(schema.data)
                jsonschema.Draft202012Validator.check_schema(doc)
                validators[channel.id] = jsonschema.Draft202012Validator(doc)
            value = json.loads(message.data)
            errors = list(validators[channel.id].iter_errors(value))
            if errors:
                raise SystemExit(f"{path}: {channel.topic} message {message.sequence}: {errors[0].message}")
            counts[channel.topic] += 1
    topics = ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
    print(f"{path}: ok: contract {strider['contract_id']}, controller {strider['controller']}; {topics}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for p in sys.argv[1:]:
        check(p)
