"""Example reportgen plugins: the ``quarto`` flavour and the ``head_max`` map method."""
