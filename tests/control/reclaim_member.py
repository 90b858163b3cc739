#!/usr/bin/env python3
"""A job member for the reclaim tests (tests/control/reclaim_test.py) and
the examples of docs/control.md.

usage: reclaim_member.py CACHE_MIB JUNK_MIB plain|fork

It keeps CACHE_MIB blocks of 1 MiB that its reclaim callback (registered on
its root group through the C ABI, with ctypes) drops on request, one per
MiB asked; allocates, touches and frees JUNK_MIB of 256 KiB blocks (free
engine pages for a purge); with "fork", forks a child that sleeps in read()
until the parent exits. It prints "ready PID" and reads commands from stdin
(its only thread sleeps in read() between them): "alloc N" (N MiB: "alloc
ok" or "alloc MemoryError"), "cache" ("cache BLOCKS calls CALLS"), "quit".
"""
import ctypes
import os
import sys

MIB = 1 << 20
cache_mib, junk_mib, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lib = ctypes.CDLL(None)
lib.mg_root.restype = ctypes.c_uint64
FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_int64,
                      ctypes.c_void_p)
cache = [bytearray(MIB) for _ in range(cache_mib)]
calls = [0]


def say(*parts):
    """One line in one write(2): the parent's and its fork child's lines
    share the pipe, and print() makes a write per part when Python is
    unbuffered (PYTHONUNBUFFERED), so theirs could interleave."""
    os.write(1, (" ".join(map(str, parts)) + "\n").encode())


def reclaim(group, target, arg):
    """The callback: drops a cached MiB at a time until `target` bytes."""
    calls[0] += 1
    freed = 0
    while cache and freed < target:
        cache.pop()
        freed += MIB
    return freed


cb = FN(reclaim)
handle = ctypes.c_int(0)
rc = lib.mg_reclaim_register(ctypes.c_uint64(lib.mg_root()), cb, None,
                             ctypes.byref(handle))
if rc != 0:
    say("register failed", rc)
    sys.exit(4)
junk = [b"j" * (256 * 1024) for _ in range(junk_mib * 4)]
del junk
if mode == "fork":
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        cache.clear()  # the parent's blocks: nothing of the child's to give
        say("child", os.getpid())
        os.read(r, 1)  # end of file when the parent exits
        os._exit(0)
    os.close(r)
say("ready", os.getpid())
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "alloc":
        try:
            x = b"y" * (int(cmd[1]) * MIB)
            say("alloc ok")
            del x
        except MemoryError:
            say("alloc MemoryError")
    elif cmd[0] == "cache":
        say("cache", len(cache), "calls", calls[0])
    elif cmd[0] == "quit":
        break
