"""``realtime.connections``: the registry of this process's authenticated sockets."""

from __future__ import annotations

import random

from realtime.connections import Connections, Identity


def _identity(uid: str, session_id: str) -> Identity:
    return Identity(uid=uid, session_id=session_id, expires_at=0.0)


def test_sockets_are_found_by_session_and_by_user_and_forgotten_on_removal():
    registry = Connections()
    ada_tab1, ada_tab2, ada_phone, bob = ("s1", "/"), ("s2", "/"), ("s3", "/chat"), ("s4", "/")
    registry.add(ada_tab1, _identity("ada", "laptop"))
    registry.add(ada_tab2, _identity("ada", "laptop"))
    registry.add(ada_phone, _identity("ada", "phone"))
    registry.add(bob, _identity("bob", "bobs"))

    assert sorted(registry.of_session("laptop")) == [ada_tab1, ada_tab2]
    assert registry.of_session("phone") == [ada_phone]
    assert sorted(registry.of_user("ada")) == [ada_tab1, ada_tab2, ada_phone]
    assert registry.session_ids() == {"laptop", "phone", "bobs"}

    assert registry.remove(ada_tab1) == _identity("ada", "laptop")
    assert registry.of_session("laptop") == [ada_tab2]
    assert registry.remove(ada_tab1) is None  # twice is harmless
    registry.remove(ada_tab2)
    assert registry.of_session("laptop") == []
    assert registry.session_ids() == {"phone", "bobs"}
    assert registry.of_user("ada") == [ada_phone]
    assert registry.of_user("nobody") == []
    assert len(registry) == 2


def test_indexes_agree_with_the_identities_after_any_sequence():
    registry = Connections()
    rng = random.Random(7)
    alive: dict[tuple[str, str], Identity] = {}
    for step in range(3000):
        ref = (f"s{rng.randrange(60)}", rng.choice(["/", "/chat"]))
        if ref in alive and rng.random() < 0.5:
            assert registry.remove(ref) == alive.pop(ref)
        elif ref not in alive:
            identity = _identity(f"u{rng.randrange(8)}", f"k{rng.randrange(20)}")
            registry.add(ref, identity)
            alive[ref] = identity
        if step % 100 == 0:
            for key in {i.session_id for i in alive.values()} | {"k-none"}:
                expected = sorted(r for r, i in alive.items() if i.session_id == key)
                assert sorted(registry.of_session(key)) == expected
            for uid in {i.uid for i in alive.values()}:
                assert sorted(registry.of_user(uid)) == sorted(r for r, i in alive.items() if i.uid == uid)
            assert registry.session_ids() == {i.session_id for i in alive.values()}
