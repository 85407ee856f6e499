"""`conda envguard disk`: where the disk went, and what removing each thing would free."""

from __future__ import annotations

from argparse import Namespace

BAR = 20  # characters of the longest bar


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

    p = verbs.add_parser(
        "disk",
        help="Show what each environment, the trash and the package cache would free.",
        description="Measure every environment, envguard's trash, kept packages and store, "
        "and the package cache: what removing each would free now (files also linked from "
        "the package cache or another env free nothing, so they are not counted), its size "
        "(every file once) and its file count, biggest first.",
        epilog="Examples:\n  conda envguard disk\n  conda envguard disk --json",
    )
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..diskusage import survey
    from ..trash import human_size
    from .common import emit, local_time, table

    rows, scanner = survey(None if context.json or context.quiet else _progress)
    if not (context.json or context.quiet):
        _progress("", -1)
    freed = sum(r.frees or 0 for r in rows)
    totals = {
        "frees_bytes": freed,
        "size_bytes": scanner.size,
        "on_disk_bytes": scanner.on_disk,
        "files": sum(r.usage.files for r in rows),
    }
    widest = max((r.frees or 0 for r in rows), default=0) or 1
    order = {"env": 0, "trash": 1, "kept": 2, "store": 2, "cache": 3}
    rows.sort(key=lambda r: (order[r.kind], -(r.frees or 0)))

    def flags(r) -> str:
        if r.kind == "trash":
            return f"expires {r.details['expires_at'][:10]}"
        if r.kind == "cache":
            return f"conda clean counts {human_size(r.details['conda_clean_reports_bytes'])}"
        if r.kind != "env":
            return ""
        marks = [r.details["protected"] and "protected", r.details["frozen"] and "frozen"]
        marks.append(r.details["temporary"] and "temporary")
        return ",".join(m for m in marks if m) or "-"

    label = {"env": "", "trash": "trash: ", "kept": "", "store": "", "cache": ""}
    lines = [
        [
            label[r.kind] + r.name,
            "-" if r.frees is None else human_size(r.frees),
            human_size(r.usage.on_disk),
            human_size(r.usage.size),
            r.usage.files,
            local_time(r.details["last_change"]) if r.details.get("last_change") else "",
            flags(r),
            "#" * round(BAR * (r.frees or 0) / widest),
            r.path,
        ]
        for r in rows
    ]
    lines.append(
        [
            "total",
            human_size(freed),
            human_size(scanner.on_disk),
            human_size(scanner.size),
            totals["files"],
            "",
            "",
            "",
            "",
        ]
    )
    headers = ["WHAT", "FREES", "ON DISK", "SIZE", "FILES", "LAST CHANGE", "NOTES", "", "PATH"]
    text = table(lines, headers)
    text += (
        "\n\nFREES: what removing it would free now: an env (conda remove), a trash entry "
        "(conda envguard purge ID),\n  kept packages no snapshot needs (prune, purge), the "
        "package cache (conda clean --all). Files\n  also linked from the package cache or "
        "another env free nothing and are not counted.\n"
        "ON DISK: blocks, each file once (du -B1); SIZE: the files' own sizes (du -sb). In "
        "the totals,\n  a file shared by several rows counts once."
    )
    if any(r.usage.unreadable for r in rows):
        text += "\nSome directories could not be read: their files are not counted."
    emit({"rows": [r.to_json() for r in rows], "totals": totals}, text)
    return 0


def _progress(label: str, files: int) -> None:
    """One line on stderr, rewritten as the scan goes (a line each on a pipe)."""
    import sys

    tty = sys.stderr.isatty()
    if files < 0:  # done
        if tty:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
        return
    text = f"envguard: scanning {label}" + (f" ({files} files)" if files else "")
    print(f"\r\033[K{text}" if tty else text, end="" if tty else "\n", file=sys.stderr, flush=True)
