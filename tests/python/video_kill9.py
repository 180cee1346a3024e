"""Kinesis Video across kill -9: `put` streams real H.264 with PutMedia (SigV4-signed,
paced like a camera) and records every PERSISTED fragment number as it arrives, until
the server dies; `verify` checks, after a restart, that every recorded fragment is
listed and plays back whole (30 frames each), and that nothing listed is partial.

Usage: video_kill9.py put|verify ENDPOINT ACKED_FILE
"""

import os
import sys
import threading
import time

import cases
from cases import check, scenario
from video_common import PutMedia, h264_mkv, packets, split_chunks, tags

mode, endpoint, acked_path = sys.argv[1], sys.argv[2], sys.argv[3]
KEY = ("AKIDVIDEO", "video-secret")


def client(service):
    import boto3
    import botocore.config

    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1],
        config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60),
    )


if mode == "put":
    kv = client("kinesisvideo")
    try:
        kv.create_stream(StreamName="k9", DataRetentionInHours=24)
    except kv.exceptions.ResourceInUseException:
        pass
    data = h264_mkv(30, size="320x180")
    pm = PutMedia(endpoint, stream_name="k9", key=KEY)

    def sender():
        try:
            step = len(data) // 300
            for i in range(0, len(data), step):
                pm.send(data[i:i + step])
                time.sleep(0.01)
            pm.end()
        except OSError:
            pass

    threading.Thread(target=sender, daemon=True).start()
    try:
        if pm.status() != 200:
            print(pm.body_text())
            sys.exit(1)
        with open(acked_path, "a") as out:
            while True:
                line = pm.reader.readline()
                if not line:
                    break
                if b"PERSISTED" in line:
                    import json

                    out.write(json.loads(line)["FragmentNumber"] + "\n")
                    out.flush()
                    os.fsync(out.fileno())
    except OSError:
        pass
    print("put ended")
    sys.exit(0)


@scenario
def every_persisted_fragment_survives_whole():
    acked = [l.strip() for l in open(acked_path) if l.strip()]
    check(len(acked) >= 2, f"{len(acked)} fragments were acknowledged")
    am = client("kinesis-video-archived-media")
    listed, token = [], None
    for _ in range(100):
        r = am.list_fragments(StreamName="k9", **({"NextToken": token} if token else {}))
        listed += [f["FragmentNumber"] for f in r["Fragments"]]
        token = r.get("NextToken")
        if not token:
            break
    missing = set(acked) - set(listed)
    check(not missing, f"{len(missing)} acknowledged fragments are gone: {sorted(missing)[:3]}")
    body = am.get_media_for_fragment_list(StreamName="k9", Fragments=acked)["Payload"].read()
    chunks = split_chunks(body)
    check(len(chunks) == len(acked), f"{len(chunks)} chunks for {len(acked)} fragments")
    for c in chunks:
        check(len(packets(c)) == 30, f"{tags(c)['AWS_KINESISVIDEO_FRAGMENT_NUMBER']} is whole")
    m = client("kinesis-video-media")
    body = m.get_media(StreamName="k9", StartSelector={"StartSelectorType": "EARLIEST"})[
        "Payload"].read()
    chunks = split_chunks(body)
    check(len(chunks) == len(listed), f"GetMedia: {len(chunks)} of {len(listed)}")
    check(all(len(packets(c)) == 30 for c in chunks), "nothing listed is partial")


@scenario
def a_wrong_secret_is_refused():
    pm = PutMedia(endpoint, stream_name="k9", key=(KEY[0], "wrong"))
    pm.end()
    code = pm.status()
    body = pm.body_text()
    check(code == 403 and ("SignatureDoesNotMatch" in body or "InvalidSignature" in body),
          f"{code} {body}")


cases.finish()
