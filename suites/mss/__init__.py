"""MSS suite: how the product sends and receives MSSanté secure health mail."""
