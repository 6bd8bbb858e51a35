"""Rewarder v0 messages (sans-IO): the design's table, builders, validation, auth header, reward log."""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import orjson
import pytest
from vncenv.error import ProtocolError, UsageError
from vncenv.rewarder import messages as m
from vncenv.rewarder.log import RewardLog, read_log

# The message table of design §5, written out independently of SPECS.
DESIGN_SERVER_METHODS = {
    "v0.env.describe": {"env_id", "env_state", "fps"},
    "v0.env.reward": {"reward", "done", "info"},
    "v0.env.text": {"text"},
    "v0.env.observation": {"observation"},
    "v0.reply.env.reset": set(),
    "v0.reply.control.ping": set(),
    "v0.reply.error": {"message"},
    "v0.connection.close": {"message"},
}
DESIGN_CLIENT_METHODS = {
    "v0.env.reset": {"env_id", "seed", "fps"},
    "v0.control.ping": set(),
    "v0.agent.action": set(),
}


def test_specs_cover_exactly_the_design_table():
    assert m.SERVER_METHODS == set(DESIGN_SERVER_METHODS)
    assert m.CLIENT_METHODS == set(DESIGN_CLIENT_METHODS)
    for method, fields in {**DESIGN_SERVER_METHODS, **DESIGN_CLIENT_METHODS}.items():
        assert set(m.SPECS[method].body) == fields, method


def _examples(f: m.MessageFactory) -> list[tuple[m.Message, str]]:
    return [
        (f.describe("Pong-v0", "resetting", 60, 3), m.SERVER),
        (f.describe("Pong-v0", "running", 59.94, 3), m.SERVER),
        (f.reward(1.5, True, {"score": [1, 2]}, 3), m.SERVER),
        (f.reward(-1, False, None, 0), m.SERVER),
        (f.text("hello \u00e9\u4e16", 3), m.SERVER),
        (f.observation({"pos": [1, 2]}, 3), m.SERVER),
        (f.observation(None, 3), m.SERVER),
        (f.reply_reset(4, 17), m.SERVER),
        (f.reply_ping(18), m.SERVER),
        (f.reply_error("nope", 19), m.SERVER),
        (f.reply_error("no parent"), m.SERVER),
        (f.connection_close("bye"), m.SERVER),
        (f.reset("Pong-v0", 7, 60), m.CLIENT),
        (f.reset(None, None, None), m.CLIENT),
        (f.ping(), m.CLIENT),
        (f.action({"keys": ["left"]}), m.CLIENT),
        (f.action(), m.CLIENT),
    ]


def test_every_method_round_trips():
    f = m.MessageFactory(clock=lambda: 1234.5)
    examples = _examples(f)
    assert {msg.method for msg, _ in examples} == set(m.SPECS)
    ids = []
    for msg, direction in examples:
        data = m.encode(msg)
        assert isinstance(data, bytes)
        back = m.decode(data.decode(), direction)
        assert back == msg
        assert back.sent_at == 1234.5
        ids.append(back.message_id)
        obj = json.loads(data)  # plain JSON, as any peer reads it
        assert set(obj) == {"method", "headers", "body"}
        if "episode_id" in obj["headers"]:
            assert isinstance(obj["headers"]["episode_id"], str)
    assert ids == sorted(set(ids)), "message ids increase"


def test_episode_id_is_a_string_on_the_wire_and_int_in_python():
    f = m.MessageFactory()
    msg = f.reward(1.0, False, {}, 12)
    assert orjson.loads(m.encode(msg))["headers"]["episode_id"] == "12"
    assert m.decode(m.encode(msg).decode()).episode_id == 12


@pytest.mark.parametrize(
    "value, expected",
    [("0", 0), ("42", 42), (42, 42), ("007", 7)],
)
def test_parse_episode_id(value, expected):
    assert m.parse_episode_id(value) == expected


@pytest.mark.parametrize("value", ["", "-1", -1, "1.5", 1.5, True, None, "x", "\u0661", [1], "9" * 30])
def test_parse_episode_id_refuses(value):
    with pytest.raises(ValueError):
        m.parse_episode_id(value)


