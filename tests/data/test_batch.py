"""The batches an update reads: minibatches and sequence selections gather exactly the transitions
asked for, every field alike."""

from __future__ import annotations

import dataclasses

import torch

from advantage.data.batch import RolloutBatch, SequenceBatch


def _rollout_batch(n: int = 10, masked: bool = True) -> RolloutBatch:
    g = torch.Generator().manual_seed(0)
    return RolloutBatch(
        obs=torch.randint(0, 256, (n, 4, 6, 5), dtype=torch.uint8, generator=g),
        actions=torch.randint(0, 3, (n,), generator=g), policy=torch.randn(n, 3, generator=g),
        values=torch.randn(n, generator=g), advantages=torch.randn(n, generator=g), returns=torch.randn(n, generator=g),
        action_mask=torch.rand(n, 3, generator=g) > 0.3 if masked else None,
    )


def test_index_gathers_each_field_at_the_positions():
    batch = _rollout_batch()
    idx = torch.tensor([7, 2, 2, 9, 0])
    picked = batch.index(idx)
    for f in dataclasses.fields(batch):
        got, source = getattr(picked, f.name), getattr(batch, f.name)
        assert torch.equal(got, torch.stack([source[i] for i in idx.tolist()])), f.name
    assert _rollout_batch(masked=False).index(idx).action_mask is None


def test_minibatches_cover_every_transition_once_in_slices_of_size():
    batch = _rollout_batch(10)
    torch.manual_seed(3)
    parts = batch.minibatches(4)
    assert [len(p) for p in parts] == [4, 4, 2]
    seen = torch.cat([p.advantages for p in parts])
    assert torch.equal(seen.sort().values, batch.advantages.sort().values)
    for part in parts:  # each transition's fields stay together
        for k in range(len(part)):
            i = int((batch.advantages == part.advantages[k]).nonzero())
            assert torch.equal(part.obs[k], batch.obs[i]) and torch.equal(part.action_mask[k], batch.action_mask[i])
            assert part.actions[k] == batch.actions[i] and part.returns[k] == batch.returns[i]


def test_sequence_index_selects_whole_sequences_along_dim_1():
    g = torch.Generator().manual_seed(1)
    L, B = 5, 4
    seq = SequenceBatch(
        obs=torch.randn(L, B, 3, generator=g), actions=torch.randint(0, 2, (L, B), generator=g),
        policy=torch.randn(L, B, 2, generator=g), values=torch.randn(L, B, generator=g),
        advantages=torch.randn(L, B, generator=g), returns=torch.randn(L, B, generator=g),
        episode_start=torch.rand(L, B, generator=g) > 0.7, keep=torch.rand(L, B, generator=g) > 0.2,
        memory=torch.randn(2, B, 8, generator=g), action_mask=None,
    )
    idx = torch.tensor([3, 1])
    picked = seq.index(idx)
    for f in dataclasses.fields(seq):
        source = getattr(seq, f.name)
        if source is None:
            assert getattr(picked, f.name) is None
            continue
        assert torch.equal(getattr(picked, f.name), torch.stack([source[:, i] for i in idx.tolist()], 1)), f.name
