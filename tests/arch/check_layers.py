#!/usr/bin/env python3
"""Checks memgroup's layering (style.md section 1): a file includes only its
own layer and the layers below it, and the malloc path (layers 0-3 and
preload/) includes no header that allocates behind the caller's back."""
import pathlib
import re
import sys

LAYERS = {"base": 0, "counter": 1, "group": 2, "engine": 3, "alloc": 4,
          "api": 5, "preload": 5, "cli": 6, "control": 6}
MALLOC_PATH = {"base", "counter", "group", "engine", "alloc", "preload"}
FORBIDDEN = re.compile(
    r'#include\s*[<"](string|vector|functional|iostream|sstream|map|'
    r'unordered_map|deque|list|absl/[^">]*)[">]')
LOCAL = re.compile(r'#include\s*"([a-z_]+)/')

root = pathlib.Path(sys.argv[1])
errors = []
for path in sorted(list(root.glob("src/**/*.[ch]*")) + list(root.glob("preload/*.[ch]*"))):
    rel = path.relative_to(root)
    layer_name = rel.parts[1] if rel.parts[0] == "src" else "preload"
    layer = LAYERS.get(layer_name)
    if layer is None:
        continue
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = LOCAL.match(line.strip())
        if m and m.group(1) in LAYERS and LAYERS[m.group(1)] > layer:
            errors.append(f"{rel}:{n}: layer {layer_name} includes higher layer {m.group(1)}")
        if layer_name in MALLOC_PATH and FORBIDDEN.match(line.strip()):
            errors.append(f"{rel}:{n}: malloc-path file includes {line.strip()}")
for e in errors:
    print(e)
if errors:
    sys.exit(1)
print("layering OK")
