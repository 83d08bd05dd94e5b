"""Run directories: which config changes a resumed run refuses."""
from poseaware.runs import config_differences


def test_an_option_added_since_the_checkpoint_is_no_difference_only_at_its_off_value():
    saved = {"loss": {"name": "infonce"}, "train": {"epochs": 2}}
    assert config_differences(saved, {"loss": {"name": "infonce", "state_keys": []}, "train": {"epochs": 3}}) == {}
    assert config_differences(saved, {"loss": {"name": "infonce", "shared": False, "extra": None}}) == {}
    assert config_differences(saved, {"loss": {"name": "infonce", "state_keys": ["cube_pos"]}}) == {
        "loss.state_keys": (None, ["cube_pos"])}
    # 0 is a setting, not "off": PAAB before the first block is paab_after=0.
    assert config_differences(saved, {"loss": {"name": "infonce"}, "method": {"paab_after": 0}}) == {
        "method.paab_after": (None, 0)}
    # A key the checkpoint has must keep its value.
    assert config_differences(saved, {"loss": {"name": "triplet"}}) == {"loss.name": ("infonce", "triplet")}
