"""A driver in the style of the platform's docs, run unchanged by both clients (ours and the
published 2.4.0): it sends the tasks of the JSON file argv[1] one after another, on one
connection, and prints one JSON line: per task {"value": ...} or {"error": name, "message"}."""
import asyncio
import json
import sys

from motivus.client import Client


async def main():
    with open(sys.argv[1]) as f:
        tasks = json.load(f)
    motivus = await Client.connect()
    out = []
    for task in tasks:
        task_id = motivus.call_async(task)
        try:
            out.append({"value": await motivus.select_task(task_id)})
        except Exception as exc:  # our client raises TaskFailedError for a failed task
            out.append({"error": type(exc).__name__, "message": str(exc)})
    print(json.dumps(out))


asyncio.run(main())
