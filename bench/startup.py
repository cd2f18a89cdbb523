"""Start-up benchmark: time to an interactive worklist, warm and cold, against bare Qt.

``python -m bench.startup [--quick]`` prints one JSON object (DESIGN.md §3):

- ``metrics.warm_s``: median wall time from ``exec`` of ``clinician-console --demo``
  (a second launch on a profile that already holds the demo store) until the
  worklist has laid out its rows and the event loop has come round once
  (``ui.readiness``: the console writes one line to an inherited pipe).
- ``metrics.cold_s``: the same after dropping the page cache
  (``echo 3 > /proc/sys/vm/drop_caches``, root only). Where that is not permitted
  ``params.cold_cache_dropped`` is false and the figures are a second warm start.
- ``metrics.rss_idle_mib``: the console's resident memory (``VmRSS``) with the
  worklist shown, read a moment after it reported ready.
- ``reference.*``: a bare PySide6 window (``QApplication`` + one ``QWidget``,
  shown, reporting after its first loop iteration) launched the same way.
- ``ratio.warm`` / ``ratio.cold``: ours over the reference (budget <= 2.5,
  DESIGN.md §6).

Both processes run on the same Qt platform: the current ``DISPLAY`` when there is
one, else ``offscreen``. The console needs a keyring (Secret Service): run it inside
``bash scripts/with-services -- ...`` on a machine without a desktop session.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import _common

BENCH = "startup"
RATIO_BUDGET = 2.5
READY_TIMEOUT_S = 120.0
READY_FD_ENV = "CLINICIAN_CONSOLE_READY_FD"  # ui.readiness reads the same name

# The reference: the least a PySide6 program does before a user can click.
BARE_WINDOW = f"""
import os, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
w = QWidget(); w.resize(1280, 800); w.setWindowTitle("reference"); w.show()
def ready():
    fd = int(os.environ.pop("{READY_FD_ENV}"))
    os.write(fd, b"ready\\n"); os.close(fd)
QTimer.singleShot(0, ready)
app.exec()
"""


def _drop_caches() -> bool:
    """Empty the page cache so the next launch reads every library from disk."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        return None
    return None


def _launch(argv: list[str], env: dict[str, str]) -> tuple[float, float | None]:
    """Seconds from exec to the ready line, and resident memory then; the process is ended."""
    read_fd, write_fd = os.pipe()
    env = dict(env, **{READY_FD_ENV: str(write_fd)})
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        pass_fds=(write_fd,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as reader:
            line = reader.readline()  # blocks until ready, or EOF if the process died
        elapsed = time.perf_counter() - start
        if line.strip() != b"ready":
            proc.kill()
            _, err = proc.communicate(timeout=30)
            tail = err.decode(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(f"{argv[0]} exited before it was ready: {' | '.join(tail)}")
        # Let the first paint's allocations settle before reading memory.
        time.sleep(0.5)
        rss = _rss_mib(proc.pid)
        return elapsed, rss
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def _console_argv(profile: Path) -> list[str]:
    return [sys.executable, "-m", "app.cli", "--profile", str(profile), "--demo"]


def _measure(
    argv: list[str], env: dict[str, str], runs: int, *, cold: bool
) -> tuple[list[float], list[float]]:
    times: list[float] = []
    rss: list[float] = []
    for _ in range(runs):
        if cold:
            _drop_caches()
        seconds, mib = _launch(argv, env)
        times.append(seconds)
        if mib is not None:
            rss.append(mib)
    return times, rss


def measure(quick: bool) -> _common.BenchResult:
    runs = 3 if quick else 7
    env = dict(os.environ)
    # An installed console runs from compiled bytecode (pip and the bundle write it); let
    # the unmeasured first launch write ours rather than compile every module each time.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    platform = env.get("QT_QPA_PLATFORM", "xcb" if env.get("DISPLAY") else "wayland")
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        profile = work / "profile"
        bare = work / "bare_window.py"
        bare.write_text(BARE_WINDOW)
        reference_argv = [sys.executable, str(bare)]
        # First launch: creates the encrypted store, its key and the demo visits (not measured).
        _common.log("first launch: creating the demo profile")
        _launch(_console_argv(profile), env)
        _launch(reference_argv, env)

        cold_dropped = _drop_caches()
        _common.log(f"cold starts (page cache dropped: {cold_dropped}), {runs} each")
        cold_ours, _ = _measure(_console_argv(profile), env, runs, cold=True)
        cold_ref, _ = _measure(reference_argv, env, runs, cold=True)
        _common.log(f"warm starts, {runs} each")
        warm_ours, rss_ours = _measure(_console_argv(profile), env, runs, cold=False)
        warm_ref, rss_ref = _measure(reference_argv, env, runs, cold=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    warm_s = statistics.median(warm_ours)
    cold_s = statistics.median(cold_ours)
    ref_warm = statistics.median(warm_ref)
    ref_cold = statistics.median(cold_ref)
    result = _common.BenchResult()
    result.params = {
        **_common.machine_params(),
        "runs": runs,
        "quick": quick,
        "qt_platform": platform,
        "cold_cache_dropped": cold_dropped,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "ratio_budget": RATIO_BUDGET,
    }
    result.metrics = {
        "warm_s": round(warm_s, 3),
        "cold_s": round(cold_s, 3),
        "warm_runs_s": [round(t, 3) for t in warm_ours],
        "cold_runs_s": [round(t, 3) for t in cold_ours],
        "rss_idle_mib": statistics.median(rss_ours) if rss_ours else None,
    }
    result.reference = {
        "warm_s": round(ref_warm, 3),
        "cold_s": round(ref_cold, 3),
        "rss_idle_mib": statistics.median(rss_ref) if rss_ref else None,
    }
    result.ratio = {
        "warm": _common.ratio(warm_s, ref_warm),
        "cold": _common.ratio(cold_s, ref_cold),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(BENCH, __doc__.splitlines()[0] if __doc__ else BENCH)
    args = parser.parse_args(argv)
    return _common.run(BENCH, lambda: measure(args.quick))


if __name__ == "__main__":
    raise SystemExit(main())
