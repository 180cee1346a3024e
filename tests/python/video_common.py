"""What the Kinesis Video test scripts share: ffmpeg-made H.264 Matroska, a PutMedia
client (SigV4-signed chunked upload through botocore's signer, UNSIGNED-PAYLOAD, since
boto3 has no PutMedia), and ffprobe's view of a file's frames."""

import json
import socket
import subprocess
import tempfile
import threading
import time
from urllib.parse import urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials


def h264_mkv(seconds=10, size="640x360", rate=30, extra=()):
    """Real H.264 (baseline, a key frame every second, no B-frames) in Matroska, one
    cluster per second, from ffmpeg's test source."""
    cmd = [
        "ffmpeg", "-v", "error", "-f", "lavfi",
        "-i", f"testsrc=size={size}:rate={rate}", "-t", str(seconds),
        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-profile:v", "baseline",
        "-bf", "0", "-g", str(rate), "-keyint_min", str(rate), "-sc_threshold", "0",
        *extra,
        "-f", "matroska", "-cluster_time_limit", "20000",
        "-cluster_size_limit", "50000000", "pipe:1",
    ]
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def packets(data, suffix=".mkv", fmt=None):
    """ffprobe's video packets of `data`: a list of (pts in ms, key frame)."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        return packets_of(f.name, fmt)


def packets_of(path, fmt=None):
    """ffprobe's video packets of a file or URL: a list of (pts in ms, key frame)."""
    cmd = ["ffprobe", "-v", "error"]
    if fmt:
        cmd += ["-f", fmt]
    cmd += [
        "-select_streams", "v", "-show_entries", "packet=pts_time,flags",
        "-of", "json", path,
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, timeout=120).stdout
    got = []
    for p in json.loads(out).get("packets", []):
        got.append((round(float(p["pts_time"]) * 1000), "K" in p.get("flags", "")))
    return got


def relative(pkts):
    """Packet timestamps relative to the first one."""
    if not pkts:
        return []
    t0 = pkts[0][0]
    return [(t - t0, k) for t, k in pkts]


def split_chunks(data):
    """GetMedia's reply split at each EBML header: one Matroska chunk per fragment."""
    magic = b"\x1a\x45\xdf\xa3"
    starts = []
    i = data.find(magic)
    while i >= 0:
        starts.append(i)
        i = data.find(magic, i + 1)
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def tags(chunk):
    """The AWS_KINESISVIDEO_* tags of a chunk, as a dict (a crude scan of its bytes)."""
    out = {}
    i = 0
    while True:
        i = chunk.find(b"AWS_KINESISVIDEO_", i)
        if i < 0:
            return out
        # TagName's 8-byte size is just before the name; TagString (0x4487) follows.
        size = int.from_bytes(chunk[i - 8:i], "big") & ((1 << 56) - 1)
        end = i + size
        name = chunk[i:end].decode()
        j = end
        assert chunk[j:j + 2] == b"\x44\x87", "TagString after TagName"
        size = int.from_bytes(chunk[j + 2:j + 10], "big") & ((1 << 56) - 1)
        out[name] = chunk[j + 10:j + 10 + size].decode()
        i = end


class PutMedia:
    """One PutMedia connection: the body sent in chunks from a thread while the
    acknowledgements are read as they come."""

    def __init__(self, endpoint, stream_name=None, stream_arn=None,
                 timecode_type="RELATIVE", start=None, key=("AKIDEXAMPLE", "secret")):
        u = urlsplit(endpoint)
        self.host, self.port = u.hostname, u.port or 80
        headers = {
            "x-amzn-fragment-timecode-type": timecode_type,
            "x-amzn-producer-start-timestamp": f"{start if start is not None else time.time():.3f}",
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
            "Content-Type": "application/json",
        }
        if stream_name:
            headers["x-amzn-stream-name"] = stream_name
        if stream_arn:
            headers["x-amzn-stream-arn"] = stream_arn
        req = botocore.awsrequest.AWSRequest(
            method="POST", url=f"{endpoint}/putMedia", headers=headers, data=b""
        )
        creds = botocore.credentials.Credentials(*key)
        botocore.auth.SigV4Auth(creds, "kinesisvideo", "us-east-1").add_auth(req)
        lines = [f"POST /putMedia HTTP/1.1", f"Host: {u.netloc}", "Transfer-Encoding: chunked"]
        for k, v in req.headers.items():
            if k.lower() != "host":
                lines.append(f"{k}: {v}")
        self.sock = socket.create_connection((self.host, self.port), timeout=60)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.reader = self.sock.makefile("rb")

    def send(self, data, chunk=64 * 1024, pause=0.0):
        """Sends `data` as HTTP chunks."""
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk]
            self.sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            if pause:
                time.sleep(pause)

    def end(self):
        """Ends the body properly."""
        self.sock.sendall(b"0\r\n\r\n")

    def cut(self):
        """Drops the connection mid-body (a producer that stops)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def status(self):
        """The reply's status line and headers."""
        status = self.reader.readline().decode()
        headers = {}
        while True:
            line = self.reader.readline().decode().strip()
            if not line:
                break
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        self.code = int(status.split()[1])
        self.headers = headers
        return self.code

    def body_text(self):
        """The rest of the reply, de-chunked (for errors and whole ack streams)."""
        out = b""
        if self.headers.get("transfer-encoding") == "chunked":
            while True:
                size = int(self.reader.readline().strip() or b"0", 16)
                if size == 0:
                    break
                out += self.reader.read(size)
                self.reader.readline()
        else:
            out = self.reader.read(int(self.headers.get("content-length", "0")))
        return out.decode()

    def events(self):
        """The acknowledgement events until the reply ends."""
        return [json.loads(l) for l in self.body_text().splitlines() if l.strip()]


def put_media(endpoint, data, name, **kw):
    """Sends `data` in one PutMedia and returns (status, events)."""
    pm = PutMedia(endpoint, stream_name=name, **kw)
    result = {}

    def sender():
        try:
            pm.send(data)
            pm.end()
        except OSError as e:  # the server may end the reply first (an ERROR)
            result["send_error"] = e

    t = threading.Thread(target=sender)
    t.start()
    code = pm.status()
    events = pm.events() if code == 200 else pm.body_text()
    t.join(60)
    pm.sock.close()
    return code, events
