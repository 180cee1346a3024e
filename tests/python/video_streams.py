"""boto3's kinesisvideo, kinesis-video-media and kinesis-video-archived-media clients
and the AWS CLI, unchanged, against a real `freshet serve`: the control plane and its
AWS errors; real H.264 from ffmpeg sent with PutMedia (SigV4-signed chunked upload)
and played back frame for frame (ffprobe) through GetMedia (every start selector),
ListFragments, GetMediaForFragmentList, HLS (ffmpeg) and GetClip; other codecs
served over GetMedia and refused for HLS and clips; bad Matroska (4006), timecodes going back
(4004), a producer stopping mid-fragment, no retention.

Usage: video_streams.py main|restarted ENDPOINT AWS_CLI
"""

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import cases
from cases import check, expect_error, scenario
from video_common import (
    PutMedia, h264_mkv, packets, packets_of, put_media, relative, split_chunks, tags,
)

mode, endpoint, aws = sys.argv[1], sys.argv[2], sys.argv[3]
kv = cases.client(endpoint, "kinesisvideo")
SRC = h264_mkv(10)
SRC_PKTS = relative(packets(SRC))
CAM = "cam-1"


def data_client(stream, api, service):
    ep = kv.get_data_endpoint(StreamName=stream, APIName=api)["DataEndpoint"]
    return cases.client(ep, service)


def media(stream):
    return data_client(stream, "GET_MEDIA", "kinesis-video-media")


def archive(stream):
    return data_client(stream, "LIST_FRAGMENTS", "kinesis-video-archived-media")


def all_fragments(stream, **kw):
    am = archive(stream)
    out, token = [], None
    for _ in range(1000):
        args = dict(StreamName=stream, **kw)
        if token:
            args["NextToken"] = token
        r = am.list_fragments(**args)
        out += r["Fragments"]
        token = r.get("NextToken")
        if not token:
            return out
    raise AssertionError("ListFragments never ended")


def get_media(stream, selector):
    r = media(stream).get_media(StreamName=stream, StartSelector=selector)
    check(r["ContentType"] == "video/webm", f"GetMedia's content type {r['ContentType']}")
    return r["Payload"].read()


def awscli(*args):
    out = subprocess.run(
        [aws, "--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json", *args],
        capture_output=True, text=True, timeout=60,
        env={"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
             "PATH": "/usr/bin:/bin"},
    )
    check(out.returncode == 0, f"aws {args}: {out.stderr}")
    return json.loads(out.stdout or "{}")


