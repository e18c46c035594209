import torch

from ponder.lm.prefix import PrefixStore


def test_the_prefix_store_finds_shared_heads_and_keeps_the_recent_within_its_bytes():
    def kv(key):  # one float per token, so a prefix's values are its positions
        return [torch.arange(float(len(key)))[None, None, :, None]]

    store = PrefixStore(max_bytes=4 * 9)
    for key in [(1, 2, 3, 4), (1, 2), (7, 8, 9)]:
        store.put(key, kv(key))
    n, got = store.longest((1, 2, 3, 5, 6))  # shares three tokens with (1, 2, 3, 4)
    assert n == 3 and got[0].flatten().tolist() == [0.0, 1.0, 2.0]
    assert store.longest((1, 2))[0] == 1  # one token is always left to run
    assert store.longest((5, 1)) is None
    store.put((4, 4), kv((4, 4)))  # 11 tokens > 9: the least recently used goes
    assert store.longest((7, 8, 9, 0)) is None and store.bytes == 4 * 8
    store.put((6,) * 9, kv((6,) * 9))  # the rest go; what remains is still found
    assert list(store.entries) == [(6,) * 9] and store.longest((1, 2, 3, 4, 5)) is None
    assert store.longest((6,) * 12)[0] == 9