def _frame(method="v0.env.reward", headers=None, body=None, drop=(), **over):
    obj = {
        "method": method,
        "headers": {"message_id": 5, "sent_at": 1.0, "episode_id": "1"} if headers is None else headers,
        "body": {"reward": 1.0, "done": False, "info": {}} if body is None else body,
    }
    obj.update(over)
    for k in drop:
        del obj[k]
    return json.dumps(obj)


H = {"message_id": 5, "sent_at": 1.0, "episode_id": "1"}

# (frame, direction, substring of the error, message_id the error names)
BAD = [
    pytest.param(b'{"method": "v0.control.ping"}', None, "binary frame", None, id="binary"),
    pytest.param("{not json", None, "invalid JSON", None, id="bad-json"),
    pytest.param("", None, "invalid JSON", None, id="empty"),
    pytest.param("[1, 2]", None, "JSON object", None, id="array"),
    pytest.param('"text"', None, "JSON object", None, id="string"),
    pytest.param(_frame(drop=("method",)), None, "method is missing", 5, id="no-method"),
    pytest.param(_frame(method=7), None, "method is missing or not a string", 5, id="method-int"),
    pytest.param(_frame(drop=("headers",)), None, "headers must be an object", None, id="no-headers"),
    pytest.param(_frame(headers=[1]), None, "headers must be an object", None, id="headers-list"),
    pytest.param(_frame(drop=("body",)), None, "body must be an object", 5, id="no-body"),
    pytest.param(_frame(body="x"), None, "body must be an object", 5, id="body-str"),
    pytest.param(_frame(method="v0.env.nope"), None, "unknown method", 5, id="unknown-method"),
    pytest.param(_frame(), m.CLIENT, "sent by the server", 5, id="reward-to-server"),
    pytest.param(_frame("v0.control.ping", body={}), m.SERVER, "sent by a client", 5, id="ping-to-client"),
    pytest.param(_frame(headers={"sent_at": 1.0, "episode_id": "1"}), None, "message_id", None, id="no-message-id"),
    pytest.param(_frame(headers={**H, "message_id": True}), None, "message_id", None, id="bool-message-id"),
    pytest.param(_frame(headers={**H, "message_id": 1.5}), None, "message_id", None, id="float-message-id"),
    pytest.param(_frame(headers={"message_id": 5, "episode_id": "1"}), None, "sent_at", 5, id="no-sent-at"),
    pytest.param(_frame(headers={**H, "sent_at": "now"}), None, "sent_at", 5, id="str-sent-at"),
    pytest.param(_frame(headers={"message_id": 5, "sent_at": 1.0}), None, "episode_id is missing", 5, id="no-episode"),
    pytest.param(_frame(headers={**H, "episode_id": "one"}), None, "episode_id", 5, id="bad-episode"),
    pytest.param(_frame(headers={**H, "episode_id": -3}), None, "episode_id", 5, id="negative-episode"),
    pytest.param(_frame(headers={**H, "parent_message_id": [1]}), None, "parent_message_id", 5, id="bad-parent"),
    pytest.param(_frame(body={"done": False, "info": {}}), None, "body.reward is missing", 5, id="no-reward"),
    pytest.param(
        _frame(body={"reward": "1", "done": False, "info": {}}),
        None,
        "body.reward must be a number",
        5,
        id="str-reward",
    ),
    pytest.param(
        _frame(body={"reward": True, "done": False, "info": {}}),
        None,
        "body.reward must be a number",
        5,
        id="bool-reward",
    ),
    pytest.param(
        _frame(body={"reward": 1, "done": 0, "info": {}}), None, "body.done must be true or false", 5, id="int-done"
    ),
    pytest.param(
        _frame(body={"reward": 1, "done": False, "info": []}), None, "body.info must be an object", 5, id="list-info"
    ),
    pytest.param(
        _frame("v0.env.describe", body={"env_state": "running", "fps": 60}),
        None,
        "body.env_id is missing",
        5,
        id="describe-no-env",
    ),
    pytest.param(
        _frame("v0.env.describe", body={"env_id": "x", "env_state": "paused", "fps": 60}),
        None,
        "env_state",
        5,
        id="describe-state",
    ),
    pytest.param(
        _frame("v0.env.describe", body={"env_id": "x", "env_state": "running", "fps": 0}),
        None,
        "fps",
        5,
        id="describe-fps-0",
    ),
    pytest.param(
        _frame("v0.env.describe", body={"env_id": 3, "env_state": "running", "fps": 60}),
        None,
        "env_id",
        5,
        id="describe-env-int",
    ),
    pytest.param(_frame("v0.env.text", body={"text": 3}), None, "body.text must be a string", 5, id="text-int"),
    pytest.param(_frame("v0.env.observation", body={}), None, "body.observation is missing", 5, id="no-observation"),
    pytest.param(
        _frame("v0.reply.env.reset", body={}), None, "parent_message_id is missing", 5, id="reset-reply-no-parent"
    ),
    pytest.param(
        _frame("v0.reply.control.ping", headers={"message_id": 5, "sent_at": 1.0}, body={}),
        None,
        "parent_message_id",
        5,
        id="ping-reply-no-parent",
    ),
    pytest.param(_frame("v0.reply.error", body={}), None, "body.message is missing", 5, id="error-no-message"),
    pytest.param(
        _frame("v0.connection.close", body={"message": None}), None, "body.message must be a string", 5, id="close-null"
    ),
    pytest.param(
        _frame("v0.env.reset", body={"env_id": "x", "seed": "7", "fps": 60}), None, "body.seed", 5, id="reset-seed-str"
    ),
    pytest.param(
        _frame("v0.env.reset", body={"env_id": "x", "seed": 1.5, "fps": 60}),
        None,
        "body.seed",
        5,
        id="reset-seed-float",
    ),
    pytest.param(
        _frame("v0.env.reset", body={"env_id": "x", "seed": 1, "fps": -1}), None, "body.fps", 5, id="reset-fps"
    ),
    pytest.param(
        _frame("v0.env.reset", body={"seed": 1, "fps": 60}), None, "body.env_id is missing", 5, id="reset-no-env"
    ),
]


