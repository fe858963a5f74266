"""What data a board reads: loaders for pair, prompt and text files (local or hub), and the roles
that split the pairs."""