if mode == "main":

    @scenario
    def control_plane_and_its_errors():
        arn = kv.create_stream(
            StreamName="ctl", DeviceName="dev-1", MediaType="video/h264",
            DataRetentionInHours=2, Tags={"team": "video"},
        )["StreamARN"]
        check(arn.startswith("arn:aws:kinesisvideo:us-east-1:000000000000:stream/ctl/"), arn)
        info = kv.describe_stream(StreamName="ctl")["StreamInfo"]
        check(info["Status"] == "ACTIVE" and info["DataRetentionInHours"] == 2, f"{info}")
        check(info["DeviceName"] == "dev-1" and info["MediaType"] == "video/h264", f"{info}")
        check(kv.describe_stream(StreamARN=arn)["StreamInfo"]["StreamName"] == "ctl", "by ARN")
        expect_error("ResourceInUseException", 400, kv.create_stream, StreamName="ctl")
        expect_error("ResourceNotFoundException", 404, kv.describe_stream, StreamName="nope")
        expect_error("InvalidArgumentException", 400, kv.create_stream, StreamName="bad name!")
        for n in ("ctl-a", "ctl-b", "other"):
            kv.create_stream(StreamName=n)
        names = [s["StreamName"] for s in kv.list_streams(
            StreamNameCondition={"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": "ctl"}
        )["StreamInfoList"]]
        check(names == ["ctl", "ctl-a", "ctl-b"], f"{names}")
        page = kv.list_streams(MaxResults=2)
        check(len(page["StreamInfoList"]) == 2 and page.get("NextToken"), f"{page}")
        rest = kv.list_streams(MaxResults=10, NextToken=page["NextToken"])["StreamInfoList"]
        check(len(rest) >= 2, f"{rest}")
        v = info["Version"]
        expect_error("VersionMismatchException", 400, kv.update_stream,
                     StreamName="ctl", CurrentVersion="stale", MediaType="video/h265")
        kv.update_stream(StreamName="ctl", CurrentVersion=v, MediaType="video/h265")
        info = kv.describe_stream(StreamName="ctl")["StreamInfo"]
        check(info["MediaType"] == "video/h265" and info["Version"] != v, f"{info}")
        kv.update_data_retention(StreamName="ctl", CurrentVersion=info["Version"],
                                 Operation="INCREASE_DATA_RETENTION", DataRetentionChangeInHours=46)
        info = kv.describe_stream(StreamName="ctl")["StreamInfo"]
        check(info["DataRetentionInHours"] == 48, f"{info}")
        expect_error("InvalidArgumentException", 400, kv.update_data_retention,
                     StreamName="ctl", CurrentVersion=info["Version"],
                     Operation="DECREASE_DATA_RETENTION", DataRetentionChangeInHours=49)
        kv.tag_stream(StreamARN=arn, Tags={"env": "test"})
        check(kv.list_tags_for_stream(StreamName="ctl")["Tags"] == {"team": "video", "env": "test"}, "tags")
        kv.untag_stream(StreamARN=arn, TagKeyList=["team"])
        check(kv.list_tags_for_stream(StreamARN=arn)["Tags"] == {"env": "test"}, "untag")
        expect_error("TagsPerResourceExceededLimitException", 400, kv.tag_stream,
                     StreamName="ctl", Tags={f"k{i}": "v" for i in range(50)})
        for api in ("PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
                    "GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL",
                    "GET_CLIP", "GET_IMAGES"):
            ep = kv.get_data_endpoint(StreamName="ctl", APIName=api)["DataEndpoint"]
            check(ep == endpoint, f"{api}: {ep}")
        expect_error("ResourceNotFoundException", 404, kv.get_data_endpoint,
                     StreamName="nope", APIName="GET_MEDIA")
        expect_error("ResourceNotFoundException", 404, kv.delete_stream, StreamARN=arn + "0")
        kv.delete_stream(StreamARN=arn, CurrentVersion=kv.describe_stream(
            StreamName="ctl")["StreamInfo"]["Version"])
        expect_error("ResourceNotFoundException", 404, kv.describe_stream, StreamName="ctl")
        got = awscli("kinesisvideo", "describe-stream", "--stream-name", "ctl-a")
        check(got["StreamInfo"]["StreamName"] == "ctl-a", f"{got}")
        got = awscli("kinesisvideo", "list-streams")
        check({"ctl-a", "ctl-b", "other"} <= {s["StreamName"] for s in got["StreamInfoList"]}, f"{got}")

    @scenario
    def put_media_acknowledges_every_fragment_once_persisted():
        kv.create_stream(StreamName=CAM, DataRetentionInHours=24, MediaType="video/h264")
        code, events = put_media(endpoint, SRC, CAM)
        check(code == 200, f"PutMedia status {code}: {events}")
        # Later fragments are received while earlier ones are made durable: each
        # fragment's own events come in order, and PERSISTED in fragment order.
        kinds = sorted(e["EventType"] for e in events)
        check(kinds == sorted(["BUFFERING", "RECEIVED", "PERSISTED"] * 10), f"{kinds}")
        for t in range(0, 10_000, 1000):
            mine = [e for e in events if e.get("FragmentTimecode") == t]
            check([e["EventType"] for e in mine] == ["BUFFERING", "RECEIVED", "PERSISTED"],
                  f"{t}: {mine}")
            check(mine[1].get("FragmentNumber") == mine[2]["FragmentNumber"],
                  f"RECEIVED predicts the fragment number: {mine}")
        persisted = [e for e in events if e["EventType"] == "PERSISTED"]
        check([e["FragmentTimecode"] for e in persisted] == [i * 1000 for i in range(10)],
              f"{persisted}")
        check(all(len(e["FragmentNumber"]) == 47 for e in persisted), f"{persisted}")
        nums = [e["FragmentNumber"] for e in persisted]
        check(nums == sorted(nums) and len(set(nums)) == 10, f"{nums}")

    @scenario
    def unknown_streams_get_aws_errors():
        m = cases.client(endpoint, "kinesis-video-media")
        am = cases.client(endpoint, "kinesis-video-archived-media")
        expect_error("ResourceNotFoundException", 404, m.get_media, StreamName="nope",
                     StartSelector={"StartSelectorType": "EARLIEST"})
        expect_error("ResourceNotFoundException", 404, am.list_fragments, StreamName="nope")
        expect_error("ResourceNotFoundException", 404, am.get_media_for_fragment_list,
                     StreamName="nope", Fragments=["1"])
        expect_error("InvalidArgumentException", 400, m.get_media, StreamName=CAM,
                     StartSelector={"StartSelectorType": "FRAGMENT_NUMBER"})
        pm = PutMedia(endpoint, stream_name="nope")
        pm.end()
        check(pm.status() == 404 and "ResourceNotFoundException" in pm.body_text(), "PutMedia 404")
        pm.sock.close()

    @scenario
    def bad_matroska_is_error_4006():
        kv.create_stream(StreamName="bad", DataRetentionInHours=1)
        code, events = put_media(endpoint, b"\x1a\x45\xdf\xa3\x80" + b"\x00" * 100, "bad")
        check(code == 200, f"{code}")
        check(events and events[-1]["EventType"] == "ERROR" and events[-1]["ErrorId"] == 4006,
              f"{events}")
        check(all_fragments("bad") == [], "nothing stored")

    @scenario
    def timecodes_going_back_are_error_4004():
        kv.create_stream(StreamName="back", DataRetentionInHours=1)
        # The same recording twice in one connection: the second's clusters start at 0.
        code, events = put_media(endpoint, SRC + SRC, "back", timecode_type="ABSOLUTE",
                                 start=0)
        persisted = [e for e in events if e["EventType"] == "PERSISTED"]
        errors = [e for e in events if e["EventType"] == "ERROR"]
        check(len(persisted) == 10, f"{events}")
        check(len(errors) == 1 and errors[0]["ErrorId"] == 4004
              and errors[0]["FragmentTimecode"] == 0, f"{errors}")
        check(len(all_fragments("back")) == 10, "the first ten stay")

    @scenario
    def a_producer_stopping_mid_fragment_leaves_no_partial_fragment():
        kv.create_stream(StreamName="cut", DataRetentionInHours=1)
        pm = PutMedia(endpoint, stream_name="cut")
        cut_at = int(len(SRC) * 0.55)
        pm.send(SRC[:cut_at])
        check(pm.status() == 200, "reply started")
        # Read acknowledgements until the last whole cluster is persisted, then drop.
        deadline = time.time() + 30
        persisted = 0
        line = b""
        while time.time() < deadline:
            line = pm.reader.readline()
            if b"PERSISTED" in line:
                persisted += 1
            if persisted >= 4 or not line:
                break
        pm.cut()
        frags = cases.wait_until(lambda: all_fragments("cut"), "fragments listed")
        n = len(frags)
        check(4 <= n < 10, f"{n} fragments")
        got = relative(packets(get_media("cut", {"StartSelectorType": "EARLIEST"})))
        check(got == SRC_PKTS[:n * 30], f"{len(got)} packets for {n} whole fragments")

    @scenario
    def no_retention_keeps_nothing_but_live_readers_see_it():
        kv.create_stream(StreamName="live0", DataRetentionInHours=0)
        got = {}

        def reader():
            got["body"] = get_media("live0", {"StartSelectorType": "NOW"})

        t = threading.Thread(target=reader)
        t.start()
        time.sleep(0.5)
        code, events = put_media(endpoint, SRC, "live0")
        kinds = {e["EventType"] for e in events}
        check(kinds == {"BUFFERING", "RECEIVED"}, f"no PERSISTED without retention: {kinds}")
        t.join(60)
        check(relative(packets(got.get("body", b""))) == SRC_PKTS, "the live reader got it all")
        check(all_fragments("live0") == [], "ListFragments finds nothing")
        check(get_media("live0", {"StartSelectorType": "EARLIEST"}) == b"", "nothing stored")


