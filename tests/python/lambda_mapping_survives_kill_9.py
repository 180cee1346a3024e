"""The two phases of lambda_mapping_survives_kill_9.rs.

  setup ENDPOINT WORK_DIR   creates a 2-shard stream and the Python function (its
                            sink in WORK_DIR), puts 1,500 records, creates a
                            TRIM_HORIZON mapping and puts 1,500 more, 50 a request
                            (BatchSize 10: a long backlog); their sequence numbers are
                            appended to WORK_DIR/put-seqs as each put is acknowledged.
  after ENDPOINT WORK_DIR   (the server was killed and restarted on the same data
                            directory) checks the mapping is back, puts 1,000 more
                            and waits until every sequence number ever put is in the
                            sink.
"""
import os
import sys
import time

from lambda_common import (
    Checks, clients, make_function, make_stream, put, python_zip, sink_records,
    wait_delivered, wait_mapping_state,
)

PHASE, ENDPOINT, WORK = sys.argv[1:4]
lam, kin = clients(ENDPOINT)
C = Checks()
SINK = os.path.join(WORK, "sink")
SEQS = os.path.join(WORK, "put-seqs")


def put_logged(n, prefix, start=0):
    for i in range(start, n, 50):
        done = put(kin, "k9", [(f"{prefix}-k{j % 20}", f"{prefix}:{j}") for j in range(i, min(n, i + 50))])
        with open(SEQS, "a") as f:
            f.write("".join(r[2] + "\n" for r in done))


if PHASE == "setup":
    arn = make_stream(kin, "k9", 2)
    make_function(lam, "k9-fn", python_zip(), env={"FRESHET_SINK": SINK})
    # Half before the mapping exists (a backlog), half while it delivers.
    put_logged(1500, "before")
    m = lam.create_event_source_mapping(FunctionName="k9-fn", EventSourceArn=arn,
                                        StartingPosition="TRIM_HORIZON", BatchSize=10)
    wait_mapping_state(lam, m["UUID"], "Enabled")
    with open(os.path.join(WORK, "uuid"), "w") as f:
        f.write(m["UUID"])
    put_logged(3000, "before", start=1500)
    C.check(len(open(SEQS).read().split()) == 3000, "3,000 puts logged")
    print(f"setup: 3000 put, {len(sink_records(SINK))} sink lines so far; {C.passed} passed, 0 failed")
elif PHASE == "after":
    uuid = open(os.path.join(WORK, "uuid")).read().strip()
    g = wait_mapping_state(lam, uuid, "Enabled")
    C.check(g["BatchSize"] == 10 and g["StartingPosition"] == "TRIM_HORIZON", g)
    C.check(lam.get_function_configuration(FunctionName="k9-fn")["State"] == "Active", "function kept")
    put_logged(1000, "after")
    seqs = open(SEQS).read().split()
    C.check(len(seqs) == 4000, f"{len(seqs)} puts logged")
    t0 = time.time()
    wait_delivered(SINK, seqs, "every record put before and after the kill", timeout=90)
    lines = sink_records(SINK)
    C.check(True, "delivered")
    dups = len(lines) - len({l["seq"] for l in lines})
    print(f"after: {len(seqs)} delivered in {time.time() - t0:.1f}s; {len(lines)} sink lines, "
          f"{dups} delivered more than once; {C.passed} passed, 0 failed")
else:
    sys.exit(f"unknown phase {PHASE}")
