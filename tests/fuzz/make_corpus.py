#!/usr/bin/env python3
"""Writes the seed corpus tests/fuzz/corpus/ (deterministic: the same files on every run).

Each file focuses on one op class of tests/fuzz/op_replay.hpp (about 40% of its ops), mixed
with random others, so the corpus covers every op with short inputs. libFuzzer grows its
own working copy from these (scripts/fuzz.sh); CI replays them (tests/fuzz/corpus_test.cpp).
Crashes libFuzzer finds are added by hand, not by this script.
"""
import os
import random

# (name, number of argument bytes), in opcode order: keep in sync with enum Op.
OPS = [("create", 1), ("set", 3), ("set-equal", 2), ("set-durability", 4), ("chain", 2),
       ("throwing", 2), ("catch-all", 2), ("touchy", 2), ("tracked", 3), ("interned", 3),
       ("set-lru", 2), ("evict", 0), ("reclaim", 1), ("threads", 2)]

def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(1)
    for focus, (name, _) in enumerate(OPS):
        for n in range(3):
            flags = 1 if name == "threads" else 0  # bit 0: the reader-threads mode
            data = [flags]
            for _ in range(rng.randint(8, 25)):
                op = focus if rng.random() < 0.4 else rng.randrange(len(OPS))
                data.append(op)
                data.extend(rng.randrange(256) for _ in range(OPS[op][1]))
            with open(os.path.join(out, f"{name}-{n}"), "wb") as f:
                f.write(bytes(data))

if __name__ == "__main__":
    main()