@pytest.mark.parametrize("frame, direction, needle, message_id", BAD)
def test_decode_refuses_malformed(frame, direction, needle, message_id):
    with pytest.raises(m.MessageError) as info:
        m.decode(frame, direction)
    assert isinstance(info.value, ProtocolError)
    assert needle in str(info.value)
    assert info.value.message_id == message_id


def test_decode_keeps_unknown_fields():
    frame = _frame(body={"reward": 1, "done": False, "info": {}, "extra": 1}, headers={**H, "x-new": "y"})
    msg = m.decode(frame, m.SERVER)
    assert msg.body["extra"] == 1 and msg.headers["x-new"] == "y"


def test_decode_accepts_integer_episode_ids_and_string_message_ids():
    msg = m.decode(_frame(headers={"message_id": "abc", "sent_at": 2, "episode_id": 9}))
    assert msg.episode_id == 9 and msg.message_id == "abc"


@pytest.mark.parametrize(
    "build, needle",
    [
        (lambda f: f.describe("x", "paused", 60, 1), "env_state"),
        (lambda f: f.describe("x", "running", 0, 1), "fps"),
        (lambda f: f.describe("", "running", 60, -1), "episode_id"),
        (lambda f: f.reward("lots", False, {}, 1), "reward must be a number"),
        (lambda f: f.reward(float("nan"), False, {}, 1), "finite"),
        (lambda f: f.reward(1.0, False, [1], 1), "info must be an object"),
        (lambda f: f.reward(1.0, False, {}, True), "episode_id"),
        (lambda f: f.text(b"bytes", 1), "text must be a string"),
        (lambda f: f.reset("x", "7", 60), "seed"),
        (lambda f: f.build("v0.env.nope"), "unknown rewarder method"),
        (lambda f: f.build("v0.control.ping", [1]), "body must be a dict"),
    ],
)
def test_builders_refuse_bad_values(build, needle):
    with pytest.raises(UsageError, match=needle):
        build(m.MessageFactory())


