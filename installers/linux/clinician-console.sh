#!/bin/sh
# /usr/bin/clinician-console: the frozen console installed in /opt by the
# Debian package (installers/linux). A wrapper rather than a symlink, so the
# bundle always finds its _internal/ folder beside the real executable.
exec /opt/clinician-console/clinician-console "$@"
