"""Checks behind scripts/conformance (run by it inside scripts/.venv).

    conformance.py accounting FEED_DIR OUT_DIR FORMAT...
        every attribute of the feed has exactly one outcome in each format's run
    conformance.py validate-stix FILE
        every line is a STIX 2.1 object that the OASIS stix2-validator accepts
    conformance.py check-context FILE INPUT...
        the objects around the indicators (ioc-map --context): every id once,
        every reference (created_by_ref, source_ref, target_ref) to an object
        written before it, attack-pattern and threat-actor ids the cluster's
        uuid (or UUIDv5 of its tag name when it has none); counts per kind
    conformance.py pull FEED_DIR PULL_OUT PULL_ERR
        misp-pull --feed wrote every event file's events and attributes, and
        named each manifest event whose file is missing

Prints what it checked; exits 1 on the first format that fails.
"""

import functools
import json
import multiprocessing
import os
import pathlib
import re
import sys
import uuid

# The ids of a composite attribute's non-primary parts (docs/design.md#ids-and-keys;
# the same namespace as the crate's NAMESPACE).
NAMESPACE = uuid.UUID("5b1d7f0e-3c2a-4e8b-9d61-0a7ce4f29b35")

# The Infoblox feed: 46 manifest entries, 41 event files, 61,070 attributes.
FEED_EVENTS = 41
FEED_MISSING = 5
FEED_ATTRIBUTES = 61070


def fail(msg):
    print(f"conformance: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def feed_attributes(feed_dir):
    """{attribute uuid: type} of every attribute (objects included) in the feed's event files."""
    attrs = {}
    for path in sorted(pathlib.Path(feed_dir).glob("*.json")):
        if path.name == "manifest.json":
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                event = json.loads(line)["Event"]
                found = list(event.get("Attribute", []))
                for obj in event.get("Object", []):
                    found.extend(obj.get("Attribute", []))
                for a in found:
                    if a["uuid"] in attrs:
                        fail(f"{path.name}: attribute {a['uuid']} twice in the feed")
                    attrs[a["uuid"]] = a["type"]
    return attrs


def summary_counts(err_path):
    """The counts of ioc-map's summary line (the last line of its stderr)."""
    lines = [l for l in open(err_path, encoding="utf-8").read().splitlines() if l.strip()]
    if not lines:
        fail(f"{err_path}: no summary line")
    line = lines[-1]
    counts = {}
    for key, pattern in (
        ("attributes", r"(\d+) attributes?\b"),
        ("mapped", r"(\d+) mapped"),
        ("skipped", r"(\d+) skipped"),
        ("written", r"(\d+) indicators? written"),
        ("context", r"(\d+) context objects? written"),
    ):
        m = re.search(pattern, line)
        if m:
            counts[key] = int(m.group(1))
    return line, counts


# The portals' CSV headers (docs/design.md#portal-csv-files) and the most data rows a file may hold.
CSV_HEADERS = {
    "sentinel-csv": "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,"
    "tlpLevel,severity,observableType,observableValue",
    "defender-csv": "IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,"
    "RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert",
}
CSV_MAX_ROWS = {"sentinel-csv": None, "defender-csv": 500}
CSV_MAX_BYTES = 50_000_000


def csv_rows(out_dir, fmt):
    """Data rows over the files of one CSV run (`FMT.csv`, or `FMT-0001.csv`, …)."""
    import csv

    single = pathlib.Path(out_dir, f"{fmt}.csv")
    parts = sorted(pathlib.Path(out_dir).glob(f"{fmt}-[0-9][0-9][0-9][0-9].csv"))
    files = [single] if single.exists() else parts
    if not files or (single.exists() and parts):
        fail(f"{fmt}: expected {single.name} or numbered parts, found {[p.name for p in files]}")
    rows, keys = 0, set()
    for path in files:
        if path.stat().st_size > CSV_MAX_BYTES:
            fail(f"{path.name}: {path.stat().st_size} bytes, more than {CSV_MAX_BYTES}")
        with open(path, encoding="utf-8", newline="") as f:
            table = list(csv.reader(f))
        if not table or ",".join(table[0]) != CSV_HEADERS[fmt]:
            fail(f"{path.name}: header is not {CSV_HEADERS[fmt]}")
        data = table[1:]
        limit = CSV_MAX_ROWS[fmt]
        if limit and len(data) > limit:
            fail(f"{path.name}: {len(data)} rows, more than {limit}")
        for n, row in enumerate(data, 2):
            if len(row) != 12:
                fail(f"{path.name}:{n}: {len(row)} columns, expected 12")
            if fmt == "defender-csv":
                if not row[1] or row[11] not in ("True", "False"):
                    fail(f"{path.name}:{n}: IndicatorValue and GenerateAlert are required")
                if row[0] not in ("FileSha1", "FileSha256", "IpAddress", "DomainName", "Url"):
                    fail(f"{path.name}:{n}: IndicatorType {row[0]} is not accepted by the import")
                if (row[0], row[1]) in keys:
                    fail(f"{path.name}:{n}: {row[0]} {row[1]} written twice")
                keys.add((row[0], row[1]))
            elif not (row[6] and row[10] and row[11]):
                fail(f"{path.name}:{n}: validFrom, observableType and observableValue are required")
        rows += len(data)
    return rows, len(files)


def skipped_uuids(path):
    uuids = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line)
            u = rec.get("uuid") or rec.get("attribute_uuid")
            if not u or not rec.get("reason") or not rec.get("source"):
                fail(f"{path}:{n}: a skipped line needs uuid, reason and source: {line.strip()}")
            uuids.append(u)
    return uuids