@scenario
def get_media_from_the_earliest_gives_back_every_frame():
    body = get_media(CAM, {"StartSelectorType": "EARLIEST"})
    check(relative(packets(body)) == SRC_PKTS, "every frame with its timestamp")
    chunks = split_chunks(body)
    check(len(chunks) == 10, f"{len(chunks)} chunks")
    frags = all_fragments(CAM)
    for c, f in zip(chunks, frags):
        t = tags(c)
        check(t["AWS_KINESISVIDEO_FRAGMENT_NUMBER"] == f["FragmentNumber"], f"{t}")
        check(t["AWS_KINESISVIDEO_CONTINUATION_TOKEN"] == f["FragmentNumber"], f"{t}")
        server = f["ServerTimestamp"].timestamp()
        check(abs(float(t["AWS_KINESISVIDEO_SERVER_TIMESTAMP"]) - server) < 0.002, f"{t}")
        producer = f["ProducerTimestamp"].timestamp()
        check(abs(float(t["AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"]) - producer) < 0.002, f"{t}")
        check(int(t["AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"]) >= 0, f"{t}")
        # Each chunk plays by itself: its second's frames.
        check(len(packets(c)) == 30, "a self-contained chunk")


@scenario
def list_fragments_by_range_and_page():
    frags = all_fragments(CAM)
    check(len(frags) == 10, f"{len(frags)}")
    check(all(f["FragmentLengthInMilliseconds"] == 1000 for f in frags), f"{frags}")
    paged = all_fragments(CAM, MaxResults=3)
    check([f["FragmentNumber"] for f in paged] == [f["FragmentNumber"] for f in frags], "pages")
    p = [f["ProducerTimestamp"] for f in frags]
    sel = all_fragments(CAM, FragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": p[2], "EndTimestamp": p[5]}})
    check([f["FragmentNumber"] for f in sel] == [f["FragmentNumber"] for f in frags[2:6]],
          f"{sel}")
    s = [f["ServerTimestamp"] for f in frags]
    sel = all_fragments(CAM, FragmentSelector={
        "FragmentSelectorType": "SERVER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": s[0], "EndTimestamp": s[-1]}})
    check(len(sel) == 10, f"{len(sel)}")


