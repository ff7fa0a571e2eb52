"""Times misp-stix (MISPtoSTIX21Parser, one parser per event, each bundle
serialised) on the first N attributes of a generated feed; prints
`<attributes> <indicators> <seconds>` (CPU seconds of this process).

    bench-misp-stix.py FEED.ndjson N
"""

import json
import sys
import time

from misp_stix_converter import MISPtoSTIX21Parser


def first_events(path, limit):
    """Whole events until `limit` attributes; the last one is cut to fit exactly."""
    events, total = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if total >= limit:
                break
            ev = json.loads(line)
            e = ev["Event"]
            objects = []
            for o in e.get("Object", []):
                n = len(o.get("Attribute", []))
                if total + n > limit:
                    break
                objects.append(o)
                total += n
            e["Object"] = objects
            room = limit - total
            e["Attribute"] = e.get("Attribute", [])[:room]
            total += len(e["Attribute"])
            events.append(ev)
    return events, total


def main():
    path, limit = sys.argv[1], int(sys.argv[2])
    events, attributes = first_events(path, limit)
    indicators = 0
    start = time.process_time()
    for ev in events:
        parser = MISPtoSTIX21Parser()
        parser.parse_misp_event(ev)
        bundle = parser.bundle
        indicators += sum(1 for o in bundle.objects if o["type"] == "indicator")
        bundle.serialize()
    print(attributes, indicators, round(time.process_time() - start, 3))


if __name__ == "__main__":
    main()