def stix_attribute_uuids(path, attrs):
    """Attribute uuids behind the STIX indicators: `indicator--<uuid>` for a primary
    part, `indicator--<UUIDv5(NS, "<uuid>/<part type>")>` for the others."""
    parts = {}
    for u, t in attrs.items():
        parts[u] = u
        if "|" in t:
            for pt in t.split("|"):
                parts[str(uuid.uuid5(NAMESPACE, f"{u.lower()}/{pt}"))] = u
    found = set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            ind = json.loads(line)
            if ind["type"] != "indicator":
                continue  # the objects around the indicators (ioc-map --context)
            u = parts.get(ind["id"].removeprefix("indicator--"))
            if u is None:
                fail(f"{path}:{n}: {ind['id']} belongs to no attribute of the feed")
            found.add(u)
    return found


def accounting(feed_dir, out_dir, formats):
    attrs = feed_attributes(feed_dir)
    if len(attrs) != FEED_ATTRIBUTES:
        fail(f"the feed has {len(attrs)} attributes, expected {FEED_ATTRIBUTES}")
    for fmt in formats:
        line, counts = summary_counts(os.path.join(out_dir, f"{fmt}.err"))
        skipped = skipped_uuids(os.path.join(out_dir, f"{fmt}.skipped"))
        unique = set(skipped)
        if len(unique) != len(skipped):
            fail(f"{fmt}: an attribute is skipped more than once")
        if not unique <= attrs.keys():
            fail(f"{fmt}: skipped uuids not in the feed: {sorted(unique - attrs.keys())[:5]}")
        if counts.get("attributes") != len(attrs):
            fail(f"{fmt}: summary counts {counts.get('attributes')} attributes, the feed has {len(attrs)}: {line}")
        if counts.get("skipped") != len(skipped):
            fail(f"{fmt}: summary says {counts.get('skipped')} skipped, --skipped has {len(skipped)}: {line}")
        if counts.get("mapped", -1) + len(skipped) != len(attrs):
            fail(f"{fmt}: mapped {counts.get('mapped')} + skipped {len(skipped)} != {len(attrs)}: {line}")
        if fmt in CSV_HEADERS:
            rows, files = csv_rows(out_dir, fmt)
            if rows != counts.get("written"):
                fail(f"{fmt}: {rows} rows in {files} files, summary says {counts.get('written')} written")
            print(f"conformance: {fmt}: {rows} rows in {files} file(s); headers, limits and keys checked")
        else:
            with open(os.path.join(out_dir, f"{fmt}.ndjson"), encoding="utf-8") as f:
                types = [json.loads(line).get("type") for line in f]
            lines = sum(1 for t in types if fmt != "stix" or t == "indicator")
            if lines != counts.get("written"):
                fail(f"{fmt}: {lines} records out, summary says {counts.get('written')} written")
            if len(types) - lines != counts.get("context", 0):
                fail(f"{fmt}: {len(types) - lines} context objects out, summary says {counts.get('context', 0)}")
        if fmt == "stix":
            mapped = stix_attribute_uuids(os.path.join(out_dir, "stix.ndjson"), attrs)
            if mapped & unique:
                fail(f"stix: attributes both mapped and skipped: {sorted(mapped & unique)[:5]}")
            if len(mapped) != counts["mapped"] or mapped | unique != attrs.keys():
                fail(f"stix: {len(mapped)} attributes behind the indicators, summary says {counts['mapped']}")
        print(f"conformance: {fmt}: {len(attrs)} attributes = {counts['mapped']} mapped + {len(skipped)} skipped")


