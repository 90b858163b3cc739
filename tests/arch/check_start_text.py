#!/usr/bin/env python3
"""Fails unless libmemgroup.so's text begins with the code every process runs.

Usage: check_start_text.py LIB START_TEXT_LD

START_TEXT_LD (preload/start_text.ld, written by bench/start_order.py)
lists the sections of the functions a short process runs; the link puts
them at the front of .text, so that a start faults in one or two 64 KiB
windows of the library's code. Checks that every function it names is
still a function of the library (a renamed or deleted one leaves a stale
line: regenerate the list), and that they lie together before every other
memgroup function, with _fini, malloc and free among them.
"""
import re
import subprocess
import sys


def main():
    lib, fragment = sys.argv[1], sys.argv[2]
    # '*(.text.NAME .text.unlikely.NAME)' holds NAME and its cold part
    # NAME.cold (or NAME itself if cold); '*(.text.unlikely.NAME)' NAME.cold.
    listed = []
    for m in re.finditer(r'^\*\(\.text\.(unlikely\.)?(\S+?)'
                         r'(?: \.text\.unlikely\.\S+)?\)$',
                         open(fragment).read(), re.M):
        listed.append(m.group(2) + '.cold' if m.group(1) else m.group(2))
    if len(listed) < 20:
        sys.exit('%s lists %d functions: expected the start path' %
                 (fragment, len(listed)))
    funcs = {}
    out = subprocess.run(['nm', '--defined-only', lib], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'tTwW':
            funcs.setdefault(p[2], int(p[0], 16))
    stale = [n for n in listed if n not in funcs]
    if stale:
        sys.exit('start_text: no such function in %s (regenerate %s with '
                 'bench/start_order.py): %s' % (lib, fragment, ', '.join(stale)))
    front = set(listed) | {'_fini'}
    for must in ('malloc', 'free'):
        if must not in listed:
            sys.exit('start_text: %s does not list %s' % (fragment, must))
    end = max(funcs[n] for n in front)
    # Every other memgroup function (a C++ name of namespace memgroup) after.
    behind = [n for n in funcs if n not in front and
              n.removesuffix('.cold') not in front and
              n.startswith('_ZN8memgroup') and funcs[n] < end]
    if behind:
        sys.exit('start_text: %d other memgroup functions lie among the '
                 'start path, e.g. %s' % (len(behind), behind[0]))
    start = min(funcs[n] for n in front)
    print('start text: OK (%d functions, %d bytes)' % (len(listed), end - start))


if __name__ == '__main__':
    main()
