"""recognition.evaluate and recognition.retrieve: each dataset scored has its own file, the file says what it
scored, and an existing file is replaced only when asked."""
import json
import os
import shutil

import pytest

from envs.output_lock import OutputLocked, exclusive_output
from recognition.datasets import load_split
from recognition.evaluate import evaluate_to_file
from recognition.retrieve import retrieve, retrieve_to_file
from recognition.task import train
from tests.recognition.test_train import mocap_root, tiny  # noqa: F401  (mocap_root is a fixture)


@pytest.fixture(scope="module")
def checkpoint(mocap_root, tmp_path_factory):  # noqa: F811
    run = str(tmp_path_factory.mktemp("run") / "baseline")
    train(tiny(mocap_root, run))
    return os.path.join(run, "checkpoints", "best.pt")


def test_evaluate_writes_one_file_per_dataset_that_says_what_it_scored(mocap_root, checkpoint, tmp_path):  # noqa: F811
    folder = os.path.dirname(checkpoint)
    out, scores = evaluate_to_file(checkpoint)
    name = os.path.basename(os.path.normpath(mocap_root))
    assert out == os.path.join(folder, f"eval_test_mocap_{name}.json")
    record = json.load(open(out))
    assert record["scores"] == scores and record["data_root"] == os.path.abspath(mocap_root)
    assert (record["dataset"], record["protocol"], record["split"]) == ("mocap", "mocap", "test")
    assert record["fingerprint"]["videos"] == {"test": len(load_split("mocap", mocap_root, "mocap", "test").records)}
    assert os.path.exists(os.path.join(folder, f"per_class_test_mocap_{name}.md"))
    assert os.path.exists(os.path.join(folder, "plots", f"confusion_test_mocap_{name}.png"))
    with pytest.raises(FileExistsError, match=f"eval_test_mocap_{name}.json already exists; .*overwrite=true"):
        evaluate_to_file(checkpoint)
    with exclusive_output(out):  # another evaluation writing it: refused, even with overwrite=true
        with pytest.raises(OutputLocked, match=f"PID {os.getpid()}"):
            evaluate_to_file(checkpoint, overwrite=True)
    assert evaluate_to_file(checkpoint, overwrite=True)[1] == scores
    copy = str(tmp_path / "mocap_copy")  # the same videos elsewhere: another file, the same fingerprint
    shutil.copytree(mocap_root, copy)
    other, again = evaluate_to_file(checkpoint, data_root=copy)
    assert os.path.basename(other) == "eval_test_mocap_mocap_copy.json" and again == scores
    assert json.load(open(other))["fingerprint"] == record["fingerprint"] and json.load(open(out)) == record


def test_retrieve_writes_its_file_once_with_both_sides(mocap_root, checkpoint, tmp_path):  # noqa: F811
    spec = {"dataset": "mocap", "protocol": "mocap", "data_root": mocap_root}
    gallery, query = {**spec, "split": "train"}, {**spec, "split": "test"}
    out, recalls = retrieve_to_file(checkpoint, gallery, query)
    assert os.path.basename(out) == "retrieval_mocap-mocap-train_to_mocap-mocap-test.json"
    record = json.load(open(out))
    assert record["recalls"] == recalls == retrieve(checkpoint, gallery, query)
    assert record["gallery"]["split"] == "train" and record["query"]["data_root"] == os.path.abspath(mocap_root)
    train_videos = len(load_split("mocap", mocap_root, "mocap", "train").records)
    assert record["gallery"]["fingerprint"]["videos"] == {"train": train_videos}
    with pytest.raises(FileExistsError, match="already exists; .*overwrite=true"):
        retrieve_to_file(checkpoint, gallery, query)
    mine = str(tmp_path / "mine.json")
    with exclusive_output(mine):
        with pytest.raises(OutputLocked, match=f"PID {os.getpid()}"):
            retrieve_to_file(checkpoint, gallery, query, out=mine)
    assert not os.path.exists(mine)
    assert retrieve_to_file(checkpoint, gallery, query, out=mine)[0] == mine
    assert json.load(open(mine))["recalls"] == recalls
