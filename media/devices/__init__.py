"""Local media devices: cameras (V4L2 through linuxpy, PyAV devices and files, synthetic)
and audio (sounddevice, tone)."""
