"""Run plumbing: clearing a run directory, reading weight files, and loading pretrained backbones."""
import os
import pickle

import pytest
import timm
import torch

from poseaware import PoseAwareEncoder
from envs.output_lock import check_output
from poseaware.runs import clear_run_dir, load_tensors

SMALL = dict(img_size=32, patch_size=8, preset="tiny", depth=2)


def test_clear_run_dir_removes_a_run_and_refuses_other_files(tmp_path):
    run = tmp_path / "run"
    (run / "tensorboard").mkdir(parents=True)
    (run / "tensorboard" / "events.out.tfevents.1").write_text("old")
    (run / "config.yaml").write_text("old")
    clear_run_dir(str(run))
    assert not run.exists() and os.listdir(tmp_path) == []  # nothing left aside either
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("mine")
    (tmp_path / "home" / "config.yaml").write_text("a run's")
    with pytest.raises(FileExistsError, match="holds files a run does not write \\(thesis.tex\\)"):
        clear_run_dir(str(tmp_path / "home"))
    assert (tmp_path / "home" / "thesis.tex").read_text() == "mine"


def test_an_output_is_replaced_only_when_asked(tmp_path):
    out = tmp_path / "emb.hdf5"
    check_output(str(out), overwrite=False)
    out.write_text("x")
    with pytest.raises(FileExistsError, match="emb.hdf5 already exists; choose another out= or .*overwrite=true"):
        check_output(str(out), overwrite=False)
    check_output(str(out), overwrite=True)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        check_output(str(tmp_path), overwrite=True)


class Payload:
    def __reduce__(self):
        return (print, ("ran",))


@pytest.mark.parametrize("write, reason", [
    (lambda p: torch.save({"model": {"x": Payload()}}, p), "it holds Python objects besides tensors"),
    (lambda p: pickle.dump({"blocks.0.attn.qkv.weight": [1.0]}, open(p, "wb")),
     "it is not a file written by torch.save"),
    (lambda p: open(p, "wb").write(b"\x00garbage"), "it is not a file written by torch.save"),
], ids=["objects", "plain pickle", "garbage"])
def test_a_file_that_is_not_weights_is_refused_in_one_line(tmp_path, capsys, write, reason):
    path = str(tmp_path / "weights.pth")
    write(path)
    with pytest.raises(ValueError, match=f"weights.pth is not pretrained weights: {reason}") as err:
        PoseAwareEncoder(**SMALL, pretrained_path=path)
    message = str(err.value)
    assert "\n" not in message and "weights_only" not in message and "likely succeed" not in message
    assert "ran" not in capsys.readouterr().out  # no code from the file ran
    with pytest.raises(FileNotFoundError, match="pretrained weights not found"):
        load_tensors(str(tmp_path / "none.pth"), "pretrained weights", "give a local file")


def test_pretrained_weights_report_what_loaded_and_refuse_a_mismatch(tmp_path, capsys):
    deit = timm.create_model("deit_tiny_patch16_224", pretrained=False, num_classes=0)
    good = str(tmp_path / "deit_tiny.pth")
    torch.save({"model": deit.state_dict()}, good)
    enc = PoseAwareEncoder(**SMALL, pretrained_path=good)
    total = len(enc.vit.state_dict())
    assert f"loaded {total} of the backbone's {total} tensors" in capsys.readouterr().out
    assert torch.equal(enc.vit.blocks[1].attn.qkv.weight, deit.blocks[1].attn.qkv.weight)
    nothing = str(tmp_path / "other.pth")  # weights of another model: no name matches
    torch.save({"encoder.layer.0.weight": torch.zeros(3)}, nothing)
    with pytest.raises(ValueError, match=f"other.pth matches 0 of the backbone's {total} tensors"):
        PoseAwareEncoder(**SMALL, pretrained_path=nothing)
    small = timm.create_model("deit_small_patch16_224", pretrained=False, num_classes=0)
    bigger = str(tmp_path / "deit_small.pth")  # the right names, another preset's widths
    torch.save(small.state_dict(), bigger)
    with pytest.raises(ValueError, match="deit_small.pth matches .* names match with other shapes"):
        PoseAwareEncoder(**SMALL, pretrained_path=bigger)
    capsys.readouterr()
    conv = PoseAwareEncoder(**SMALL, stem="conv", pretrained_path=good)  # DeiT's patch conv has no place there
    stem = sum(k.startswith("patch_embed.proj.") for k in conv.vit.state_dict())
    assert f"({stem} keep their initialisation" in capsys.readouterr().out
    assert torch.equal(conv.vit.blocks[1].attn.qkv.weight, deit.blocks[1].attn.qkv.weight)
