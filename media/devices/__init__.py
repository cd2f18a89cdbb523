"""Local media devices: cameras (OpenCV, PyAV files, synthetic) and audio (sounddevice, tone)."""
