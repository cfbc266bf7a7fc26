#!/usr/bin/env python3
"""Open a Strider log with the reference Python MCAP reader, validate every message
against its channel's JSON schema, and decode it to Python values.

Development check, not part of the README commands:

    python3 -m pip install mcap jsonschema
    python3 scripts/check_log.py runs/shard-0000.mcap [more.mcap ...]

A float field is a JSON number, or one of the strings "NaN", "Infinity", "-Infinity" for
a non-finite value (docs/LOGS.md, "Non-finite values"); `decode` turns those strings back
into Python floats. Prints one line per file (messages per topic, non-finite values per
topic, metadata) and exits non-zero on the first schema violation or unreadable file.
"""

import json
import math
import sys
from collections import Counter

import jsonschema
from mcap.reader import make_reader

NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def is_float(schema: dict) -> bool:
    """A float field: a number, or a number or one of the non-finite strings."""
    if schema.get("type") == "number":
        return True
    return any(s.get("type") == "number" for s in schema.get("anyOf", []))


def decode(value, schema: dict):
    """`value` with every float field as a Python float, following the channel's schema."""
    if is_float(schema):
        return NON_FINITE[value] if isinstance(value, str) else float(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: decode(v, props.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, schema.get("items", {})) for v in value]
    return value


def non_finite(value) -> int:
    if isinstance(value, float):
        return 0 if math.isfinite(value) else 1
    if isinstance(value, dict):
        return sum(non_finite(v) for v in value.values())
    if isinstance(value, list):
        return sum(non_finite(v) for v in value)
    return 0


def check(path: str) -> None:
    with open(path, "rb") as f:
        reader = make_reader(f)
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        strider = meta.get("strider")
        if strider is None:
            raise SystemExit(f"{path}: no `strider` metadata record")
        validators = {}
        schemas = {}
        counts = Counter()
        bad = Counter()
        f.seek(0)
        for schema, channel, message in make_reader(f).iter_messages():
            if channel.id not in validators:
                if schema.encoding != "jsonschema":
                    raise SystemExit(f"{path}: {channel.topic}: schema encoding {schema.encoding!r}")
                doc = json.loads(schema.data)
                jsonschema.Draft202012Validator.check_schema(doc)
                validators[channel.id] = jsonschema.Draft202012Validator(doc)
                schemas[channel.id] = doc
            value = json.loads(message.data)
            errors = list(validators[channel.id].iter_errors(value))
            if errors:
                raise SystemExit(f"{path}: {channel.topic} message {message.sequence}: {errors[0].message}")
            bad[channel.topic] += non_finite(decode(value, schemas[channel.id]))
            counts[channel.topic] += 1
    topics = ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
    nans = ", ".join(f"{t} {n}" for t, n in sorted(bad.items()) if n) or "none"
    print(
        f"{path}: ok: format {strider['format_version']}, contract {strider['contract_id']}, "
        f"controller {strider['controller']}; {topics}; non-finite values: {nans}"
    )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for p in sys.argv[1:]:
        check(p)