@scenario
def get_media_for_fragment_list_gives_back_the_listed_fragments():
    frags = all_fragments(CAM)
    am = data_client(CAM, "GET_MEDIA_FOR_FRAGMENT_LIST", "kinesis-video-archived-media")
    r = am.get_media_for_fragment_list(StreamName=CAM,
                                       Fragments=[f["FragmentNumber"] for f in frags])
    check(relative(packets(r["Payload"].read())) == SRC_PKTS, "every frame")
    r = am.get_media_for_fragment_list(StreamName=CAM,
                                       Fragments=[f["FragmentNumber"] for f in frags[3:5]])
    check(relative(packets(r["Payload"].read())) == relative(SRC_PKTS[90:150]), "two of them")
    expect_error("ResourceNotFoundException", 404, am.get_media_for_fragment_list,
                 StreamName=CAM, Fragments=["91343852300000000000000000000000000000000000000"])


@scenario
def get_media_start_selectors():
    frags = all_fragments(CAM)
    n = [f["FragmentNumber"] for f in frags]

    def first_tag(body):
        chunks = split_chunks(body)
        return tags(chunks[0])["AWS_KINESISVIDEO_FRAGMENT_NUMBER"] if chunks else None

    body = get_media(CAM, {"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": n[4]})
    check(first_tag(body) == n[4] and len(split_chunks(body)) == 6, "FRAGMENT_NUMBER")
    body = get_media(CAM, {"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": n[6]})
    check(first_tag(body) == n[7] and len(split_chunks(body)) == 3, "CONTINUATION_TOKEN")
    body = get_media(CAM, {"StartSelectorType": "SERVER_TIMESTAMP",
                           "StartTimestamp": frags[8]["ServerTimestamp"]})
    # Fragments put within one millisecond share a server timestamp: the first of them.
    first = next(i for i, f in enumerate(frags)
                 if f["ServerTimestamp"] >= frags[8]["ServerTimestamp"])
    check(first_tag(body) == n[first] and len(split_chunks(body)) == 10 - first,
          "SERVER_TIMESTAMP")
    body = get_media(CAM, {"StartSelectorType": "PRODUCER_TIMESTAMP",
                           "StartTimestamp": frags[5]["ProducerTimestamp"]})
    check(first_tag(body) == n[5] and relative(packets(body)) == relative(SRC_PKTS[150:]),
          "PRODUCER_TIMESTAMP")


