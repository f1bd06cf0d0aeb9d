"""Reading Hemingway's JSON Lines logs in the benchmark scripts (standard library only)."""
import json
import os


def records(path):
    """Every record of a log that parses (a torn last line is skipped); [] when it is missing."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out
