"""RewardBuffer (sans-IO): sums, done latch, boundary crossing, stale ids, masking, restarts, threads."""

from __future__ import annotations

import threading

from vncenv.rewarder.buffer import RewardBuffer


def running(buf: RewardBuffer, episode: int, env_id: str = "Pong-v0") -> None:
    buf.on_describe(episode, env_id, "running", 60.0)


def test_empty_pop():
    reward, done, info = RewardBuffer().pop()
    assert (reward, done) == (0.0, False)
    assert info["episode_id"] is None and info["reward_count"] == 0
    assert info["text"] == [] and info["observations"] == [] and info["env_info"] == {}


def test_rewards_sum_and_done_latches_between_pops():
    buf = RewardBuffer()
    running(buf, 0)
    buf.on_reward(0, 1.0, False, {"a": 1})
    buf.on_reward(0, 2.0, True, {"b": 2})
    buf.on_reward(0, 3.0, False, {"a": 3})  # a late reward of the done episode still sums into this step
    reward, done, info = buf.pop()
    assert (reward, done) == (6.0, True)
    assert info["reward_count"] == 3
    assert info["env_info"] == {"a": 3, "b": 2}
    assert info["completed_episode_id"] == 0
    assert "artificial_done" not in info


def test_pop_resets_the_sum_but_keeps_the_episode():
    buf = RewardBuffer()
    running(buf, 4)
    buf.on_reward(4, 1.0, False)
    assert buf.pop()[:2] == (1.0, False)
    r, d, info = buf.pop()
    assert (r, d, info["episode_id"], info["env_state"], info["reward_count"]) == (0.0, False, 4, "running", 0)
    buf.on_reward(4, 0.5, False)
    assert buf.pop()[:2] == (0.5, False)


def test_crossing_returns_old_reward_and_done_with_new_episode_id():
    buf = RewardBuffer()
    running(buf, 1)
    buf.on_reward(1, 1.0, False)
    buf.on_reward(1, 1.0, True)
    # The remote reset itself before the agent stepped again.
    buf.on_describe(2, "Pong-v0", "resetting", 60.0)
    buf.on_describe(2, "Pong-v0", "running", 60.0)
    buf.on_reward(2, 10.0, False)
    reward, done, info = buf.pop()
    assert (reward, done) == (2.0, True)
    assert info["episode_id"] == 2 and info["completed_episode_id"] == 1
    assert info["env_state"] == "running"
    # The new episode's rewards come with the next step.
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"]) == (10.0, False, 2)
    assert "completed_episode_id" not in info


def test_done_before_the_next_episode_begins():
    buf = RewardBuffer()
    running(buf, 1)
    buf.on_reward(1, 5.0, True)
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"], info["completed_episode_id"]) == (5.0, True, None, 1)
    # Nothing in between episodes; no second done.
    assert buf.pop()[:2] == (0.0, False)
    buf.on_reward(1, 9.0, False)  # stale: episode 1 is over
    buf.on_describe(2, "Pong-v0", "running", 60.0)
    buf.on_reward(2, 1.0, False)
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"]) == (1.0, False, 2)
    assert buf.stats()["dropped_stale"] == 1


def test_stale_ids_are_dropped():
    buf = RewardBuffer()
    running(buf, 5)
    assert buf.on_reward(5, 1.0, False)
    assert not buf.on_reward(4, 100.0, False)
    assert not buf.on_reward(0, 100.0, True)
    assert buf.pop()[:2] == (1.0, False)
    s = buf.stats()
    assert s["dropped_stale"] == 2 and s["rewards"] == 3 and s["rewards_kept"] == 1


def test_a_newer_episode_without_done_ends_the_old_one_artificially():
    buf = RewardBuffer()
    running(buf, 1)
    buf.on_reward(1, 1.0, False)
    buf.on_reward(2, 7.0, False)  # no done for 1 ever came (e.g. lost in a reconnect)
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"], info["artificial_done"]) == (1.0, True, 2, True)
    assert buf.pop()[:2] == (7.0, False)


def test_several_episodes_in_one_step_skip_to_the_newest():
    buf = RewardBuffer()
    running(buf, 1)
    buf.on_reward(1, 1.0, True)
    buf.on_reward(2, 2.0, True)
    buf.on_reward(3, 3.0, False)
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"], info["completed_episode_id"]) == (1.0, True, 3, 1)
    assert buf.pop()[:2] == (3.0, False)
    assert not buf.on_reward(2, 2.0, False)
    assert buf.stats()["episodes_skipped"] == 1


def test_reset_masks_until_the_reply():
    buf = RewardBuffer()
    running(buf, 3)
    buf.on_reward(3, 1.0, False)
    buf.mask()
    assert buf.masked
    assert not buf.on_reward(3, 1.0, True)  # the old episode, after our reset request
    buf.on_describe(4, "Pong-v0", "resetting", 60.0)
    assert buf.pop()[:2] == (0.0, False)  # the old episode's rewards are gone with the reset
    buf.on_reset_reply(4)
    assert not buf.masked and buf.episode_id == 4
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"], info["env_state"]) == (0.0, False, 4, "resetting")
    buf.on_describe(4, "Pong-v0", "running", 60.0)
    buf.on_reward(4, 2.0, False)
    buf.on_reward(3, 50.0, False)  # stale
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"], info["env_state"]) == (2.0, False, 4, "running")
    s = buf.stats()
    assert s["dropped_masked"] == 1 and s["dropped_stale"] == 1


