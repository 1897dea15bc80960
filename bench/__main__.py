"""Run every bench_*.py module (or those named on the command line): `python -m bench [uploads ...]`."""

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    wanted = {name.removeprefix("bench_") for name in argv}
    names = sorted(
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name.startswith("bench_") and (not wanted or info.name.removeprefix("bench_") in wanted)
    )
    if not names:
        print(f"no benchmarks match {sorted(wanted)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"== {name} ==", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        try:
            module.main()
        except Exception as error:  # noqa: BLE001 - report and run the other benchmarks
            print(f"!! {name} failed: {error.__class__.__name__}: {error}", flush=True)
            failed.append(name)
        print(f"== {name} done in {time.perf_counter() - started:.1f} s ==\n", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
