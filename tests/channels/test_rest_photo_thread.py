"""Photos (REST uploads and WhatsApp images) are checked on one thread per process, first come first served."""

import threading
import time

from antrean.media.contract import photo_checker


def test_photos_are_checked_one_at_a_time_in_arrival_order():
    running, overlaps, order = set(), [], []
    lock = threading.Lock()

    def check(name: str) -> None:
        with lock:
            overlaps.append(bool(running))
            running.add(name)
        time.sleep(0.02)
        with lock:
            running.discard(name)
            order.append(name)

    futures = [photo_checker().submit(check, f"photo-{n}") for n in range(5)]
    for future in futures:
        future.result(timeout=5)

    assert photo_checker() is photo_checker()
    assert overlaps == [False] * 5
    assert order == [f"photo-{n}" for n in range(5)]
