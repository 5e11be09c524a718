"""Job ids: 32 hex digits, the creation millisecond then 80 random bits, unique across
threads and across a fork (the random parts are read from the OS in bulk)."""

from __future__ import annotations

import os
import threading
import time

from relay.core import jobs
from relay.core.jobs import new_job_id


def test_an_id_is_the_millisecond_then_twenty_random_hex_digits() -> None:
    before = time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
    job_id = new_job_id()
    after = time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
    assert len(job_id) == 32 and job_id == job_id.lower()
    int(job_id, 16)
    assert before <= int(job_id[:12], 16) <= after


def test_ids_are_unique_across_threads_and_refills() -> None:
    made: list[list[str]] = [[] for _ in range(4)]
    each = 5 * jobs.RANDOM_PARTS_PER_READ  # several refills per thread, racing each other

    def make(into: list[str]) -> None:
        for _ in range(each):
            into.append(new_job_id()[12:])

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parts = [part for into in made for part in into]
    assert len(parts) == 4 * each
    assert len(set(parts)) == len(parts)


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_job_id()  # the parent holds random parts not yet handed out
    assert jobs._RANDOM_PARTS
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids to the parent, then gone without cleanup
        try:
            os.write(write, "".join(new_job_id()[12:] for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    child = {text[i : i + 20] for i in range(0, len(text), 20)}
    parent = {new_job_id()[12:] for _ in range(50)}
    assert len(child) == 50
    assert not child & parent
