"""Issue 25's generation cases: one writer per output, dead workers, merges that must refuse, errors in one
line (unwritable or full disk, bad settings, corrupt chunks), and SIGTERM during re-rendering."""
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple

import h5py
import numpy as np
import pytest

from envs import generate
from envs.commands import demos_in
from envs.dataset_io import DatasetFormatError, EpisodeFile, EpisodeWriter, merge_files, shard_path
from envs.generate import generate_dataset
from envs.output_lock import OutputLocked, OutputNotWritable, exclusive_output, lock_holders, unwritten_input
from envs.preview import write_preview, write_video
from envs.rerender import rerender_dataset
from tests.envs.test_dataset_io import SMALL, temps, wait_for_demos

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two shards of a 4-demo Pick file."""
    out = str(tmp_path_factory.mktemp("shards") / "pick.hdf5")
    for shard in (0, 1):
        generate_dataset(out=out, episodes=4, shard=shard, num_shards=2, **SMALL)
    return [shard_path(out, s, 2) for s in (0, 1)]


def command(module, *args, **popen):
    """``python -m module args`` from the repository root."""
    return subprocess.Popen([sys.executable, "-m", module, *args, "hydra/job_logging=disabled"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def one_line_error(proc, timeout=120):
    """The command failed with exit code 1 and said why on one line (its last on stderr, after any progress
    bar), without a traceback."""
    _, err = proc.communicate(timeout=timeout)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 1 and "Traceback" not in err and len(errors) == 1, err
    assert err.strip().splitlines()[-1] == errors[0], err
    return errors[0]


@contextlib.contextmanager
def held_lock(output):
    """Another process holding ``output``'s lock."""
    code = ("import sys, time; from envs.output_lock import exclusive_output\n"
            "with exclusive_output(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code, output], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def corrupt_chunk(path, key="cam0_image", chunk=1):
    """Flip bytes in the middle of one stored chunk of the first demo, as a bad disk or a torn copy would."""
    with EpisodeFile(path) as f:
        info = f.demo(f.demos[0])["obs"][key].id.get_chunk_info(chunk)
    with open(path, "r+b") as f:
        f.seek(info.byte_offset + info.size // 2)
        original = f.read(8)
        f.seek(info.byte_offset + info.size // 2)
        f.write(bytes(b ^ 0xFF for b in original))


@contextlib.contextmanager
def mounted_tmpfs(folder, options):
    """A tmpfs at ``folder`` (a small or read-only disk); skips where this user cannot mount."""
    os.makedirs(folder)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", folder], capture_output=True)
    if proc.returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", folder], check=True)


# -- one writer per output ---------------------------------------------------------------------------------

def test_output_lock_refuses_a_second_holder_and_is_released_when_the_holder_is_killed(tmp_path):
    out = str(tmp_path / "x.hdf5")
    with held_lock(out) as holder:
        with pytest.raises(OutputLocked, match=f"PID {holder.pid}"):
            with exclusive_output(out):
                pass
        holder.kill()  # SIGKILL: no cleanup runs, the kernel drops the lock with the process
        holder.wait()
        with exclusive_output(out):
            pass


def test_a_second_generate_into_the_same_output_is_refused_naming_the_first(tmp_path):
    out = str(tmp_path / "pick.hdf5")
    first = command("envs.generate", "env=pick", "episodes=200", "image_size=32", "num_views=2", "num_workers=1",
                    f"out={out}")
    try:
        wait_for_demos(out, 1, first)
        with pytest.raises(OutputLocked, match=f"PID {first.pid}"):
            generate_dataset(out=out, episodes=2, **{**SMALL, "image_size": 24})  # other settings, as in the issue
    finally:
        first.kill()
        first.wait()


def test_rerender_and_merge_are_refused_while_their_output_is_written(tmp_path, shards):
    out = str(tmp_path / "out.hdf5")
    with held_lock(out) as holder:
        with pytest.raises(OutputLocked, match=f"PID {holder.pid}"):
            rerender_dataset(shards[0], out, progress=False)
        with pytest.raises(OutputLocked, match=f"PID {holder.pid}"):
            merge_files(shards, out)
    assert not os.path.exists(out) and not temps(tmp_path)


def test_a_finished_output_is_found_finished_while_another_run_holds_its_lock(tmp_path, shards):
    # Grids started together each ask for the same finished demo file: none may be refused for the lock.
    out, rerendered = str(tmp_path / "pick.hdf5"), str(tmp_path / "rerendered.hdf5")
    generate_dataset(out=out, episodes=2, **SMALL)
    first = rerender_dataset(shards[0], rerendered, progress=False)
    assert first["demos"] > 0 and first["skipped_existing"] == 0
    landed = os.path.getmtime(out), os.path.getmtime(rerendered)
    with held_lock(out), held_lock(rerendered):
        assert generate_dataset(out=out, episodes=2, **SMALL)["skipped_existing"] == 2
        again = rerender_dataset(shards[0], rerendered, progress=False)
        assert (again["demos"], again["frames"], again["skipped_existing"]) == (0, 0, first["demos"])
        with pytest.raises(OutputLocked):  # one demo more to make: a writer, and refused
            generate_dataset(out=out, episodes=3, **SMALL)
    assert (os.path.getmtime(out), os.path.getmtime(rerendered)) == landed


def test_the_lock_is_taken_before_stale_temp_files_are_cleaned(tmp_path, monkeypatch):
    out = str(tmp_path / "x.hdf5")
    cleaned = []
    monkeypatch.setattr("envs.dataset_io.remove_stale_temps", cleaned.append)
    with held_lock(out):
        with pytest.raises(OutputLocked):
            EpisodeWriter(out, {}, {}).__enter__()
    assert not cleaned


# -- a dead worker ------------------------------------------------------------------------------------------

def workers_of(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = [int(c) for c in f.read().split()]
    spawned = []
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                spawned.append(child)
    return spawned


def test_a_killed_worker_ends_generation_in_one_line_keeping_the_finished_demos(tmp_path):
    out = str(tmp_path / "pick.hdf5")
    proc = command("envs.generate", "env=pick", "episodes=200", "image_size=32", "num_views=2", "num_workers=2",
                   f"out={out}")
    try:
        wait_for_demos(out, 1, proc)
        workers = workers_of(proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)  # as the OOM killer does
        line = one_line_error(proc, timeout=60)  # multiprocessing.Pool waited here forever
    finally:
        proc.kill()
        proc.wait()
    died = re.search(r"the worker making (demo_\d+) died \(killed by SIGKILL, e.g. by the out-of-memory killer\)", line)
    kept = re.search(r"keeps the (\d+) demos finished so far: run the same command again to resume", line)
    assert died and kept, line
    with EpisodeFile(out) as f:
        assert len(f.demos) == int(kept.group(1)) >= 1 and died.group(1) not in f.demos
    assert not temps(tmp_path)


def descendants(pid):
    """Every process below ``pid`` (workers, and multiprocessing's resource tracker), read from /proc."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in os.listdir(f"/proc/{parent}/task"):
            with contextlib.suppress(FileNotFoundError), open(f"/proc/{parent}/task/{task}/children") as f:
                children = [int(c) for c in f.read().split()]
                found += children
                todo += children
    return found


def running(pid):
    """Whether ``pid`` is a live process (an exited one may linger as a zombie until it is reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until_gone(pids, timeout=5):
    """The pids still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if running(p)]


@pytest.mark.parametrize("to", ["parent", "process group"])
def test_sigterm_with_two_workers_keeps_the_finished_demos_ends_every_worker_and_resumes(tmp_path, to):
    """SIGTERM from ``kill PID`` (the parent alone) or from a scheduler or ``kill -- -PGID`` (the workers as
    well, which then die before the parent has stopped them)."""
    out, episodes = str(tmp_path / "pick.hdf5"), 6
    args = ("envs.generate", "env=pick", f"episodes={episodes}", "image_size=32", "num_views=2", "num_workers=2",
            f"out={out}")
    proc = command(*args, start_new_session=True)
    try:
        wait_for_demos(out, 1, proc)
        assert len(workers_of(proc.pid)) == 2
        children = descendants(proc.pid)
        sent = time.monotonic()
        if to == "parent":
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        seconds = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130 and "Traceback" not in err and seconds < 5, (seconds, err)
    kept = re.fullmatch(rf"stopped: kept (\d+) demos in {re.escape(out)}; run the same command again to finish",
                        err.strip().splitlines()[-1])
    assert kept, err
    with EpisodeFile(out) as f:
        assert len(f.demos) == int(kept.group(1))
    assert 1 <= int(kept.group(1)) < episodes  # it was stopped mid-run, so the rerun has work to resume
    assert not wait_until_gone(children) and not temps(tmp_path)
    again = command(*args)
    stdout, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"{episodes - int(kept.group(1))} new episodes" in stdout, stdout
    with EpisodeFile(out) as f:
        assert f.demos == [f"demo_{i}" for i in range(episodes)]


def test_an_error_in_a_worker_reaches_the_parent_with_its_type():
    with pytest.raises(ValueError, match="unknown minecraft backend"):
        with generate.WorkerPool(2, generate._start_simulator, ("minecraft", "nope", {}), generate._run) as pool:
            list(pool.imap_unordered([(0,), (1,)]))


def test_leaving_the_pool_ends_its_workers_even_in_the_middle_of_a_job():
    import time

    started = time.monotonic()
    with generate.WorkerPool(2, int, (), time.sleep) as pool:
        processes = [process for process, _ in pool.workers]
        pool.workers[0][1].send(60)  # a job that would run for a minute
        assert all(process.is_alive() for process in processes)
    assert not any(process.is_alive() for process in processes) and pool.workers == []
    assert time.monotonic() - started < 30  # ended, not waited for


# -- merges -------------------------------------------------------------------------------------------------

def test_merge_refuses_a_shard_with_a_corrupt_chunk_before_writing(tmp_path, shards):
    bad = str(tmp_path / "bad.hdf5")
    shutil.copyfile(shards[1], bad)
    corrupt_chunk(bad)
    out = str(tmp_path / "merged.hdf5")
    with pytest.raises(DatasetFormatError, match=r"bad\.hdf5: /data/demo_\d+/obs/cam0_image cannot be read"):
        merge_files([shards[0], bad], out)
    assert not os.path.exists(out) and not temps(tmp_path)
    with EpisodeFile(bad) as f, pytest.raises(DatasetFormatError, match="cam0_image cannot be read"):
        f.view_obs(f.demos[0], "cam0", "image")  # the checksum catches it wherever the file is read


def write_robomimic_file(path, env_name, demos):
    """A raw robomimic file (no generation settings, no obs): states, actions and num_samples per demo."""
    with h5py.File(path, "w") as f:
        f.create_group("data").attrs["env_args"] = json.dumps({"env_name": env_name, "type": 1, "env_kwargs": {}})
        for i, value in enumerate(demos):
            demo = f.create_group(f"data/demo_{i}")
            demo.attrs["num_samples"] = 3
            demo.create_dataset("states", data=np.full((3, 4), value))
            demo.create_dataset("actions", data=np.zeros((3, 7)))


def test_merge_refuses_files_of_different_envs(tmp_path):
    lift, can = str(tmp_path / "lift.hdf5"), str(tmp_path / "can.hdf5")
    write_robomimic_file(lift, "Lift", [1, 2])
    write_robomimic_file(can, "PickPlaceCan", [3])
    out = str(tmp_path / "merged.hdf5")
    with pytest.raises(ValueError, match="'PickPlaceCan' demos and .*'Lift'.*different envs"):
        merge_files([lift, can], out)
    assert not os.path.exists(out)


def test_merge_renumbers_colliding_robomimic_demos_rather_than_dropping_them(tmp_path):
    a, b = str(tmp_path / "a.hdf5"), str(tmp_path / "b.hdf5")
    write_robomimic_file(a, "Lift", [1, 2])
    write_robomimic_file(b, "Lift", [3])
    out = str(tmp_path / "merged.hdf5")
    assert merge_files([a, b], out) == 3
    with EpisodeFile(out) as f:
        assert f.demos == ["demo_0", "demo_1", "demo_2"] and f.env_args["env_name"] == "Lift"
        assert [f.array(d, "states")[0, 0] for d in f.demos] == [1, 2, 3]
    with pytest.raises(ValueError, match="exists"):  # renumbered names cannot resume into an old file
        merge_files([a, b], out)


def test_merge_refuses_overlapping_generated_shards(tmp_path, shards):
    again = str(tmp_path / "again.hdf5")
    shutil.copyfile(shards[0], again)
    with pytest.raises(ValueError, match=r"data/demo_0 is in both .* overlap"):
        merge_files([shards[0], shards[1], again], str(tmp_path / "merged.hdf5"))



def test_merge_refuses_a_missing_shard_unless_partial(tmp_path, shards):
    out = str(tmp_path / "merged.hdf5")
    with pytest.raises(ValueError, match=r"2 of the 4 demos the inputs' jobs were asked to make are in none of them "
                                         r"\(demo_1, demo_3; shard 1 of num_shards=2\).*partial=true"):
        merge_files([shards[0]], out)
    assert not os.path.exists(out)
    assert merge_files([shards[0]], out, partial=True) == 2
    # the partial merge keeps the plan: merged with the rest later, it is whole; given alone again, refused
    assert merge_files([out, shards[1]], str(tmp_path / "whole.hdf5")) == 4
    with pytest.raises(ValueError, match=r"2 of the 4 demos"):
        merge_files([out], str(tmp_path / "again.hdf5"))
    line = one_line_error(command("envs.merge", f"out={tmp_path / 'cli.hdf5'}", f"inputs={shards[0]}"))
    assert "shard 1 of num_shards=2" in line
    cli = command("envs.merge", f"out={tmp_path / 'cli.hdf5'}", f"inputs={shards[0]}", "partial=true")
    assert cli.wait(timeout=120) == 0 and demos_in(str(tmp_path / "cli.hdf5")) == 2


def test_merge_refuses_a_shard_stopped_short_unless_partial(tmp_path, shards):
    short = str(tmp_path / "pick.shard001-of-002.hdf5")
    shutil.copyfile(shards[1], short)
    with h5py.File(short, "a") as f:  # what a shard killed after its first demo holds
        assert json.loads(f.attrs["planned_demos"]) == [[0, 4]]
        del f["data/demo_3"]
    out = str(tmp_path / "merged.hdf5")
    with pytest.raises(ValueError, match=r"1 of the 4 demos .* \(demo_3; shard 1 of num_shards=2\): .* run the "
                                         r"unfinished ones again"):
        merge_files([shards[0], short], out)
    assert not os.path.exists(out)
    assert merge_files([shards[0], short], out, partial=True) == 3


def test_merge_refuses_a_shard_not_yet_run_again_with_more_episodes(tmp_path, shards):
    # the job array resubmitted with episodes=6: shard 0 has run (its plan is 6 demos), shard 1 not yet
    copies = [str(tmp_path / os.path.basename(p)) for p in shards]
    for src, dst in zip(shards, copies):
        shutil.copyfile(src, dst)
    generate_dataset(out=str(tmp_path / "pick.hdf5"), episodes=6, shard=0, num_shards=2, **SMALL)
    with pytest.raises(ValueError, match=r"1 of the 6 demos .* \(demo_5; shard 1 of num_shards=2\)"):
        merge_files(copies, str(tmp_path / "merged.hdf5"))


def test_a_shard_run_again_with_fewer_episodes_plans_fewer(tmp_path, shards):
    # a run asked for 8 demos was killed after 4; asked again for 4, it is finished, and plans 4
    copy = str(tmp_path / os.path.basename(shards[1]))
    shutil.copyfile(shards[1], copy)
    with h5py.File(copy, "a") as f:
        f.attrs["planned_demos"] = json.dumps([[0, 8]])
    summary = generate_dataset(out=str(tmp_path / "pick.hdf5"), episodes=4, shard=1, num_shards=2, **SMALL)
    assert summary["episodes"] == 0 and summary["skipped_existing"] == 2
    with h5py.File(copy, "r") as f:
        assert json.loads(f.attrs["planned_demos"]) == [[0, 4]]


def test_merge_takes_a_shard_asked_for_no_demos(tmp_path):
    out = str(tmp_path / "pick.hdf5")
    for shard in range(4):  # 3 episodes over 4 shards: the last makes none
        generate_dataset(out=out, episodes=3, shard=shard, num_shards=4, **SMALL)
    parts = [shard_path(out, s, 4) for s in range(4)]
    assert demos_in(parts[3]) == 0
    assert merge_files(parts, str(tmp_path / "merged.hdf5")) == 3
    assert merge_files(parts[::-1], str(tmp_path / "reversed.hdf5")) == 3  # the empty shard first


def test_merge_refuses_a_shard_still_being_written_and_keeps_writers_out(tmp_path, shards, monkeypatch):
    out = str(tmp_path / "merged.hdf5")
    with held_lock(shards[1]) as writer:
        with pytest.raises(OutputLocked, match=f"pick.shard001-of-002.hdf5 is being written .*PID {writer.pid}"):
            merge_files(shards, out)
    assert not os.path.exists(out) and not temps(tmp_path)
    refused = []

    def a_writer_starts(demo, path):  # while the merge copies its demos
        with pytest.raises(OutputLocked, match=rf"is being read by a merge \(PID {os.getpid()}\)") as err:
            with exclusive_output(shards[1]):
                pass
        refused.append(err)
    monkeypatch.setattr("envs.dataset_io.check_readable", a_writer_starts)
    assert merge_files(shards, out) == 4 and len(refused) == 4
    with unwritten_input(shards[1]), unwritten_input(shards[1]):  # readers do not keep each other out
        pass


def test_lock_holders_are_read_from_the_kernels_list_for_this_file_only(tmp_path):
    path = tmp_path / "out.hdf5.lock"
    path.write_text("")
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        mine = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        listed = tmp_path / "locks"
        listed.write_text(f"1: FLOCK  ADVISORY  READ 101 {mine} 0 EOF\n"
                          f"2: FLOCK  ADVISORY  READ 77 {mine} 0 EOF\n"
                          f"2: -> FLOCK  ADVISORY  WRITE 55 {mine} 0 EOF\n"  # waiting, not holding
                          f"3: POSIX  ADVISORY  WRITE 66 {mine} 0 EOF\n"  # fcntl's own locks: not ours
                          f"4: FLOCK  ADVISORY  WRITE 88 {mine}0 0 EOF\n")  # another inode
        assert lock_holders(fd, str(listed)) == [77, 101]
        assert lock_holders(fd, str(tmp_path / "absent")) == []  # not Linux: no PIDs, still a refusal
    finally:
        os.close(fd)


def test_a_lock_is_one_however_its_path_is_spelt(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "out.hdf5").write_bytes(b"")
    os.symlink(real / "out.hdf5", tmp_path / "alias.hdf5")  # a shard given to a merge through a link
    with exclusive_output(str(real / "out.hdf5")), pytest.raises(OutputLocked):
        with unwritten_input(str(tmp_path / "alias.hdf5")):
            pass


def test_a_filesystem_without_locks_is_named_and_needs_none_to_read(tmp_path, monkeypatch):
    def refused(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr("envs.output_lock.fcntl.flock", refused)
    out = str(tmp_path / "out.hdf5")
    with pytest.raises(OSError, match=rf"cannot lock {re.escape(out)}: the filesystem of {re.escape(str(tmp_path))} "
                                      r"does not support file locks \(No locks available\); write it on a local disk"):
        with exclusive_output(out):
            pass
    with unwritten_input(out):  # no writer could lock it there either: an input is read without
        pass


# -- errors in one line ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["image_size=abc"], "image_size must be a whole number >= 8, got 'abc'"),
    (["shard=2", "num_shards=2"], r"shard must be in 0..num_shards-1 \(num_shards=2\), got shard=2"),
    (["out={tmp}"], r"the output .* is a folder; name a file in it"),
])
def test_bad_generate_settings_are_one_line_and_write_nothing(tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    if not any(a.startswith("out=") for a in args):
        args.append(f"out={tmp_path / 'x.hdf5'}")
    line = one_line_error(command("envs.generate", "env=pick", "episodes=1", *args))
    assert re.search(message, line), line
    assert not [p for p in os.listdir(tmp_path) if not p.endswith(".lock")]  # no empty shard file


def unwritable_output(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return str(folder / "x.hdf5")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; see the read-only mount test")
def test_an_unwritable_folder_is_named_with_the_fix(tmp_path):
    out = unwritable_output(tmp_path)
    with pytest.raises(OutputNotWritable, match=f"cannot write {re.escape(out)}: Permission denied .* folder you can"):
        generate_dataset(out=out, episodes=1, **SMALL)


def test_a_read_only_disk_is_named_with_the_fix(tmp_path):
    with mounted_tmpfs(str(tmp_path / "ro"), "ro,size=1m") as folder:
        out = os.path.join(folder, "x.hdf5")
        line = one_line_error(command("envs.generate", "env=pick", "episodes=1", f"out={out}"))
    assert f"cannot write {out}: Read-only file system" in line and ".tmp" not in line, line


def test_a_full_disk_keeps_the_committed_demos_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "check_disk_space", lambda *args: None)  # let it run into the full disk
    with mounted_tmpfs(str(tmp_path / "disk"), "size=12m") as folder:
        out = os.path.join(folder, "pick.hdf5")
        with pytest.raises(OutputNotWritable, match=r"no space left on the disk of .* keeps the (\d+) demos") as err:
            generate_dataset(out=out, episodes=20, **SMALL)
        kept = int(re.search(r"keeps the (\d+) demos", str(err.value)).group(1))
        with EpisodeFile(out) as f:
            assert len(f.demos) == kept >= 1
        assert not temps(folder)


def test_a_write_that_runs_out_of_space_abandons_only_the_uncommitted_demo(tmp_path, monkeypatch):
    real = EpisodeWriter._write_demo
    calls = []

    def fill_the_disk_at_the_second_demo(self, group, episode):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, group, episode)

    monkeypatch.setattr(EpisodeWriter, "_write_demo", fill_the_disk_at_the_second_demo)
    out = str(tmp_path / "pick.hdf5")
    with pytest.raises(OutputNotWritable, match=r"no space left .* keeps the 1 demos finished before; the same "
                                                r"command resumes"):
        generate_dataset(out=out, episodes=3, **SMALL)
    with EpisodeFile(out) as f:
        assert f.demos == ["demo_0"]
    assert not temps(tmp_path)


def test_a_disk_too_small_for_the_run_is_refused_up_front(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(OutputNotWritable, match=r"50 demos .* need at least \d+ MiB on the disk of .* which has 1 MiB"):
        generate_dataset(out=str(tmp_path / "x.hdf5"), episodes=50, **SMALL)
    assert not [p for p in os.listdir(tmp_path) if not p.endswith(".lock")]


def test_preview_names_a_corrupt_chunk_in_one_line(tmp_path, shards):
    bad = str(tmp_path / "bad.hdf5")
    shutil.copyfile(shards[0], bad)
    corrupt_chunk(bad)
    line = one_line_error(command("envs.preview", f"file={bad}", "demo=0", f"out={tmp_path / 'p.mp4'}"))
    assert f"{bad}: /data/demo_0/obs/cam0_image cannot be read" in line and "generate it again" in line, line
    assert not os.path.exists(tmp_path / "p.mp4") and not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_preview_refuses_a_missing_demo_and_a_file_without_images(tmp_path, shards):
    with pytest.raises(ValueError, match="has no demo_7; it holds 2 demos"):
        write_preview(shards[0], 7, str(tmp_path / "p.gif"))
    raw = str(tmp_path / "raw.hdf5")
    write_robomimic_file(raw, "Lift", [1])
    with pytest.raises(ValueError, match="holds no camera images"):
        write_preview(raw, 0, str(tmp_path / "p.gif"))


def test_an_odd_sized_mp4_is_written(tmp_path):
    import imageio.v2 as imageio

    out = write_video([np.full((45, 45, 3), 40 * i, np.uint8) for i in range(5)], str(tmp_path / "odd.mp4"))
    assert imageio.mimread(out)[0].shape[:2] == (46, 46) and os.listdir(tmp_path) == ["odd.mp4"]


# -- SIGTERM while re-rendering ------------------------------------------------------------------------------

def test_sigterm_stops_rerender_keeping_every_finished_demo(tmp_path):
    source = str(tmp_path / "pick.hdf5")
    generate_dataset(out=source, episodes=10, **{**SMALL, "num_views": 1})
    out = str(tmp_path / "views.hdf5")
    proc = command("envs.rerender", f"input={source}", f"out={out}", "num_views=4", "image_size=64")
    wait_for_demos(out, 1, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    kept = int(re.search(r"stopped: kept (\d+) demos", err).group(1))
    with EpisodeFile(out) as f:
        assert len(f.demos) == kept >= 1
    assert not temps(tmp_path)
