#!/usr/bin/python3
"""check_schemas.py: validates JSON files against the schemas in schemas/ with a real
validator (Debian's python3-jsonschema, Draft 2020-12), for tests/test_schemas.sh.

usage: check_schemas.py SCHEMA_DIR KIND FILE...   (KIND: scenario, sweep, results)
       check_schemas.py SCHEMA_DIR --check-schemas
Prints one line per invalid file (file: json path: message) and exits 1 if any is
invalid, 0 if all are valid. Works with jsonschema 4.10 (Debian 12) and later."""
import json
import os
import sys
import warnings

import jsonschema

warnings.simplefilter("ignore", DeprecationWarning)
KINDS = ("scenario", "sweep", "results")


def load_schemas(d):
    return {k: json.load(open(os.path.join(d, k + ".schema.json"))) for k in KINDS}


def validator(schemas, kind):
    cls = jsonschema.Draft202012Validator
    try:  # jsonschema >= 4.18: the referencing library
        from referencing import Registry, Resource
        reg = Registry().with_resources(
            (s["$id"], Resource.from_contents(s)) for s in schemas.values())
        return cls(schemas[kind], registry=reg)
    except ImportError:  # Debian 12's 4.10
        store = {s["$id"]: s for s in schemas.values()}
        resolver = jsonschema.RefResolver.from_schema(schemas[kind], store=store)
        return cls(schemas[kind], resolver=resolver)


def path_of(err):
    p = ""
    for part in err.absolute_path:
        p += f"[{part}]" if isinstance(part, int) else (f".{part}" if p else str(part))
    return p or "(top)"


def main(argv):
    if len(argv) == 3 and argv[2] == "--check-schemas":
        for k, s in load_schemas(argv[1]).items():
            jsonschema.Draft202012Validator.check_schema(s)
        print(f"schemas are valid Draft 2020-12 (jsonschema {getattr(jsonschema, '__version__', '?')})")
        return 0
    if len(argv) < 4 or argv[2] not in KINDS:
        print(__doc__, file=sys.stderr)
        return 2
    v = validator(load_schemas(argv[1]), argv[2])
    bad = 0
    for f in argv[3:]:
        try:
            doc = json.load(open(f))
        except (OSError, ValueError) as e:
            print(f"{f}: cannot read: {e}")
            bad += 1
            continue
        errs = sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        for e in errs[:3]:
            print(f"{f}: {path_of(e)}: {e.message[:200]}")
        bad += bool(errs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
