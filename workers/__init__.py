"""Process entry points: the workers and the local-stack launcher."""
