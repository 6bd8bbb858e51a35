"""FBS recordings: vncenv.vnc.fbs writer, reader and replay server."""

from __future__ import annotations

import io
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from vncenv.error import ProtocolError, UsageError
from vncenv.vnc.fbs import MAGIC, FBSReader, FBSReplayServer, FBSWriter, read_fbs


def make_recording(blocks: list[tuple[int, bytes]]) -> bytes:
    """The FBS bytes for ``blocks``, built independently of FBSWriter."""
    out = bytearray(MAGIC)
    for ts, data in blocks:
        out += struct.pack(">I", len(data)) + data + b"\0" * (-len(data) % 4) + struct.pack(">I", ts)
    return bytes(out)


SMALL = [(0, b"R"), (5, b"FB 003.008\n"), (17, b"\x01\x02\x03\x04"), (17, bytes(range(9))), (40, b"xyz")]


# --------------------------------------------------------------------------
# Writer and reader


def test_round_trip_through_a_file(tmp_path):
    rng = np.random.default_rng(0)
    blocks = [(i * 7, rng.bytes(int(n))) for i, n in enumerate([1, 2, 3, 4, 5, 63, 64, 65, 4096, 100_003])]
    path = tmp_path / "rec.fbs"
    with FBSWriter(path) as w:
        for ts, data in blocks:
            w.write(data, timestamp_ms=ts)
        assert w.blocks == len(blocks) and w.bytes == sum(len(d) for _, d in blocks)
    raw = path.read_bytes()
    assert raw == make_recording(blocks)
    with FBSReader(path) as r:
        assert r.version == "001.000"
        assert list(r) == blocks
        assert not r.truncated and not r.end_marker
        assert r.read_all() == b"".join(d for _, d in blocks)
        assert list(r) == blocks  # a seekable file can be read again
    assert read_fbs(str(path)) == blocks


def test_writer_accepts_bytes_bytearray_memoryview_and_skips_empty():
    buf = io.BytesIO()
    w = FBSWriter(buf)
    w.write(b"ab", 1)
    w.write(bytearray(b"cde"), 2)
    w.write(memoryview(b"xxfghxx")[2:5], 3)
    w.write(memoryview(np.arange(3, dtype=np.uint16)), 4)  # a non-byte view: its bytes
    w.write(b"", 5)  # an empty block would be an end marker: skipped
    w.close()
    assert not buf.closed  # a caller's file is not closed
    buf.seek(0)
    assert list(FBSReader(buf)) == [(1, b"ab"), (2, b"cde"), (3, b"fgh"), (4, np.arange(3, dtype=np.uint16).tobytes())]


@pytest.mark.parametrize("n", range(0, 9))
def test_block_layout_and_padding(n):
    buf = io.BytesIO()
    with FBSWriter(buf) as w:
        w.write(b"\xff" * n, timestamp_ms=0x01020304)
    raw = buf.getvalue()
    assert raw[:12] == b"FBS 001.000\n"
    if n == 0:
        assert raw == MAGIC
        return
    padded = (n + 3) // 4 * 4
    assert len(raw) == 12 + 4 + padded + 4
    assert raw[12:16] == struct.pack(">I", n)  # the length excludes the padding
    assert raw[16 : 16 + n] == b"\xff" * n
    assert raw[16 + n : 16 + padded] == b"\0" * (padded - n)  # zero padding
    assert raw[16 + padded :] == b"\x01\x02\x03\x04"  # big-endian timestamp


def test_timestamps_count_from_writer_creation():
    buf = io.BytesIO()
    w = FBSWriter(buf)
    time.sleep(0.06)
    w.write(b"a")
    time.sleep(0.1)
    w.write(b"b")
    w.write(b"c", timestamp_ms=5)  # explicit stamps are kept as given
    w.close()
    buf.seek(0)
    (t1, _), (t2, _), (t3, _) = FBSReader(buf)
    assert 55 <= t1 < 1000
    assert t2 - t1 >= 95
    assert t3 == 5


def test_writer_rejects_bad_use(tmp_path):
    w = FBSWriter(tmp_path / "x.fbs")
    with pytest.raises(UsageError):
        w.write(b"a", timestamp_ms=-1)
    with pytest.raises(UsageError):
        w.write(b"a", timestamp_ms=2**32)
    w.close()
    w.close()  # idempotent
    with pytest.raises(UsageError):
        w.write(b"a")
    with pytest.raises(UsageError):
        FBSWriter(12345)  # type: ignore[arg-type]


