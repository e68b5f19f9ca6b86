#!/usr/bin/env python3
# A relay policy (docs/POLICY.md): no one joins #staff, and no message says "buy now".
# Run it: npx agentchat serve --policy "python3 examples/policy.py"
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    frame, reject = req["frame"], None
    if req["point"] == "join" and frame["channel"] == "#staff": reject = ("NOT_STAFF", "#staff is for staff only")
    if req["point"] == "message" and "buy now" in frame["content"].lower(): reject = ("SPAM", "no advertising here")
    answer = {"id": req["id"], "action": "reject", "code": reject[0], "message": reject[1]} if reject else {"id": req["id"], "action": "accept"}
    print(json.dumps(answer), flush=True)
