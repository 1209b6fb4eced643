"""What the benchmark scripts share: capped jobs, medians, tables, outputs.

A job is a picklable function (defined at module level) run in a fresh
process started with multiprocessing's ``spawn`` context, so that every job
pays its own imports, starts with an empty heap and has its own peak memory.
The parent waits, polling the child, and kills it when it runs past a time
cap or its resident memory passes a memory cap.

Why the memory cap polls the child's peak RSS instead of setting
``resource.setrlimit(RLIMIT_AS)`` in the child: the address-space limit
counts reserved but untouched virtual memory, which is 2-3 times the resident
memory here (a digits fit with torch: 1.1 GB of address space for 0.44 GB
resident; with UMAP 1.6 GB for 0.7 GB), so a 1 GiB address-space cap fails a
job resident at 0.44 GiB (numba cannot load LLVM). ``VmHWM`` in
``/proc/<pid>/status`` is the child's peak resident set: a spike between two
polls is still seen at the next poll. Linux only; elsewhere the memory cap is
not enforced (the time cap still is).

This module imports only the standard library: the child process imports it
before it runs the job, and numpy or torch imported here would fix their
thread pools before the job's thread settings take effect.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
import traceback
from pathlib import Path

GIB = 2**30
# The environment variables that size the thread pools of OpenMP (torch,
# scikit-learn), the BLAS libraries and numba (UMAP).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def _peak_rss_bytes(pid: int) -> int:
    """Peak resident set of a live process (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def own_peak_rss_bytes() -> int:
    """Peak resident set of this process so far (``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


@contextlib.contextmanager
def thread_environment(threads: int):
    """Set the thread-pool variables for processes started inside the block.

    A spawned child inherits the parent's environment when it starts; setting
    the variables here, rather than in the child, also covers what the child
    imports before it reaches the job (the parent's ``__main__`` module).
    """
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _child(conn, func, args, kwargs) -> None:
    try:
        result = func(*args, **kwargs)
        message = {"status": "ok", "result": result}
    except BaseException as exc:  # reported to the parent, whatever it is
        message = {
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    message["peak_rss_bytes"] = own_peak_rss_bytes()
    conn.send(message)
    conn.close()


def run_capped(
    func,
    *args,
    time_cap: float = 600.0,
    memory_cap_gib: float | None = None,
    threads: int | None = None,
    poll_s: float = 0.05,
    **kwargs,
) -> dict:
    """Run ``func(*args, **kwargs)`` in a fresh process under a time and memory cap.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled by reference). ``args`` and
        the keyword arguments other than those below go to it.
    time_cap : float, default=600.0
        Seconds of wall time for the whole job, process start and imports
        included.
    memory_cap_gib : float, default=None
        Peak resident memory of the child in GiB; ``None`` for no cap.
    threads : int, default=None
        Size of the child's thread pools; ``None`` for one per core.

    Returns
    -------
    record : dict
        ``status`` is ``"ok"`` (with ``result``), ``"timeout"``,
        ``"memory cap"``, ``"error"`` (with ``error``, the exception, and
        ``traceback``) or ``"crashed"`` (the child died without a word, with
        ``exitcode``). Always ``wall_s``, ``peak_rss_gib``, ``time_cap`` and
        ``memory_cap_gib``; :func:`status_label` turns it into table text.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(sender, func, args, kwargs))
    record = {"time_cap": time_cap, "memory_cap_gib": memory_cap_gib}
    memory_cap = math.inf if memory_cap_gib is None else memory_cap_gib * GIB
    peak = 0
    start = time.perf_counter()
    with thread_environment(threads or os.cpu_count() or 1):
        process.start()
    # The child holds the only sending end now: a child that dies without
    # sending makes the receiver see end-of-file instead of waiting forever.
    sender.close()
    try:
        while True:
            if receiver.poll(poll_s):
                try:
                    record.update(receiver.recv())
                except EOFError:
                    process.join()
                    record.update(status="crashed", exitcode=process.exitcode)
                break
            peak = max(peak, _peak_rss_bytes(process.pid))
            if peak > memory_cap:
                record["status"] = "memory cap"
                break
            if time.perf_counter() - start > time_cap:
                record["status"] = "timeout"
                break
    finally:
        # A job that answered exits by itself; give it a moment to, then kill
        # it as any other (a timeout, the memory cap, an interrupted parent).
        if record.get("status") in ("ok", "error"):
            process.join(timeout=10)
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()
    record["wall_s"] = time.perf_counter() - start
    peak = max(peak, record.pop("peak_rss_bytes", 0))
    record["peak_rss_gib"] = peak / GIB
    return record


