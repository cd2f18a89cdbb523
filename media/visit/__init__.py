"""Visit sessions: the Janus session and the in-process loopback demo peer."""
