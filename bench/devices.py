"""Device capture benchmarks (run on demand, not in tests).

    .venv/bin/python bench/devices.py [--seconds 20] [--chairs 12]

1. Decoder throughput per protocol on a simulated 60-minute session, against a plain
   `bytes.split` over the same bytes measured in the same run (the ratio is what to watch).
2. CPU of the capture workers: `--chairs` pseudo-terminals, each fed at 1 Hz (Masimo lines and
   Nonin DF8 frames alternately) by simulators in a separate process, read by one CaptureWorker
   each in this process; process CPU time over wall time. Target: 12 chairs under 5 % of a core.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from nursestation.devices import decoder_for
from nursestation.devices.capture import CaptureWorker
from nursestation.devices.reading import Reading
from nursestation.devices.simulator import PtyPort, SessionPlayer

SPLIT_ON = {
    "masimo-ascii": b"\n",
    "nonin-df8": b"\x80",
    "nonin-df7": b"\x83",
    "nonin-df2": b"\x01",
    "hl7-mllp": b"\x1c\x0d",
}


def throughput() -> None:
    """Decode a 60-minute session per protocol; print readings/s, MB/s and the ratio to split."""
    host = datetime.now(UTC)
    print("decoder throughput (60-minute simulated session, 4 KiB feeds)")
    print(
        f"{'protocol':<14}{'bytes':>11}{'readings':>10}{'readings/s':>13}{'MB/s':>9}"
        f"{'split MB/s':>12}{'x slower than split':>21}"
    )
    for protocol, sep in SPLIT_ON.items():
        data = SessionPlayer(protocol, duration_s=3600).render()
        chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
        best_dec = best_split = float("inf")
        count = 0
        for _ in range(3):
            decoder = decoder_for(protocol)
            t0 = time.perf_counter()
            count = 0
            for chunk in chunks:
                count += len(decoder.feed(chunk, host))
            best_dec = min(best_dec, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for chunk in chunks:
                chunk.split(sep)
            best_split = min(best_split, time.perf_counter() - t0)
        mb = len(data) / 1e6
        print(
            f"{protocol:<14}{len(data):>11}{count:>10}{count / best_dec:>13,.0f}"
            f"{mb / best_dec:>9.2f}{mb / best_split:>12.0f}{best_dec / best_split:>21.0f}"
        )


def chairs_cpu(chairs: int, seconds: float) -> float:
    """Run `chairs` workers on ptys fed at 1 Hz for `seconds`; returns CPU % of one core."""
    tmp = Path(tempfile.mkdtemp(prefix="ns-bench-"))
    ports = [PtyPort(tmp / f"chair{n}") for n in range(chairs)]
    protocols = ["masimo-ascii" if n % 2 == 0 else "nonin-df8" for n in range(chairs)]
    pid = os.fork()
    if pid == 0:  # the simulated monitors live in a child process so their CPU is not counted
        try:
            threads = [
                threading.Thread(
                    target=SessionPlayer(p, duration_s=seconds + 5, speed=1.0).play, args=(port,)
                )
                for p, port in zip(protocols, ports, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            os._exit(0)
    received: list[int] = [0]
    lock = threading.Lock()

    def on_readings(readings: list[Reading]) -> None:
        with lock:
            received[0] += len(readings)

    workers = [
        CaptureWorker(str(port.link), p, on_readings, lambda s, d: None)
        for p, port in zip(protocols, ports, strict=True)
    ]
    for w in workers:
        w.start()
    time.sleep(1.0)  # let every worker open its port
    cpu0, wall0, got0 = time.process_time(), time.monotonic(), received[0]
    time.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    got = received[0] - got0
    for w in workers:
        w.stop()
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    for port in ports:
        port.pull()
    percent = 100 * cpu / wall
    print(
        f"{chairs:>3} chairs: {got / wall:6.1f} readings/s, CPU {percent:5.2f} % of one core "
        f"({percent / chairs:.3f} % per chair)"
    )
    return percent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--chairs", type=int, default=12)
    args = parser.parse_args()
    throughput()
    print()
    print("capture worker CPU (ptys, 1 Hz per chair, process CPU time / wall time)")
    one = chairs_cpu(1, args.seconds)
    many = chairs_cpu(args.chairs, args.seconds)
    print(f"ratio {args.chairs} chairs / 1 chair: {many / one if one else float('inf'):.1f}x")
    verdict = "meets" if many < 5.0 else "MISSES"
    print(f"target: {args.chairs} chairs under 5 % of one core: {verdict} ({many:.2f} %)")


if __name__ == "__main__":
    main()