def hold_memory(gib: float, hold_s: float) -> int:
    """A job that touches ``gib`` GiB and holds it for ``hold_s`` seconds.

    Checks the memory cap (the tests use it); returns the bytes it held.
    """
    block = bytearray(int(gib * GIB))
    # bytearray's zeroed pages are not resident until written: touch them all.
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    time.sleep(hold_s)
    return len(block)


def add_job_arguments(parser, out: Path) -> None:
    """The options of a benchmark whose jobs run under :func:`run_capped`:
    ``--seeds``, ``--time-cap``, ``--memory-cap``, ``--threads`` and ``--out``
    (default ``out``)."""
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--time-cap", type=float, default=600.0, help="seconds per job (default 600)"
    )
    parser.add_argument(
        "--memory-cap", type=float, default=8.0, help="GiB per job (default 8)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per job (default: cores)"
    )
    parser.add_argument("--out", type=Path, default=out)


def add_params_argument(parser) -> None:
    """``--params``: ContrastiveEmbedder settings as a JSON object, e.g.
    ``'{"max_epochs": 5, "projection_head": [128]}'`` (default: none)."""
    parser.add_argument(
        "--params",
        type=json.loads,
        default=None,
        help="ContrastiveEmbedder settings as JSON (default: its defaults)",
    )


def job_caps(args) -> dict:
    """The :func:`run_capped` caps from :func:`add_job_arguments`' options."""
    return {
        "time_cap": args.time_cap,
        "memory_cap_gib": args.memory_cap,
        "threads": args.threads,
    }


def _format_number(value: float) -> str:
    return f"{value:g}"


def status_label(record: dict) -> str:
    """Table text for a job: ``"ok"``, ``"timeout (> 300 s)"``, ``"memory cap
    (> 8 GiB)"``, ``"error (ValueError: ...)"``, ``"crashed (exit code -9)"``,
    or the ``status`` itself (e.g. ``"not installed"``)."""
    status = record["status"]
    if status == "timeout":
        return f"timeout (> {_format_number(record['time_cap'])} s)"
    if status == "memory cap":
        return f"memory cap (> {_format_number(record['memory_cap_gib'])} GiB)"
    if status == "error":
        return f"error ({record['error'].splitlines()[0][:80]})"
    if status == "crashed":
        return f"crashed (exit code {record['exitcode']})"
    return status


def summarise(values: list[float]) -> dict:
    """Median, minimum and maximum of a non-empty list."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub / MyST markdown table; every row must have ``len(header)`` cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row {row} has {len(row)} cells, expected {len(header)}")
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def machine_description() -> str:
    """One line: OS, CPU, cores, Python and library versions (without imports)."""
    versions = []
    for package in ("torch", "scikit-learn", "skorch", "umap-learn"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.system()} {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, " + ", ".join(versions)
    )


def raw_results(argv, machine: str, args, records: list[dict]) -> dict:
    """What a benchmark's JSON output holds: how it was run, and every record."""
    return {
        "argv": sys.argv if argv is None else argv,
        "machine": machine,
        "args": vars(args),
        "records": records,
    }


def write_outputs(out: Path, name: str, markdown: str, raw: dict) -> None:
    """Write ``<name>.md`` (the table) and ``<name>.json`` (raw results)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(markdown)
    (out / f"{name}.json").write_text(json.dumps(raw, indent=1, default=str) + "\n")


def print_search_table(times: dict, threads: dict, names, base: str) -> None:
    """Print a search benchmark's table: per setting, the torch threads of
    its fits, its median time, and that median over ``base``'s."""
    print("| setting | torch threads per fit | search time (s) | vs n_jobs=1 |")
    print("|---|---|---|---|")
    base_median = statistics.median(times[base])
    for name in names:
        median = statistics.median(times[name])
        print(
            f"| {name} | {threads[name]} | {median:.1f} | {median / base_median:.2f}x |"
        )
