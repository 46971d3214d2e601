#!/usr/bin/env python3
"""Deterministic generator of hostile inputs for the tests in tests/lit/robustness/.

  python3 gen.py KIND OUT

Every KIND writes the same bytes on every run (seeded PRNG, no /dev/urandom), so a failure
reproduces exactly.
"""
import random
import sys

POLICY_HEAD = 'policy p { target cgroup "/sys/fs/cgroup/p"; '


def binary_junk():
    # 100,000 bytes of seeded noise with no NUL and no invalid UTF-8 before offset 64, so the
    # UTF-8 check is what stops it and the reported offset is stable.
    r = random.Random(1)
    return b"let x = 1;\n" + bytes(r.randrange(256) for _ in range(100_000))


def ascii_junk():
    # 100,000 printable bytes biased towards KRS's punctuation and keywords: exercises the lexer,
    # the error recovery of the parser and the diagnostics (with a deterministic mix).
    r = random.Random(2)
    pieces = list('{}[]();,=:."#/*!<>&|\\-_ \n\t') + [
        "policy", "let", "import", "ruleset", "on", "when", "deny", "allow", "file", "exec",
        "network", "target", "cgroup", "and", "or", "not", "in", "has", "0x", "1", "42", '"/a"',
        "10.0.0.1/8", "x", "CAP_SYS_ADMIN"]
    out = []
    size = 0
    while size < 100_000:
        p = r.choice(pieces)
        out.append(p)
        size += len(p)
    return "".join(out).encode()


def large():
    # 50 MiB of plausible text: over the loader's 16 MiB limit, refused before it is read.
    line = b'let x = ["/some/path/that/is/long/enough", 1, 2, 3, 10.0.0.0/8];\n'
    return line * (50 * 1024 * 1024 // len(line) + 1)


def deep_brackets(n=10_000):
    return ("let deep = " + "[" * n + '"/x"' + "]" * n + ";\n" + POLICY_HEAD + "deny exec deep; }\n").encode()


def deep_parens(n=10_000):
    return (POLICY_HEAD + "on file_open when " + "(" * n + 'path == "/x"' + ")" * n + " deny; }\n").encode()


def deep_braces():
    n = 10_000
    return ("policy p " + "{" * n + "}" * n + "\n").encode()


def unbalanced_brackets():
    # Only openers: never closed, 10,000 deep.
    return ("let deep = " + "[" * 10_000 + "\n").encode()


def huge_line():
    # About 1 MiB of valid tokens on a single line: a let list of paths, a policy using it, and one
    # error at the very end of the line (so the diagnostic renders a column past 1,000,000).
    items = []
    size = 0
    i = 0
    while size < 1 << 20:
        s = '"/data/%d/**"' % i
        items.append(s)
        size += len(s) + 2
        i += 1
    return ("let big = [" + ", ".join(items) + "]; " + POLICY_HEAD +
            "deny file read, write big; deny exec big; deny exec not_a_path; }\n").encode()


def long_chain(op):
    # A condition of 20,000 comparisons joined by one operator: no brackets at all, but a
    # 20,000-deep tree after parsing. About 330 KB, far below the size limit. The error after it
    # makes the run end in exit 1 even if the condition is accepted.
    def gen():
        terms = ["uid == %d" % i for i in range(20_000)]
        return (POLICY_HEAD + "on file_open when " + (" %s " % op).join(terms) + " deny; deny exec not_a_path; }\n").encode()
    return gen


def deep_not():
    # 50,001 prefix negations (odd: the condition is `not (path == "/x")`) and no bracket at all,
    # then an error so that the run must end in exit 1. About 100 KB.
    n = 50_001
    return (POLICY_HEAD + "on file_open when " + "! " * n + 'path == "/x" deny; deny exec not_a_path; }\n').encode()


def doubling_lets():
    # 40 lets, each a list of the previous one twice: under 1 KB of text naming 2^39 paths.
    n = 40
    text = 'let l0 = ["/x"];\n' + "".join("let l%d = [l%d, l%d];\n" % (i, i - 1, i - 1) for i in range(1, n))
    return (text + POLICY_HEAD + "deny exec l%d; }\n" % (n - 1)).encode()


def doubling_rulesets():
    # 40 rulesets, each using the previous one twice: under 1.5 KB of text for 2^39 rules.
    n = 40
    text = 'ruleset r0 { deny exec "/x"; }\n' + "".join(
        "ruleset r%d { use r%d; use r%d; }\n" % (i, i - 1, i - 1) for i in range(1, n))
    return (text + POLICY_HEAD + "use r%d; }\n" % (n - 1)).encode()


KINDS = {
    "binary-junk": binary_junk,
    "ascii-junk": ascii_junk,
    "large": large,
    "deep-brackets": deep_brackets,
    "deep-parens": deep_parens,
    # At the parser's limit (256 levels, ParseOptions::max_nesting; the policy's { is one): accepted.
    "brackets-256": lambda: deep_brackets(256),
    "parens-255": lambda: deep_parens(255),
    "brackets-257": lambda: deep_brackets(257),
    "deep-braces": deep_braces,
    "unbalanced-brackets": unbalanced_brackets,
    "huge-line": huge_line,
    "and-chain": long_chain("and"),
    "or-chain": long_chain("||"),
    "deep-not": deep_not,
    "doubling-lets": doubling_lets,
    "doubling-rulesets": doubling_rulesets,
}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit("usage: gen.py {%s} OUT" % ",".join(KINDS))
    with open(sys.argv[2], "wb") as f:
        f.write(KINDS[sys.argv[1]]())
