"""INS suite: how the product calls INSi and handles national health identities."""