# --- STIX validation -------------------------------------------------------


def _speed_up_validator():
    """stix2-validator rebuilds its JSON-schema registry and re-reads the schema
    files for every object, which costs ~4 ms an object. Build each validator
    once, over a registry that already holds every schema file. The checks
    themselves are the validator's own, unchanged."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012
    from stix2validator import validator as v

    cache = {}
    original = v.load_validator

    def load_validator(schema_path, schema, schema_dir):
        key = (schema_path, schema_dir)
        if key not in cache:
            original(schema_path, schema, schema_dir)  # fills v._PATCHED_SCHEMAS
            patched = v._PATCHED_SCHEMAS[schema_path]
            files = []
            for root, _, names in os.walk(schema_dir):
                for name in names:
                    if name.endswith(".json") and "examples" not in root:
                        uri = pathlib.Path(root, name).resolve().as_uri()
                        files.append((uri, v.retrieve_from_filesystem(uri, schema_dir)))
            registry = (
                Registry(retrieve=functools.partial(v.retrieve_from_filesystem, schema_dir=schema_dir))
                .with_resources(files)
                .with_resource(schema_path, DRAFT202012.create_resource(patched))
                .crawl()
            )
            cache[key] = v.STIXValidator(
                patched, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        return cache[key]

    v.load_validator = load_validator
    v.load_schema = functools.lru_cache(maxsize=None)(v.load_schema)


def _validate_chunk(chunk):
    from stix2validator import ValidationOptions, validate_instance

    options = ValidationOptions(version="2.1")
    errors = []
    for n, line in chunk:
        result = validate_instance(json.loads(line), options)
        if not result.is_valid:
            errors.append((n, [str(e) for e in result.errors]))
    return len(chunk), errors


def validate_stix(path):
    _speed_up_validator()
    with open(path, encoding="utf-8") as f:
        lines = [(n, line) for n, line in enumerate(f, 1) if line.strip()]
    if not lines:
        fail(f"{path}: no STIX line to validate")
    size = 500
    chunks = [lines[i : i + size] for i in range(0, len(lines), size)]
    checked, bad = 0, []
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        for count, errors in pool.imap_unordered(_validate_chunk, chunks):
            checked += count
            bad.extend(errors)
    for n, errs in sorted(bad)[:10]:
        print(f"conformance: {path}:{n}: {'; '.join(errs)}", file=sys.stderr)
    if bad:
        fail(f"{len(bad)} of {checked} STIX lines are invalid")
    kinds = {}
    for _, line in lines:
        t = json.loads(line)["type"]
        kinds[t] = kinds.get(t, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(f"conformance: stix2-validator: {checked} STIX lines valid, 0 errors ({summary})")


# --- Context objects ---------------------------------------------------------

# The galaxy types whose clusters become STIX objects (src/map/context/galaxy.rs).
ATTACK_PATTERN_GALAXIES = {
    "mitre-attack-pattern",
    "mitre-enterprise-attack-attack-pattern",
    "mitre-mobile-attack-attack-pattern",
    "mitre-pre-attack-attack-pattern",
}
THREAT_ACTOR_GALAXIES = {
    "threat-actor",
    "mitre-intrusion-set",
    "mitre-enterprise-attack-intrusion-set",
    "mitre-mobile-attack-intrusion-set",
    "mitre-pre-attack-intrusion-set",
    "microsoft-activity-group",
}


def galaxy_ids(inputs):
    """{stix type: (cluster uuids, uuids of tag names)} over the galaxies and
    galaxy tags of the MISP JSON lines in `inputs`."""
    ids = {"attack-pattern": (set(), set()), "threat-actor": (set(), set())}

    def stix_type(galaxy_type):
        if galaxy_type in ATTACK_PATTERN_GALAXIES:
            return "attack-pattern"
        if galaxy_type in THREAT_ACTOR_GALAXIES:
            return "threat-actor"
        return None

    def tag(name):
        m = re.match(r'(?i)misp-galaxy:([^=]+)=(.*)$', name.strip())
        t = m and stix_type(m.group(1).strip())
        if t:
            ids[t][1].add(str(uuid.uuid5(NAMESPACE, name.strip())))

    def visit(obj):
        if isinstance(obj, dict):
            for g in obj.get("Galaxy") or []:
                for c in (g or {}).get("GalaxyCluster") or []:
                    t = stix_type(c.get("type") or g.get("type") or "")
                    if t and (c.get("uuid") or "").strip():
                        ids[t][0].add(str(uuid.UUID(c["uuid"].strip())))
                    elif t:
                        tag(c.get("tag_name") or f'misp-galaxy:{c.get("type") or g.get("type")}="{c.get("value")}"')
            for t in obj.get("Tag") or []:
                tag(t.get("name", ""))
            for v in obj.values():
                visit(v)
        elif isinstance(obj, list):
            for v in obj:
                visit(v)

    for path in inputs:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    visit(json.loads(line))
    return ids


def check_context(path, inputs):
    written, kinds = set(), {}
    relationships_of = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            o = json.loads(line)
            oid = o["id"]
            for ref in ("created_by_ref", "source_ref", "target_ref"):
                if ref in o and o[ref] not in written:
                    fail(f"{path}:{n}: {oid}: {ref} {o[ref]} is not written before it")
            if oid in written:
                fail(f"{path}:{n}: {oid} written twice")
            written.add(oid)
            kinds[o["type"]] = kinds.get(o["type"], 0) + 1
            if o["type"] == "relationship":
                relationships_of.setdefault(o["source_ref"], []).append(o["target_ref"])
    ids = galaxy_ids(inputs)
    for t, (own, by_tag) in ids.items():
        got = {i.removeprefix(f"{t}--") for i in written if i.startswith(f"{t}--")}
        stray = got - own - by_tag
        if stray:
            fail(f"{t}: ids neither a cluster's uuid nor a tag name's UUIDv5: {sorted(stray)[:5]}")
        if own and not own <= got:
            fail(f"{t}: clusters with a uuid but no {t}--<uuid>: {sorted(own - got)[:5]}")
        print(
            f"conformance: {t}: {len(got & own)} ids = the cluster's uuid ({len(own)} clusters with one), "
            f"{len(got & by_tag)} = UUIDv5 of a tag name"
        )
    summary = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(
        f"conformance: {path}: {len(written)} objects, each id once, every reference written before it: {summary}"
    )


def pull(feed_dir, out, err):
    manifest = json.load(open(os.path.join(feed_dir, "manifest.json"), encoding="utf-8"))
    missing = [u for u in manifest if not os.path.exists(os.path.join(feed_dir, f"{u}.json"))]
    events, attrs = set(), 0
    with open(out, encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)["Event"]
            events.add(ev["uuid"])
            attrs += len(ev.get("Attribute", []))
            attrs += sum(len(o.get("Attribute", [])) for o in ev.get("Object", []))
    errtext = open(err, encoding="utf-8").read()
    if len(events) != FEED_EVENTS:
        fail(f"misp-pull: {len(events)} events out, expected {FEED_EVENTS}")
    if attrs != FEED_ATTRIBUTES:
        fail(f"misp-pull: {attrs} attributes out, expected {FEED_ATTRIBUTES}")
    if not events <= manifest.keys():
        fail("misp-pull: events out that the manifest does not list")
    if len(missing) != FEED_MISSING:
        fail(f"misp-pull: {len(missing)} event files missing, expected {FEED_MISSING}")
    unnamed = [u for u in missing if u not in errtext]
    if unnamed:
        fail(f"misp-pull: missing events not named on stderr: {unnamed}")
    print(
        f"conformance: misp-pull: {len(events)} events + {len(missing)} missing (all named) = "
        f"{len(manifest)} manifest entries, {attrs} attributes"
    )


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "accounting":
        accounting(args[1], args[2], args[3:])
    elif len(args) == 2 and args[0] == "validate-stix":
        validate_stix(args[1])
    elif len(args) >= 3 and args[0] == "check-context":
        check_context(args[1], args[2:])
    elif len(args) == 4 and args[0] == "pull":
        pull(args[1], args[2], args[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
