"""Every change dlbench makes to a framework's private behaviour (Hydra, Lightning), in one room.

Each module says what its patch buys (measured) and has a contract test that fails loudly when
the pinned framework changes underneath it (tests/test_runtime.py)."""
