#!/usr/bin/env python3
"""Second by second: where `freshet bench --workload put` spends a long run.

Starts a release `freshet serve --durability sync-data` on a fresh data directory (on
the file system of --dir), drives it with `freshet bench --workload put` for --seconds,
and prints one row per second: records/s, the server's CPU (user, system), the disk's
writes (MB/s, fdatasync-bound requests/s, ms of queue time per request, from
/proc/diskstats), the kernel's dirty and writeback memory (/proc/meminfo), and the
server's resident memory. With --fio, first runs fio's 52 KiB fdatasync writes (one
PutRecords batch of 500 x 100 B records is ~52 KiB on disk) for as long, and prints
its per-second bandwidth beside, so a drop of the disk shows as a drop of the disk.

    scripts/bench-put-timeline.py --seconds 45 [--fio] [--freshet PATH] [--dir DIR]

Figures and the machine they were taken on: BENCHMARKS.md.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def device_of(path):
    """The /proc/diskstats name of the block device holding `path` (whole disk)."""
    dev = os.stat(path).st_dev
    major, minor = os.major(dev), os.minor(dev)
    name = os.path.basename(os.path.realpath(f"/sys/dev/block/{major}:{minor}"))
    parent = os.path.realpath(f"/sys/dev/block/{major}:{minor}/..")
    if os.path.exists(os.path.join(parent, "stat")) and os.path.basename(parent) != "block":
        return os.path.basename(parent)
    return name


def diskstats(dev):
    for line in open("/proc/diskstats"):
        f = line.split()
        if f[2] == dev:
            # writes completed, sectors written, ms writing, flushes (kernel >= 5.5)
            flushes = int(f[14]) if len(f) > 14 else 0
            return int(f[7]), int(f[9]), int(f[10]), flushes
    return 0, 0, 0, 0


def meminfo():
    out = {}
    for line in open("/proc/meminfo"):
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0])
    return out.get("Dirty", 0), out.get("Writeback", 0)


def proc_cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(f[11]) / tick, int(f[12]) / tick


def proc_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sample_loop(pid, dev, seconds, rows, stop):
    last = (time.time(), diskstats(dev), proc_cpu(pid) if pid else (0, 0))
    for _ in range(seconds + 5):
        if stop.is_set():
            break
        time.sleep(1)
        now, ds, cpu = time.time(), diskstats(dev), proc_cpu(pid) if pid else (0, 0)
        dt = now - last[0]
        writes = (ds[0] - last[1][0]) / dt
        mb = (ds[1] - last[1][1]) * 512 / dt / 1e6
        ms_per = (ds[2] - last[1][2]) / max(ds[0] - last[1][0], 1)
        flushes = (ds[3] - last[1][3]) / dt
        dirty, wb = meminfo()
        rows.append({
            "user": (cpu[0] - last[2][0]) / dt,
            "sys": (cpu[1] - last[2][1]) / dt,
            "writes": writes, "mb": mb, "ms_per": ms_per, "flushes": flushes,
            "dirty_mb": dirty / 1024, "wb_mb": wb / 1024,
            "rss": proc_rss_mb(pid) if pid else 0.0,
        })
        last = (now, ds, cpu)


def run_fio(directory, seconds):
    path = os.path.join(directory, "fio.tmp")
    logbase = os.path.join(directory, "fio")
    subprocess.run(
        ["fio", "--name=batch52k_fdatasync", f"--filename={path}", "--rw=write", "--bs=52k",
         "--size=8G", "--ioengine=psync", "--fdatasync=1", "--time_based",
         f"--runtime={seconds}", f"--write_bw_log={logbase}", "--log_avg_msec=1000",
         "--output-format=terse"],
        check=True, stdout=subprocess.DEVNULL)
    per_second = []
    for line in open(logbase + "_bw.1.log"):
        per_second.append(int(line.split(",")[1]) * 1024 / 1e6)  # KiB/s -> MB/s
    os.remove(path)
    for f in os.listdir(directory):
        if f.startswith("fio_"):
            os.remove(os.path.join(directory, f))
    return per_second


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=45)
    p.add_argument("--fio", action="store_true")
    p.add_argument("--dir", default=os.path.expanduser("~"))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/freshet-target"))
    p.add_argument("--freshet", default=os.path.join(target, "release", "freshet"))
    p.add_argument("--bench-args", default="", help="extra `freshet bench` arguments")
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="freshet-timeline-", dir=a.dir)
    dev = device_of(work)
    fio_mb = []
    try:
        if a.fio:
            fio_mb = run_fio(work, a.seconds)
        port = free_port()
        server = subprocess.Popen(
            [a.freshet, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", os.path.join(work, "data"),
             "--durability", "sync-data"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in server.stdout:
            if "listening on" in line:
                break
        rows, stop = [], threading.Event()
        sampler = threading.Thread(target=sample_loop, args=(server.pid, dev, a.seconds, rows, stop))
        bench = subprocess.Popen(
            [a.freshet, "bench", "--endpoint", f"http://127.0.0.1:{port}", "--workload", "put",
             "--duration", str(a.seconds)] + a.bench_args.split(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler.start()
        out, err = bench.communicate()
        stop.set()
        sampler.join()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        rates = [int(m.group(1)) for m in re.finditer(r"records\s+(\d+) records/s", err)]
        print(f"device {dev}; {a.freshet}")
        print(f"{'s':>3} {'records/s':>10} {'srv usr':>7} {'srv sys':>7} {'disk MB/s':>9} {'writes/s':>8} "
              f"{'flush/s':>7} {'ms/write':>8} {'dirty MB':>8} {'wb MB':>6} {'rss MB':>7}" + (f" {'fio MB/s':>8}" if fio_mb else ""))
        for i, r in enumerate(rows[: len(rates)]):
            fio = f" {fio_mb[i]:>8.1f}" if i < len(fio_mb) else ""
            print(f"{i + 1:>3} {rates[i]:>10} {r['user']:>7.2f} {r['sys']:>7.2f} {r['mb']:>9.1f} {r['writes']:>8.0f} "
                  f"{r['flushes']:>7.0f} {r['ms_per']:>8.2f} {r['dirty_mb']:>8.1f} {r['wb_mb']:>6.1f} {r['rss']:>7.0f}" + fio)
        print(out.strip())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