def test_encode_refuses_what_json_cannot_carry():
    msg = m.MessageFactory().reward(1.0, False, {"o": object()}, 1)
    with pytest.raises(UsageError, match="cannot encode"):
        m.encode(msg)


def test_numpy_values_from_gymnasium_envs_are_coerced():
    f = m.MessageFactory()
    msg = f.reward(np.float32(0.5), np.bool_(True), {"lives": np.int64(3), "ram": np.arange(3, dtype=np.uint8)}, 2)
    obj = orjson.loads(m.encode(msg))
    assert obj["body"] == {"reward": 0.5, "done": True, "info": {"lives": 3, "ram": [0, 1, 2]}}
    assert type(msg.body["reward"]) is float and msg.body["done"] is True


def test_basic_auth_header_quirk():
    # The password goes in the *username* slot: base64("<password>:").
    assert m.basic_auth_header("openai") == "Basic " + base64.b64encode(b"openai:").decode()
    assert m.parse_basic_auth(m.basic_auth_header("openai")) == "openai"
    assert m.parse_basic_auth(m.basic_auth_header("p:w \u00e9")) == "p"  # the username slot ends at the first colon
    assert m.parse_basic_auth("basic " + base64.b64encode(b"pw:ignored").decode()) == "pw"
    assert m.parse_basic_auth(m.basic_auth_header("")) == ""


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer abc",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:").decode(),
    ],
)
def test_parse_basic_auth_refuses_malformed(header):
    assert m.parse_basic_auth(header) is None


# -- the reward log -----------------------------------------------------------


def test_reward_log_writes_one_complete_line_per_message(tmp_path):
    path = tmp_path / "rewards.jsonl"
    f = m.MessageFactory(clock=lambda: 10.0)
    sent = f.reward(1.0, False, {"k": "v"}, 3)
    with RewardLog(path, label="127.0.0.1:1") as log:
        log.write("send", m.encode(sent), timestamp=11.0)
        log.write("recv", m.encode(f.ping()).decode(), timestamp=12.0)
        log.write("recv", {"method": "v0.env.text", "headers": {}, "body": {"text": "a\nb"}})
        log.write("recv", '{\n  "method": "v0.control.ping",\n "headers": {}, "body": {}}')  # a pretty-printing peer
        log.write_invalid("recv", b"\x00\xffbinary", "binary frame")
        assert log.lines == 5
    assert log.closed
    raw = path.read_bytes()
    assert raw.count(b"\n") == 5 and raw.endswith(b"\n")
    entries = read_log(path)
    assert [e["direction"] for e in entries] == ["send", "recv", "recv", "recv", "recv"]
    assert entries[0] == {"timestamp": 11.0, "direction": "send", "label": "127.0.0.1:1", "message": sent.to_dict()}
    assert entries[1]["timestamp"] == 12.0 and entries[1]["message"]["method"] == "v0.control.ping"
    assert entries[2]["message"]["body"]["text"] == "a\nb"
    assert entries[3]["message"]["method"] == "v0.control.ping"
    assert entries[4]["error"] == "binary frame" and entries[4]["raw"] == "\x00\xffbinary"
    assert all(isinstance(e["timestamp"], float) for e in entries)


def test_reward_log_appends_and_reader_skips_a_torn_line(tmp_path):
    path = tmp_path / "r.jsonl"
    with RewardLog(path) as log:
        log.write("send", {"method": "a"})
    with RewardLog(path) as log:
        log.write("send", {"method": "b"})
    with open(path, "ab") as fh:  # what a kill in the middle of a write could leave
        fh.write(b'{"timestamp": 1, "direc')
    assert [e["message"]["method"] for e in read_log(path)] == ["a", "b"]
    assert os.path.getsize(path) > 0
