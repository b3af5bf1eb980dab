#!/usr/bin/python3
"""Turns gateway/openapi.yaml into C source holding the same document as
compact JSON, which the gateway serves at /api/openapi.json.

usage: openapi-json.py <openapi.yaml> <out.c>
"""
import json
import os
import sys

import yaml


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
        sys.exit(f"{src}: not an OpenAPI 3 document")
    text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"), sort_keys=False)
    # Escaped piece by piece, so that no escape is split between literals.
    pieces = [text[i:i + 100] for i in range(0, len(text), 100)]
    # (A "?" is escaped too: -std=c17 turns "??(" and its kin into trigraphs.)
    fixed = [p.replace("\\", "\\\\").replace('"', '\\"').replace("?", "\\?") for p in pieces]
    with open(out + ".tmp", "w", encoding="ascii") as f:
        f.write("/* Generated from gateway/openapi.yaml by scripts/openapi-json.py. */\n")
        f.write('extern const char gw_openapi_json[];\n')
        f.write("const char gw_openapi_json[] =\n")
        for c in fixed:
            f.write(f'    "{c}"\n')
        f.write("    ;\n")
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
