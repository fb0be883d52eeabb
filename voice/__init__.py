"""Voice: the provider interface and implementations, the realtime bridge and the provider sandbox."""