@scenario
def get_media_now_tails_a_live_producer():
    name = f"live-{mode}"
    kv.create_stream(StreamName=name, DataRetentionInHours=1)
    got = {}

    def reader():
        got["body"] = get_media(name, {"StartSelectorType": "NOW"})

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.5)
    pm = PutMedia(endpoint, stream_name=name)
    # Paced: about a fragment every 0.1 s, so the reader is woken by each.
    step = max(1, len(SRC) // 100)
    for i in range(0, len(SRC), step):
        pm.send(SRC[i:i + step])
        time.sleep(0.01)
    pm.end()
    check(pm.status() == 200, "PutMedia")
    events = pm.events()
    pm.sock.close()
    check(sum(e["EventType"] == "PERSISTED" for e in events) == 10, f"{events}")
    t.join(60)
    check(relative(packets(got.get("body", b""))) == SRC_PKTS, "the live reader got every frame")


def hls_url(stream, **kw):
    am = data_client(stream, "GET_HLS_STREAMING_SESSION_URL", "kinesis-video-archived-media")
    return am.get_hls_streaming_session_url(StreamName=stream, **kw)["HLSStreamingSessionURL"]


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()


@scenario
def hls_on_demand_plays_every_frame_in_ffmpeg():
    frags = all_fragments(CAM)
    url = hls_url(CAM, PlaybackMode="ON_DEMAND", HLSFragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": frags[0]["ProducerTimestamp"],
                           "EndTimestamp": frags[-1]["ProducerTimestamp"]}})
    check(url.startswith(endpoint + "/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken="), url)
    master = fetch(url)
    check('CODECS="avc1.42C01E"' in master and "RESOLUTION=640x360" in master, master)
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", url, "-f", "null", "-"],
                         capture_output=True, text=True, timeout=120)
    check(run.returncode == 0 and not run.stderr.strip(), f"ffmpeg: {run.stderr}")
    check(relative(packets_of(url)) == SRC_PKTS, "every frame with its timestamp over HLS")
    media = fetch(url.replace("getHLSMasterPlaylist", "getHLSMediaPlaylist"))
    check(media.count("#EXTINF:1.000,") == 10 and "#EXT-X-ENDLIST" in media, media)
    bad = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    try:
        fetch(bad)
        check(False, "a forged token is refused")
    except urllib.error.HTTPError as e:
        check(e.code == 401 and "NotAuthorizedException" in e.read().decode(), f"{e}")


