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


@torch.no_grad()
def test_prefill_many_continues_stored_prefixes_in_one_call_like_a_full_forward():
    from ponder.lm.fused import FusedDecoder
    from ponder.lm.prefix import prefill_many
    from tests.lm.test_sampler import TOK, tiny

    model = tiny()
    dec = FusedDecoder(model)
    g = torch.Generator().manual_seed(0)
    seqs = [tuple(torch.randint(5, TOK.vocab_size, (n,), generator=g).tolist())
            for n in (10, 15, 6)]
    known = [7, 12, 5]  # stored prefixes of different lengths, 3, 3 and 1 new tokens

    def stored(prefix):
        cache = dec.new_cache(1, len(prefix))
        dec(torch.tensor([prefix]), torch.arange(len(prefix))[None], cache, 0)
        return [c[:, 0] for c in cache]  # (2, nh, len, hs) per layer, as the store keeps

    hits = [(k, stored(s[:k])) for s, k in zip(seqs, known, strict=True)]
    logits, cache, real = prefill_many(dec, seqs, hits)
    want = torch.stack([model(torch.tensor([s]))[0, -1] for s in seqs])
    torch.testing.assert_close(logits, want, atol=1e-4, rtol=1e-4)
    # each row's real slots hold exactly its prompt's keys/values, in order
    for u, s in enumerate(seqs):
        assert int(real[u].sum()) == len(s)
        full = stored(s)
        for c, f in zip(cache, full, strict=True):
            torch.testing.assert_close(c[:, u][:, :, real[u]], f, atol=1e-5, rtol=1e-5)