def test_unmask_after_a_failed_reset():
    buf = RewardBuffer()
    running(buf, 3)
    buf.mask()
    buf.unmask()
    buf.on_reward(3, 1.0, False)
    assert buf.pop()[:2] == (1.0, False)
    assert buf.episode_id == 3


def test_text_and_observations_are_kept_whatever_the_episode():
    buf = RewardBuffer()
    running(buf, 2)
    buf.on_text(2, "hello")
    buf.on_text(1, "stale but kept")
    buf.mask()
    buf.on_observation(None, {"x": 1})
    buf.on_reset_reply(3)
    buf.on_text(3, "new")
    _, _, info = buf.pop()
    assert info["text"] == ["hello", "stale but kept", "new"]
    assert info["observations"] == [{"x": 1}]
    _, _, info = buf.pop()
    assert info["text"] == [] and info["observations"] == []


def test_text_is_bounded():
    buf = RewardBuffer(max_text=3, max_observations=2)
    for i in range(5):
        buf.on_text(None, str(i))
        buf.on_observation(None, i)
    _, _, info = buf.pop()
    assert info["text"] == ["2", "3", "4"] and info["observations"] == [3, 4]
    assert buf.stats()["text_dropped"] == 2 and buf.stats()["observations_dropped"] == 3


def test_a_newer_text_id_announces_the_episode():
    buf = RewardBuffer()
    running(buf, 1)
    buf.on_text(2, "level 2")
    reward, done, info = buf.pop()
    assert done and info["episode_id"] == 2 and info["artificial_done"]


def test_reconnect_to_the_same_episode_continues_it():
    buf = RewardBuffer()
    buf.on_connect()
    running(buf, 7)
    buf.on_reward(7, 1.0, False)
    buf.on_connect()
    running(buf, 7)
    buf.on_reward(7, 2.0, False)
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"]) == (3.0, False, 7)
    assert buf.stats()["remote_restarts"] == 0


def test_a_restarted_remote_counting_from_zero_ends_the_episode():
    buf = RewardBuffer()
    buf.on_connect()
    running(buf, 7)
    buf.on_reward(7, 1.0, False)
    buf.on_connect()
    running(buf, 0)  # the remote restarted: its ids start again
    buf.on_reward(0, 4.0, False)
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"], info["completed_episode_id"]) == (1.0, True, 0, 7)
    assert info["artificial_done"]
    assert buf.pop()[:2] == (4.0, False)
    buf.on_reward(1, 1.0, True)  # the new epoch's episode 1 ends episode 0
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"], info["artificial_done"]) == (0.0, True, 1, True)
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"], info["completed_episode_id"]) == (1.0, True, None, 1)
    assert buf.stats()["remote_restarts"] == 1


def test_lower_id_on_the_same_connection_is_stale_not_a_restart():
    buf = RewardBuffer()
    buf.on_connect()
    running(buf, 7)
    buf.on_describe(3, "Pong-v0", "running", 60.0)
    buf.on_reward(3, 1.0, False)
    assert buf.pop()[:2] == (0.0, False)
    assert buf.stats()["remote_restarts"] == 0


def test_observer_adopts_the_running_episode():
    buf = RewardBuffer()
    buf.on_reward(12, 1.0, False)  # no describe yet: the first id seen is the episode
    assert buf.episode_id == 12
    assert buf.remote["episode_id"] is None
    running(buf, 12, env_id="Breakout-v0")
    assert buf.remote == {"env_id": "Breakout-v0", "env_state": "running", "fps": 60.0, "episode_id": 12}


def test_concurrent_push_and_pop_lose_nothing():
    buf = RewardBuffer()
    running(buf, 0)
    n_threads, per_thread = 4, 10_000
    total = [0.0, 0]
    stop = threading.Event()

    def consumer():
        while not stop.is_set():
            r, _, info = buf.pop()
            total[0] += r
            total[1] += info["reward_count"]

    def producer():
        for _ in range(per_thread):
            buf.on_reward(0, 1.0, False)

    c = threading.Thread(target=consumer)
    c.start()
    producers = [threading.Thread(target=producer) for _ in range(n_threads)]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    stop.set()
    c.join()
    r, _, info = buf.pop()
    total[0] += r
    total[1] += info["reward_count"]
    assert total == [float(n_threads * per_thread), n_threads * per_thread]


def test_a_late_message_for_an_episode_the_remote_left_is_stale():
    buf = RewardBuffer()
    running(buf, 1)
    buf.on_reward(1, 1.0, True)
    running(buf, 2)
    assert not buf.on_reward(1, 100.0, False)  # not yet popped, but the remote moved on
    reward, done, info = buf.pop()
    assert (reward, done, info["episode_id"]) == (1.0, True, 2)
    assert buf.stats()["dropped_stale"] == 1
