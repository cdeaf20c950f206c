"""PSC suite: how the product logs professionals in with Pro Santé Connect."""
