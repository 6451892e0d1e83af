"""Write the template format's JSON Schema to book/reference/template-schema.json.

python scripts/export_template_schema.py          # write
python scripts/export_template_schema.py --check  # exit 1 if the file is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from plotpalette.templates import template_json_schema

TARGET = Path(__file__).resolve().parent.parent / "book" / "reference" / "template-schema.json"


def main(argv: list[str]) -> int:
    text = json.dumps(template_json_schema(), indent=2, sort_keys=False) + "\n"
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date; run scripts/export_template_schema.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
