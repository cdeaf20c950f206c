"""DMP suite: how the product feeds, consults and manages documents in the DMP."""
