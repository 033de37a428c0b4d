"""A closed-loop HTTP/1.1 load generator for the web benchmarks, run in its own process so it shares no
interpreter with the server or the benchmark, and cheap per request (raw asyncio streams on uvloop, no
HTTP library), so that it is not the ceiling it measures.

C clients each keep one keep-alive connection and send GET requests for random URLs one after another for
D seconds; when the time is up every client finishes the request it has in flight, and that request is
counted like any other (wrk drops them, and with them the slowest requests of the run). A request that
takes longer than the timeout, a connection error, or an answer other than 200 is an error; a timed-out
request enters the percentiles at the timeout.

    python benchmarks/loadgen.py < job.json      # {"host", "port", "urls", "cookie", "clients", "seconds",
                                                 #  "timeout", "seed"}; prints one JSON line of results
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time


class BadResponse(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length or chunked body); its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif status not in (204, 304):
        raise BadResponse("a response without a length on a keep-alive connection")
    return status


async def run(job: dict) -> dict:
    host, port, urls = job["host"], int(job["port"]), job["urls"]
    timeout, seconds = float(job["timeout"]), float(job["seconds"])
    cookie = f"Cookie: {job['cookie']}\r\n" if job.get("cookie") else ""
    rng = random.Random(job.get("seed", 1))
    requests = [f"GET {url} HTTP/1.1\r\nHost: {host}:{port}\r\n{cookie}Connection: keep-alive\r\n\r\n".encode()
                for url in urls]
    latencies: list[float] = []
    counts = {"non200": 0, "timeouts": 0, "socket": 0}
    statuses: dict[str, int] = {}
    began = time.perf_counter()
    stop = began + seconds

    async def client() -> None:
        connection = None
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                if connection is None:
                    connection = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                reader, writer = connection
                writer.write(requests[rng.randrange(len(requests))])
                status = await asyncio.wait_for(_read_response(reader), timeout - (time.perf_counter() - start))
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    counts["non200"] += 1
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
            except TimeoutError:
                counts["timeouts"] += 1
                latencies.append(timeout)
                connection = _drop(connection)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, BadResponse, ValueError,
                    IndexError):
                counts["socket"] += 1
                connection = _drop(connection)
        _drop(connection)

    await asyncio.gather(*(client() for _ in range(int(job["clients"]))))
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(int(q * len(latencies)), len(latencies) - 1)] * 1000 if latencies else float("nan")

    return {"n": len(latencies) + counts["socket"], **counts, "statuses": statuses, "p50": pct(0.50),
            "p95": pct(0.95), "p99": pct(0.99), "max": latencies[-1] * 1000 if latencies else float("nan"),
            "rps": len(latencies) / elapsed, "elapsed": elapsed}


def _drop(connection) -> None:
    if connection is not None:
        connection[1].close()
    return None


def main() -> None:
    job = json.loads(sys.stdin.read())
    try:
        from uvloop import run as run_loop
    except ImportError:  # plain asyncio: slower per request, still correct
        run_loop = asyncio.run
    print(json.dumps(run_loop(run(job))))


if __name__ == "__main__":
    main()