def test_truncated_at_every_offset_yields_the_complete_blocks():
    raw = make_recording(SMALL)
    ends = []  # file offset where each block ends
    pos = 12
    for _, data in SMALL:
        pos += 8 + (len(data) + 3) // 4 * 4
        ends.append(pos)
    assert ends[-1] == len(raw)
    for cut in range(len(raw) + 1):
        reader = FBSReader(io.BytesIO(raw[:cut]))
        got = list(reader)
        complete = sum(1 for e in ends if e <= cut)
        assert got == SMALL[:complete], cut
        at_boundary = cut == 12 or cut in ends
        assert reader.truncated == (not at_boundary), cut
        assert reader.read_all() == b"".join(d for _, d in SMALL[:complete])


def test_truncated_file_on_disk(tmp_path):
    path = tmp_path / "cut.fbs"
    path.write_bytes(make_recording(SMALL)[:-3])
    with FBSReader(path) as r:
        assert list(r) == SMALL[:-1]
        assert r.truncated


@pytest.mark.parametrize(
    "header",
    [
        b"RFB 003.008\n",
        b"FBS 002.000\n",
        b"FBS 001.00x\n",
        b"FBS 001.000\r",
        b"fbs 001.000\n",
        b"\x00" * 12,
        b"FBX",  # short, and not a prefix of a header
        b"GIF89a",
    ],
)
def test_bad_header_raises(header):
    with pytest.raises(ProtocolError, match="not an FBS recording"):
        FBSReader(io.BytesIO(header + make_recording(SMALL)[12:]))


def test_bad_header_in_a_file_closes_it(tmp_path):
    path = tmp_path / "bad.fbs"
    path.write_bytes(b"not a recording at all")
    with pytest.raises(ProtocolError, match="bad.fbs"):
        FBSReader(path)


def test_block_length_over_the_limit_raises():
    raw = MAGIC + struct.pack(">I", 0xFFFFFFF0) + b"\0" * 64
    with pytest.raises(ProtocolError, match="over the limit"):
        list(FBSReader(io.BytesIO(raw)))
    raw = make_recording([(0, b"a" * 100)])
    assert list(FBSReader(io.BytesIO(raw), max_block=100)) == [(0, b"a" * 100)]
    with pytest.raises(ProtocolError, match="offset 12"):
        list(FBSReader(io.BytesIO(raw), max_block=99))


def test_rfbproxy_variants():
    # FBS 001.001 (rfbproxy's shared-session record), garbage padding (rfbproxy
    # writes whatever follows its buffer) and a zero-length end-of-stream block.
    raw = (
        b"FBS 001.001\n"
        + struct.pack(">I", 12) + b"RFB 003.003\n" + struct.pack(">I", 0)
        + struct.pack(">I", 5) + b"hello" + b"\xde\xad\xbe" + struct.pack(">I", 9)
        + struct.pack(">I", 0) + struct.pack(">I", 10)
        + b"trailing bytes after the end marker"
    )  # fmt: skip
    r = FBSReader(io.BytesIO(raw))
    assert r.version == "001.001"
    assert list(r) == [(0, b"RFB 003.003\n"), (9, b"hello")]
    assert r.end_marker and not r.truncated
    assert FBSReader(io.BytesIO(b"FBS 001.002\n")).version == "001.002"


def test_reader_on_a_non_seekable_stream():
    r_fd, w_fd = os.pipe()
    raw = make_recording(SMALL)
    os.write(w_fd, raw)
    os.close(w_fd)
    with os.fdopen(r_fd, "rb", buffering=0) as f:
        assert list(FBSReader(f)) == SMALL


