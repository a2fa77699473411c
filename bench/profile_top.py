"""Top frames of ``py-spy record --format raw`` profiles (``gateway_load.py --profile DIR``).

For each file: the samples, then the functions most often on the stack (inclusive share) and most
often on top of it (self share), project frames (``gongwen_*``) marked. Usage:
``python bench/profile_top.py DIR [--top 12] [--match send-seal]``.
"""
import argparse
import re
import sys
from collections import Counter
from pathlib import Path

LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """``func (path/file.py:123)`` without the line: a function, wherever in it the sample fell."""
    matched = FRAME.match(frame)
    return f"{matched['func']} ({matched['file']})" if matched else frame


def stacks(path: Path):
    """``(samples, frames)`` of each stack in a raw profile, its frames as ``frame_name`` gives them."""
    for line in path.read_text().splitlines():
        if matched := LINE.match(line):
            yield int(matched["count"]), [frame_name(f) for f in matched["stack"].split(";")]


def top(path: Path, count: int) -> str:
    inclusive, own, total = Counter(), Counter(), 0
    for samples, frames in stacks(path):
        total += samples
        own[frames[-1]] += samples
        for name in set(frames):
            inclusive[name] += samples
    lines = [f"{path.stem}: {total} samples"]
    for title, counter in (("on the stack", inclusive), ("on top", own)):
        lines.append(f"  {title}:")
        lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in counter.most_common(count)] if total else []
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--match", default="", help="only files whose name contains this")
    args = parser.parse_args()
    for path in sorted(Path(args.directory).glob("*.txt")):
        if args.match in path.name:
            print(top(path, args.top))


if __name__ == "__main__":
    sys.exit(main())