@scenario
def hls_live_and_live_replay_playlists():
    frags = all_fragments(CAM)
    media = fetch(hls_url(CAM).replace("getHLSMasterPlaylist", "getHLSMediaPlaylist"))
    check(media.count("#EXTINF") == 5 and "#EXT-X-ENDLIST" not in media, media)
    check(frags[-1]["FragmentNumber"] in media, "LIVE ends at the newest fragment")
    url = hls_url(CAM, PlaybackMode="LIVE_REPLAY", HLSFragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": frags[6]["ProducerTimestamp"]}})
    media = fetch(url.replace("getHLSMasterPlaylist", "getHLSMediaPlaylist"))
    check(media.count("#EXTINF") == 4 and frags[6]["FragmentNumber"] in media, media)
    am = cases.client(endpoint, "kinesis-video-archived-media")
    expect_error("InvalidArgumentException", 400, am.get_hls_streaming_session_url,
                 StreamName=CAM, PlaybackMode="ON_DEMAND")
    expect_error("ResourceNotFoundException", 404, am.get_hls_streaming_session_url,
                 StreamName="nope")


@scenario
def get_clip_is_an_mp4_of_every_frame_in_the_range():
    frags = all_fragments(CAM)
    am = data_client(CAM, "GET_CLIP", "kinesis-video-archived-media")
    r = am.get_clip(StreamName=CAM, ClipFragmentSelector={
        "FragmentSelectorType": "SERVER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": frags[0]["ServerTimestamp"],
                           "EndTimestamp": frags[-1]["ServerTimestamp"]}})
    check(r["ContentType"] == "video/mp4", r["ContentType"])
    body = r["Payload"].read()
    check(body[4:8] == b"ftyp", "an MP4")
    check(relative(packets(body, suffix=".mp4")) == SRC_PKTS, "every frame in the clip")
    r = am.get_clip(StreamName=CAM, ClipFragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": frags[2]["ProducerTimestamp"],
                           "EndTimestamp": frags[3]["ProducerTimestamp"]}})
    got = relative(packets(r["Payload"].read(), suffix=".mp4"))
    check(got == relative(SRC_PKTS[60:120]), f"two seconds: {len(got)} frames")


if mode == "main":

    @scenario
    def fragments_past_retention_are_no_longer_served():
        kv.create_stream(StreamName="expire", DataRetentionInHours=1)
        put_media(endpoint, SRC, "expire")
        check(len(all_fragments("expire")) == 10, "kept while within retention")
        v = kv.describe_stream(StreamName="expire")["StreamInfo"]["Version"]
        kv.update_data_retention(StreamName="expire", CurrentVersion=v,
                                 Operation="DECREASE_DATA_RETENTION",
                                 DataRetentionChangeInHours=1)
        check(all_fragments("expire") == [], "expired: not listed")
        check(get_media("expire", {"StartSelectorType": "EARLIEST"}) == b"", "nor played")

    @scenario
    def other_codecs_play_over_get_media_but_not_hls_or_clips():
        kv.create_stream(StreamName="mpeg4", DataRetentionInHours=1)
        src = subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=30",
             "-t", "3", "-c:v", "mpeg4", "-g", "30", "-f", "matroska",
             "-cluster_time_limit", "20000", "-cluster_size_limit", "50000000", "pipe:1"],
            check=True, capture_output=True).stdout
        code, events = put_media(endpoint, src, "mpeg4")
        check(sum(e["EventType"] == "PERSISTED" for e in events) == 3, f"{events}")
        body = get_media("mpeg4", {"StartSelectorType": "EARLIEST"})
        check(relative(packets(body)) == relative(packets(src)), "stored and served as MKV")
        am = cases.client(endpoint, "kinesis-video-archived-media")
        expect_error("UnsupportedStreamMediaTypeException", 400,
                     am.get_hls_streaming_session_url, StreamName="mpeg4")
        f = all_fragments("mpeg4")
        expect_error("UnsupportedStreamMediaTypeException", 400, am.get_clip,
                     StreamName="mpeg4", ClipFragmentSelector={
                         "FragmentSelectorType": "SERVER_TIMESTAMP",
                         "TimestampRange": {"StartTimestamp": f[0]["ServerTimestamp"],
                                            "EndTimestamp": f[-1]["ServerTimestamp"]}})
        expect_error("NoDataRetentionException", 400, am.get_hls_streaming_session_url,
                     StreamName="live0")


cases.finish()
