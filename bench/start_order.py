#!/usr/bin/env python3
"""Writes preload/start_text.ld: the order of the code every process runs.

Usage: bench/start_order.py [--out FILE] [--jemalloc-archive ARCHIVE] LIB

A short process's start costs mostly its page faults (docs/perf.md, "What
a start costs on this machine"), and a fault of a file's text maps the
64 KiB around it (fault-around): the functions of libmemgroup.so that a
short process runs, scattered over the library's text, cost a fault per
64 KiB window they touch. This script finds them by running a few short
programs under valgrind --tool=callgrind on both engines, and writes a
link-script fragment that places their sections (libmemgroup.so is
compiled with -ffunction-sections) at the front of the text, those more
programs run first, then the objects of the private jemalloc archive
whose code the runs ran. Run it on a release build after a change of the
start or of the malloc path, and commit the fragment;
tests/arch/check_start_text.py checks that each name it lists is still a
function of the library.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

# Short programs, each a different start: the first allocations and frees,
# an exec'ing shell, a fork and exec (perl's system: fork, not vfork, so
# the fork handlers run, in the parent and in the child), interpreters.
# A child's code before its exec is lost to callgrind (it profiles the new
# image), so two children try to exec a program that does not exist, then
# _exit: one forked by a process that never had another thread, one forked
# while a second thread lives (the handlers that take every lock). Both
# engines.
PROGRAMS = [
    ['/bin/true'],
    ['git', '--version'],
    ['sh', '-c', 'ls / >/dev/null'],
    ['perl', '-e', 'system("/bin/true")'],
    ['perl', '-MPOSIX', '-e',
     'if (my $p = fork) { waitpid($p, 0) } '
     'else { exec { "/nonexistent/x" } "x"; POSIX::_exit(0) }'],
    ['/usr/bin/python3', '-c',
     'import os, threading, time\n'
     't = threading.Thread(target=time.sleep, args=(0.5,)); t.start()\n'
     'p = os.fork()\n'
     'if p == 0:\n'
     '    try: os.execve("/nonexistent/x", ["x"], {})\n'
     '    finally: os._exit(0)\n'
     'os.waitpid(p, 0); t.join()'],
    ['/usr/bin/python3', '-c', 'import json; json.dumps(list(range(1000)))'],
    ['perl', '-e', 'my %h; $h{$_} = $_ for 1..10000'],
    ['sqlite3', ':memory:', 'create table t(a); insert into t values (1);'],
]
ENGINES = ['mimalloc', 'jemalloc']


def functions_run(lib, engine, argv):
    """The mangled names of libmemgroup's functions that argv runs."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'cg.%p')
        env = dict(os.environ, LD_PRELOAD=lib, MEMGROUP_ENGINE=engine)
        subprocess.run(['valgrind', '--tool=callgrind', '--demangle=no',
                        '--trace-children=yes',
                        '--callgrind-out-file=' + out] + argv, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        names = set()
        for f in os.listdir(tmp):
            names |= parse_callgrind(os.path.join(tmp, f), lib)
        return names


def parse_callgrind(path, lib):
    """fn names whose object (ob=) is the library. Callgrind compresses
    repeated names as '(id) name' the first time and '(id)' after."""
    objs, fns, names = {}, {}, set()
    real = os.path.realpath(lib)
    ob = ''
    for line in open(path, errors='replace'):
        m = re.match(r'(c?ob|c?fn)=(?:\((\d+)\))?\s*(.*)', line.rstrip('\n'))
        if not m:
            continue
        kind, ident, name = m.groups()
        table = objs if kind.endswith('ob') else fns
        if ident is not None and name:
            table[ident] = name
        elif ident is not None:
            name = table.get(ident, '')
        if kind == 'ob':
            ob = name
        elif kind == 'fn' and os.path.realpath(ob) == real:
            # A recursive call's cost is filed under name'2; valgrind calls
            # __libc_start_main (memgroup's, which wraps main) '(below main)'.
            name = re.sub(r"'\d+$", '', name)
            names.add('__libc_start_main' if name == '(below main)' else name)
    return names


def jemalloc_objects(archive, count):
    """The archive's objects with functions the runs ran, those more runs
    need first: all but those whose text is mostly code a start does not
    run (more than 32 KiB of it per function run)."""
    obj_of = {}
    out = subprocess.run(['nm', '-A', '--defined-only', archive],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'tTwW':
            obj_of.setdefault(p[2], p[0].split(':')[1])
    text = {}
    member = None
    out = subprocess.run(['size', '-A', archive], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        if '(ex ' in line:
            member = line.split()[0]
            continue
        p = line.split()
        if member and len(p) >= 2 and p[0] == '.text':
            text[member] = int(p[1])
    weight = {}
    for name, n in count.items():
        o = obj_of.get(name)
        if o is not None:
            w = weight.setdefault(o, [0, 0])
            w[0] = max(w[0], n)  # runs that need it (those of its likeliest)
            w[1] += 1  # functions
    keep = [o for o, (_, nfun) in weight.items()
            if text.get(o, 0) <= 32768 * nfun]
    # Those more runs need first, the smaller first among them.
    return sorted(keep, key=lambda o: (-weight[o][0], text.get(o, 0), o))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=None)
    ap.add_argument('--jemalloc-archive', default=None,
                    help='the private jemalloc archive the library links '
                         '(default: jemalloc_private/libmgje_jemalloc.a '
                         'beside the library)')
    ap.add_argument('lib')
    args = ap.parse_args()
    lib = os.path.realpath(args.lib)
    if not os.path.isfile(lib):
        sys.exit('no such library: %s' % args.lib)
    archive = args.jemalloc_archive or os.path.join(
        os.path.dirname(os.path.abspath(args.lib)), 'jemalloc_private',
        'libmgje_jemalloc.a')
    if not os.path.isfile(archive):
        sys.exit('no such archive: %s (--jemalloc-archive)' % archive)
    for need in ['valgrind', 'nm', 'size'] + [p[0] for p in PROGRAMS]:
        if shutil.which(need) is None:
            sys.exit('missing %s (scripts/install-deps.sh installs it)' % need)
    count, first = {}, {}
    for r, (engine, argv) in enumerate(
            (e, p) for e in ENGINES for p in PROGRAMS):
        for name in functions_run(lib, engine, argv):
            count[name] = count.get(name, 0) + 1
            first.setdefault(name, r)
    # memgroup's own: its C++ functions and the C symbols it exports.
    # (jemalloc's objects, linked in from Debian's archive, have no section
    # per function; a PLT entry callgrind names '0x...' has none either.)
    exported = set(subprocess.run(
        ['nm', '-D', '--defined-only', '--format=just-symbols', lib],
        capture_output=True, text=True, check=True).stdout.split())
    names = [n for n in count if n.startswith('_Z') or n in exported]
    # Those more runs need first; then those the mimalloc engine needs.
    names.sort(key=lambda n: (-count[n], first[n], n))
    objects = jemalloc_objects(archive, count)
    # A clone (foo.isra.0) has its section named after the clone. A cold
    # function (MG_COLD) lies in .text.unlikely.foo, as does the cold part
    # gcc splits off a function (foo.cold).
    sections = ['*(.text.unlikely.%s)' % n[:-5] if n.endswith('.cold') else
                '*(.text.%s .text.unlikely.%s)' % (n, n) for n in names
                if not (n.endswith('.cold') and n[:-5] in names)]
    header = textwrap.fill(
        "Included at the front of libmemgroup.so's .text (in the link script "
        "preload/CMakeLists.txt derives from the linker's default), written "
        "by bench/start_order.py: the code every process runs. The library's "
        ".fini (run at exit: the C runtime's empty _fini); the C runtime's "
        "frame_dummy and __do_global_dtors_aux (run at load and at exit); the "
        "library's constructors; the functions a few short programs run on "
        "both engines (%d, those more of the runs need first); the C "
        "library's static stubs (pthread_atfork); then the objects of "
        "jemalloc's archive whose code the jemalloc engine's start runs "
        "(%d; Debian's archive has no section per function). A start then "
        "faults in one or two 64 KiB windows of memgroup's code (the kernel "
        "maps a file's pages 64 KiB around a fault) instead of one per "
        "scattered function, and on the jemalloc engine in fewer windows of "
        "jemalloc's."
        % (len(sections), len(objects)), width=72, initial_indent='/* ',
        subsequent_indent='   ') + ' */'
    lines = [
        header,
        'KEEP (*(SORT_NONE(.fini)))',
        '*crtbegin*.o(.text .text.*)',
        '*(.text.startup .text.startup.*)',
    ]
    lines += sections
    lines.append('*libc_nonshared.a:*(.text .text.*)')
    lines += ['*%s:%s(.text .text.*)' % (os.path.basename(archive), o)
              for o in objects]
    text = '\n'.join(lines) + '\n'
    if args.out:
        open(args.out, 'w').write(text)
    sys.stdout.write(text if not args.out else
                     '%s: %d functions, %d jemalloc objects\n' %
                     (args.out, len(sections), len(objects)))


if __name__ == '__main__':
    main()
