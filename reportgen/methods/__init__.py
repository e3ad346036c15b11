"""Methods wing: pure numpy maths on attention (maps, spread levels); no I/O, no torch models.

The maps a report shows are made by the map methods of :mod:`reportgen.methods.registry`."""
