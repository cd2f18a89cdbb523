"""WebRTC plumbing around aiortc: the low-latency receive path, bandwidth policy, SDP tweaks."""
