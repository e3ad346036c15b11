"""Methods wing: pure numpy maths on attention (maps, spread levels); no I/O, no torch models."""