def test_kill_9_leaves_every_complete_block(tmp_path):
    """A recorder killed with SIGKILL in the middle of its work: every block it
    had written is readable."""
    path = tmp_path / "killed.fbs"
    code = textwrap.dedent(
        f"""
        import sys, time
        from vncenv.vnc.fbs import FBSWriter
        w = FBSWriter({str(path)!r})
        i = 0
        while True:
            w.write(bytes([i % 256]) * (1 + i % 37), timestamp_ms=i)
            print(i, flush=True)
            i += 1
            if i > 50:
                time.sleep(0.001)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        written = -1
        while written < 200:
            line = proc.stdout.readline()
            assert line, "writer process died"
            written = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with FBSReader(path) as r:
        blocks = list(r)
    assert len(blocks) >= written + 1  # at least every block it reported
    for i, (ts, data) in enumerate(blocks):
        assert ts == i and data == bytes([i % 256]) * (1 + i % 37)


# --------------------------------------------------------------------------
# Replay server


def _recording(tmp_path, blocks) -> str:
    path = tmp_path / "replay.fbs"
    with FBSWriter(path) as w:
        for ts, data in blocks:
            w.write(data, timestamp_ms=ts)
    return str(path)


def _client(port: int, send: bytes = b"RFB 003.008\n\x01\x01", timeout: float = 20.0) -> tuple[bytes, float]:
    """Connect, send ``send``, read until EOF; return (bytes, seconds)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(send)
        chunks = []
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - t0


@pytest.fixture
def random_blocks():
    rng = np.random.default_rng(42)
    return [(i, rng.bytes(int(rng.integers(1, 20_000)))) for i in range(200)]


def test_replay_sends_exactly_the_recorded_stream(tmp_path, random_blocks):
    path = _recording(tmp_path, random_blocks)
    expected = b"".join(d for _, d in random_blocks)
    with FBSReplayServer(path) as server:
        assert server.port > 0
        for _ in range(3):  # sequential connections
            got, _ = _client(server.port)
            assert got == expected
        # A client that sends a lot while reading (the server must drain it).
        got, _ = _client(server.port, send=os.urandom(1 << 20))
        assert got == expected
    assert server.connections == 4
    assert server.completed == 4
    assert server.errors == []


def test_replay_serves_concurrent_clients(tmp_path, random_blocks):
    path = _recording(tmp_path, random_blocks)
    expected = b"".join(d for _, d in random_blocks)
    results: list[bytes] = []
    with FBSReplayServer(path) as server:
        threads = [threading.Thread(target=lambda: results.append(_client(server.port)[0])) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(results) == 8
    assert all(r == expected for r in results)
    assert server.connections == 8


def test_replay_slow_reader_gets_everything(tmp_path, random_blocks):
    path = _recording(tmp_path, random_blocks)
    expected = b"".join(d for _, d in random_blocks)
    with FBSReplayServer(path) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            time.sleep(0.3)  # let the server fill the socket buffers and block
            chunks = []
            while True:
                chunk = s.recv(1000)
                if not chunk:
                    break
                chunks.append(chunk)
                if len(chunks) % 100 == 0:
                    time.sleep(0.002)
    assert b"".join(chunks) == expected
    assert server.completed == 1


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_replay_at_recorded_speed(tmp_path, speed):
    blocks = [(1000, b"a" * 10), (1100, b"b" * 10), (1200, b"c" * 10), (1400, b"d" * 10)]
    path = _recording(tmp_path, blocks)
    with FBSReplayServer(path, speed=speed) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            t0 = time.monotonic()
            arrivals = []
            data = b""
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
                arrivals.append((time.monotonic() - t0, len(data)))
    assert data == b"".join(d for _, d in blocks)
    first_t = arrivals[0][0]
    last_t = arrivals[-1][0]
    span = 0.4 / speed  # timestamps relative to the first block
    assert first_t < 0.2  # the first block is not delayed by its absolute stamp
    assert span - 0.03 <= last_t - 0 < span + 1.0


def test_replay_as_fast_as_possible_is_fast(tmp_path):
    blocks = [(i * 1000, bytes(1000)) for i in range(100)]  # 100 s of recording
    path = _recording(tmp_path, blocks)
    with FBSReplayServer(path, speed=None) as server:
        got, seconds = _client(server.port)
    assert got == bytes(100_000)
    assert seconds < 5


def test_replay_close_with_a_client_not_reading(tmp_path, random_blocks):
    path = _recording(tmp_path, random_blocks * 5)
    server = FBSReplayServer(path).start()
    s = socket.create_connection(("127.0.0.1", server.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(0.2)  # the server is now blocked in sendall
    t0 = time.monotonic()
    server.close()
    assert time.monotonic() - t0 < 3
    s.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_replay_rejects_bad_arguments(tmp_path):
    with pytest.raises(UsageError):
        FBSReplayServer(_recording(tmp_path, SMALL), speed=0)
    bad = tmp_path / "bad.fbs"
    bad.write_bytes(b"nope")
    with pytest.raises(ProtocolError):
        FBSReplayServer(bad)


# --------------------------------------------------------------------------
# A real session, recorded and replayed


def test_record_real_server_and_replay(xvnc, scene, tmp_path):
    """Record what Xvnc sends to a client (via the client's receive tap), then
    replay the file: a fresh client ends with the same picture."""
    from servers import RawRFBClient

    sc = scene(xvnc, seed=4)
    sc.photo()
    sc.place_block(100, 100, 60, 40)
    path = tmp_path / "session.fbs"
    with FBSWriter(path) as w:
        with RawRFBClient(xvnc.host, xvnc.port, tap=w.write) as c:
            c.wait_for_image(sc.expected, timeout=10)
            for _ in range(5):
                sc.move_block(6, 4)
                c.wait_for_image(sc.expected, timeout=10)
            recorded_rects = dict(c.rects_by_encoding)
    with FBSReader(path) as r:
        stream = r.read_all()
        assert not r.truncated
    assert stream.startswith(b"RFB 003.008\n")
    with FBSReplayServer(path) as server:
        replay = RawRFBClient("127.0.0.1", server.port)
        try:
            while True:
                replay.read_message(timeout=10)
        except ConnectionError:
            pass
        finally:
            replay.close()
    np.testing.assert_array_equal(replay.fb, sc.expected)
    assert replay.rects_by_encoding == recorded_rects
