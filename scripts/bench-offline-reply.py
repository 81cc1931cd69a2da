#!/usr/bin/env python3
"""Times the offline model's replies to one question through `concierge chat`.

    scripts/bench-offline-reply.py LABEL TURNS QUESTION [ENV=VALUE ...]

One process (the model and the knowledge base load once); each turn is a new customer
(`/as ID`: the same prompt, an empty history), so turn 1 is the first reply and the others are
warm. Needs `cargo build -p concierge-cli --features local-model` and CONCIERGE_LOCAL_MODEL /
CONCIERGE_LOCAL_EMBEDDING_MODEL (scripts/fetch-model.sh). ENV=VALUE pairs are added to the
environment, e.g. the baseline of docs/benchmarks.md:
CONCIERGE_COMPACT_PROMPT=0 CONCIERGE_LOCAL_PREFIX_CACHE=0. Tenant: CONCIERGE_BENCH_TENANT
(default examples/tenants/sunrise-bakery.toml).
"""
import os
import queue
import subprocess
import sys
import threading
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
label, turns, question = sys.argv[1], int(sys.argv[2]), sys.argv[3]
env = dict(os.environ)
for pair in sys.argv[4:]:
    key, value = pair.split("=", 1)
    env[key] = value
target = os.environ.get("CARGO_TARGET_DIR", "target")
binary = os.path.join(root, target, "debug", "concierge")
tenant = os.environ.get("CONCIERGE_BENCH_TENANT", "examples/tenants/sunrise-bakery.toml")
started = time.time()
chat = subprocess.Popen(
    [binary, "chat", "--approve-persona", "--tenant", tenant],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    text=True, bufsize=1, env=env, cwd=root,
)
lines = queue.Queue()
threading.Thread(target=lambda: [lines.put(l) for l in chat.stdout], daemon=True).start()


def send(text):
    chat.stdin.write(text + "\n")
    chat.stdin.flush()


while not lines.get().startswith("credits:"):
    pass
print(f"{label}: startup {time.time() - started:.1f}s", flush=True)
for turn in range(turns):
    send(f"/as 1555000{2000 + turn}")
    time.sleep(0.5)
    while not lines.empty():
        lines.get()
    sent = time.time()
    send(question)
    reply = ""
    while True:
        line = lines.get()
        if line.startswith("bot:"):
            reply = line.strip()
        if line.startswith("     ["):  # the turn's summary line ends the reply
            break
    print(f"{label}: turn {turn + 1} {time.time() - sent:.1f}s | {reply[:160]}", flush=True)
send("/quit")
chat.wait()
