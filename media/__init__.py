"""Media adapters: devices, WebRTC visit sessions, signalling, stethoscope DSP, image checks."""
