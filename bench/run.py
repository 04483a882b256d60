"""metaai-ls benchmarks, measured side by side in one run.

    python -m bench.run [--quick] [--json bench/results.json]

For the comparison with g4f's own provider, install it in the bench environment only:
`pip install g4f` (skipped, with a note, when it is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import (
    cap_bench,
    gateway_bench,
    history_bench,
    keystroke_bench,
    latency_bench,
    learn_bench,
    provider_bench,
    server_bench,
    soak_bench,
    startup_bench,
)


def table(rows: list[tuple[str, str, str]]) -> str:
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) for r in rows)


async def main(quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "quick": quick,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    results["startup"] = await startup_bench.run(runs=5 if quick else 15)
    results["gateway"] = await gateway_bench.run(quick)
    results["latency"] = await latency_bench.run(quick)
    results["provider"] = await provider_bench.run(quick)
    results["server"] = await server_bench.run(quick)
    results["soak"] = await soak_bench.run(quick)
    results["cap"] = await cap_bench.run(quick)
    results["history"] = await history_bench.run(quick)
    results["learn"] = await learn_bench.run(quick)
    results["keystroke"] = await keystroke_bench.run(quick)
    return results


def report(results: dict[str, Any]) -> str:
    rows = [("measure", "value", "target")]
    s = results["startup"]
    rows += [
        (
            "start-up: initialize, metaai-ls / bare pygls (median)",
            f"{s['ours_ms']:.0f} / {s['bare_ms']:.0f} ms = {s['time_ratio']:.2f}x",
            "<= 1.10x",
        ),
        (
            "start-up: RSS after initialized, metaai-ls / bare",
            f"{s['ours_rss_mb']:.1f} / {s['bare_rss_mb']:.1f} MB = {s['rss_ratio']:.2f}x",
            "<= 1.15x",
        ),
    ]
    rows += gateway_bench.rows(results["gateway"])
    rows += latency_bench.rows(results["latency"])
    for row in results["provider"]["lengths"]:
        label = f"abra {row['chars']} chars, {row['lines']} lines"
        if "g4f_cpu_ms" in row:
            rows.append(
                (
                    label + ": CPU ours / g4f",
                    f"{row['ours_cpu_ms']:.1f} / {row['g4f_cpu_ms']:.1f} ms = {row['cpu_ratio']:.2f}x",
                    "<= 0.7x",
                )
            )
        else:
            rows.append((label + ": CPU ours", f"{row['ours_cpu_ms']:.1f} ms", "(g4f missing)"))
        rows.append(
            (
                label + ": first delta after first byte",
                f"{row['ttfd_ms']:.2f} ms"
                + (f" (g4f {row['g4f_ttfd_ms']:.2f})" if "g4f_ttfd_ms" in row else ""),
                "<= 1 ms",
            )
        )
    for row in results["provider"]["parsing"]:
        rows.append(
            (
                f"line decoding only, {row['chars']} chars: json / orjson / AnswerStream",
                f"{row['json_ms']:.1f} / {row['orjson_ms']:.1f} / {row['stream_ms']:.1f} ms",
                "",
            )
        )
    if note := results["provider"].get("note"):
        rows.append(("provider note", note, ""))
    v = results["server"]
    rows += [
        (
            "server: first snippet line -> first $/progress (median)",
            f"{v['first_report_ms']:.2f} ms",
            "<= 5 ms",
        ),
        (
            "server: applyEdit per answer / bytes vs answer",
            f"{v['edits']} edits, new text {v['edit_text_ratio']:.2f}x, JSON {v['edit_json_ratio']:.2f}x",
            "<= 2x",
        ),
        (
            "server: most applyEdits in any 50 ms (gap min / median)",
            f"{v['max_edits_per_50ms']} ({v['edit_gap_min_ms']:.1f} / {v['edit_gap_median_ms']:.1f} ms)",
            "<= 1",
        ),
        (
            "server: 8 concurrent asks / 1 ask (wall)",
            f"{v['eight_ms']:.0f} / {v['one_ms']:.0f} ms = {v['concurrency_ratio']:.2f}x",
            "<= 1.3x",
        ),
        (
            "server: didChange round trip streaming / idle (median)",
            f"{v['rtt_streaming_ms']:.2f} / {v['rtt_idle_ms']:.2f} ms = {v['rtt_ratio']:.2f}x",
            "",
        ),
        (
            "server: progress cancel -> fake sees the connection closed (median)",
            f"{v['cancel_ms']:.1f} ms",
            "<= 100 ms",
        ),
    ]
    k = results["soak"]
    rows.append(
        (
            f"soak: RSS after warm-up -> after {k['asks']} asks + {k['keystrokes']} keystrokes",
            f"{k['rss_after_warmup_mb']:.1f} -> {k['rss_end_mb']:.1f} MB (+{k['growth_mb']:.2f})",
            "<= +4 MB",
        )
    )
    rows.append(
        (
            f"soak: {k['separators_edits']} random edits with line separators: copies equal",
            str(k["separators_copies_equal"]),
            "True",
        )
    )
    big, dropped, parsed = k["large_message_mb"], k["large_dropped"], k["large_parsed"]
    rows.append(
        (
            f"a {big} MB didOpen: peak / after, over the limit (dropped) vs parsed",
            f"{dropped['peak_mb']:.0f} / {dropped['after_mb']:.0f} vs "
            f"{parsed['peak_mb']:.0f} / {parsed['after_mb']:.0f} MB",
            "",
        )
    )
    rows += cap_bench.rows(results["cap"])
    rows += history_bench.rows(results["history"])
    rows += learn_bench.rows(results["learn"])
    rows += keystroke_bench.rows(results["keystroke"])
    return table(rows)


def median(values: list[float]) -> float:
    return statistics.median(values)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (CI)")
    parser.add_argument("--json", default="bench/results.json", help="where to write the figures")
    args = parser.parse_args()
    figures = asyncio.run(main(args.quick))
    print(report(figures))
    Path(args.json).write_text(json.dumps(figures, indent=2))
    print(f"\nfigures written to {args.json}")
