"""Parses Prometheus text exposition format from stdin with the Prometheus project's own parser
(prometheus_client, Debian package python3-prometheus-client) and prints the families as JSON:
[{"name", "type", "help", "samples": [{"name", "labels", "value"}]}]. Non-finite values are
printed as strings ("inf", "nan"), which JSON cannot hold as numbers."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "samples": [
            {"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)}
            for s in family.samples
        ],
    })
json.dump(families, sys.stdout)
