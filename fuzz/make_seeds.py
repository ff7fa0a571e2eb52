#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (fuzz/seeds/TARGET/*) from the project's
small fixtures: examples/sample-feed and tests/fixtures/ioc-map/types.ndjson,
plus the documented Microsoft answer shapes (docs/design.md, Wire facts). Run from the
repository root: python3 fuzz/make_seeds.py (needs target/debug/misp-airgap
for the air-gap seeds: cargo build first)."""

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
FEED = os.path.join(ROOT, "examples", "sample-feed")
TYPES = os.path.join(ROOT, "tests", "fixtures", "ioc-map", "types.ndjson")


def write(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


shutil.rmtree(SEEDS, ignore_errors=True)
manifest = read(os.path.join(FEED, "manifest.json"))
events = [read(os.path.join(FEED, n)) for n in sorted(os.listdir(FEED)) if n != "manifest.json"]
attrs = [l for l in read(TYPES).splitlines() if l.strip()]
attr_objs = [json.loads(l) for l in attrs]
event_objs = [json.loads(e) for e in events]

# misp_stream: feed files, restSearch answers of events and attributes.
for i, e in enumerate(events):
    write("misp_stream", f"feed-event-{i}.json", e)
write("misp_stream", "events.json", json.dumps({"response": event_objs}, indent=1))
write("misp_stream", "events-compact.json", json.dumps({"response": event_objs}, separators=(",", ":")))
write("misp_stream", "attributes.json", json.dumps({"response": {"Attribute": attr_objs[:8]}}))
write("misp_stream", "feed-list.json", json.dumps(event_objs[:1]))
write("misp_stream", "error.json", '{"name":"Not Found","message":"Not Found","url":"/events/restSearch"}')

# misp_model and misp_line: events and attributes.
for i, e in enumerate(events):
    write("misp_model", f"event-{i}.json", e)
    write("misp_line", f"event-{i}.json", e)
for i, a in enumerate(attrs):
    write("misp_line", f"attribute-{i:02}.json", a)
for i, a in enumerate(attrs[:6]):
    write("misp_model", f"attribute-{i}.json", a)
write("misp_line", "response.json", json.dumps({"response": [{"Attribute": attr_objs[:4]}]}))

# feed_manifest
write("feed_manifest", "manifest.json", manifest)

# csv_cells: delimiter byte, two column bytes, then the CSV.
values = [a["value"] for a in attr_objs if "value" in a]
rows = "\n".join(f"{i},{v},\"x\"" for i, v in enumerate(values))
write("csv_cells", "all-columns.csv", b",\xff\xff# id,value,type\n" + rows.encode())
write("csv_cells", "column-2.csv", b",\x02\xff" + rows.encode())
write("csv_cells", "tabs.csv", b"\t\x02\x03" + rows.replace(",", "\t").encode())

# freetext and refang: values, defanged.
text = "\n".join(values)
write("freetext", "values.txt", text)
defanged = text.replace(".", "[.]").replace("http", "hxxp").replace("@", "[at]")
write("freetext", "defanged.txt", defanged)
write("freetext", "json.txt", json.dumps({"iocs": values[:10]}))
write("refang", "defanged.txt", defanged)
write("refang", "mixed.txt", "hxxps[:]//bad[.]example(.)com/x evil{.}net user[@]mail[dot]example 1.2.3[.]4")

# stix_escape
write("stix_escape", "quotes.txt", "it's a \\ backslash and a ' quote \\' both")
write("stix_escape", "value.txt", values[5])

# ms_results: record count byte, then the body
# (docs/design.md#sentinel-stix-upload, #defender-indicators,
# #graph-tiindicators).
write("ms_results", "sentinel.json", b"\x08" + json.dumps({"errors": [
    {"recordIndex": 3, "errorMessages": ["Error for Property=pattern: bad"]},
    {"recordIndex": 7, "validationErrorMessages": ["Error for Property=valid_until: bad"]}]}).encode())
write("ms_results", "defender.json", b"\x02" + json.dumps({"value": [
    {"id": "2841", "indicator": "v0.example.com", "isFailed": False, "failureReason": None},
    {"id": "2842", "indicator": "v1.example.com", "isFailed": True, "failureReason": "InvalidDomainName"}]}).encode())
write("ms_results", "graph.json", b"\x02" + json.dumps({"value": [
    {"externalId": "v0.example.com", "error": None},
    {"externalId": "v1.example.com", "Error": {"code": "BadRequest", "message": "x"}}]}).encode())
write("ms_results", "delete.json", b"\x02" + json.dumps({"value": [{"code": 0, "message": ""}, {"code": 404, "message": "Not found", "subcode": 1}]}).encode())
write("ms_results", "error.json", b"\x01" + json.dumps({"error": {"code": "InvalidIpAddress", "message": "x", "target": "c"}}).encode())
write("ms_results", "throttled.json", b"\x01" + json.dumps({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 17 seconds."}).encode())

# token_error: status byte, then the body (docs/design.md#entra-id-tokens).
write("token_error", "invalid-client.json", b"\x00" + json.dumps({
    "error": "invalid_client",
    "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0b1c\r\nCorrelation ID: 2d3e\r\nTimestamp: 2026-03-02 10:15:00Z",
    "error_codes": [7000215], "timestamp": "2026-03-02 10:15:00Z", "trace_id": "0b1c", "correlation_id": "2d3e",
    "error_uri": "https://login.microsoftonline.com/error?code=7000215"}).encode())
write("token_error", "no-codes.json", b"\x01" + json.dumps({"error": "unauthorized_client", "error_description": "AADSTS700016: Application not found. Trace ID: x"}).encode())

# ndjson_records: --max-line byte, then NDJSON with a pretty-printed document.
write("ndjson_records", "lines.ndjson", b"\xff" + b"\n".join(attrs[:5]) + b"\n\n")
write("ndjson_records", "pretty.ndjson", b"\xff" + manifest[:200] + b"\n" + json.dumps(event_objs[0], indent=1).encode()[:600])

# Air gap: a real bundle of a small NDJSON file and its gzip.
airgap = os.path.join(ROOT, "target", "debug", "misp-airgap")
with tempfile.TemporaryDirectory() as tmp:
    data = b"\n".join(attrs[:3]) + b"\n"
    plain, gz = os.path.join(tmp, "attributes.ndjson"), os.path.join(tmp, "events.ndjson.gz")
    with open(plain, "wb") as f:
        f.write(data)
    with open(gz, "wb") as f:
        f.write(gzip.compress(events[1], mtime=0))
    key, pub, out = (os.path.join(tmp, n) for n in ("k", "k.pub", "b.tar"))
    subprocess.run([airgap, "keygen", "--secret-key", key, "--public-key", pub], check=True, capture_output=True)
    subprocess.run([airgap, "pack", "--secret-key", key, "--seq", "7", "--out", out, plain, gz],
                   check=True, capture_output=True)
    write("airgap_bundle", "bundle.tar", read(out))
    # airgap_manifest: manifest, journal, then (name, bytes) pairs, split by "\n%%\n".
    files = [("attributes.ndjson", data), ("events.ndjson.gz", read(gz))]
    m = {"format": "misp2ms-airgap/1", "tool": "misp-airgap", "version": "0.1.0", "sequence": 7,
         "created": "2026-03-02T10:00:00.000Z", "key_id": "00",
         "files": [{"name": n, "sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b),
                    "records": (gzip.decompress(b) if n.endswith(".gz") else b).count(b"\n")} for n, b in files]}
    journal = "# journal\n6 2026-03-01T00:00:00.000Z " + "ab" * 32 + " 2026-03-01T00:00:01.000Z\n"
    sep = b"\n%%\n"
    parts = [json.dumps(m, indent=2).encode(), journal.encode()]
    for n, b in files:
        parts += [n.encode(), b]
    write("airgap_manifest", "good.bin", sep.join(parts))
    write("airgap_manifest", "no-journal.bin", json.dumps(m).encode())
