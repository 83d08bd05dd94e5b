"""poseaware: pose maps, PAAB and PAAT, shared by the alignment and recognition packages."""
from .attention import PAAB_VARIANTS, PoseAwareAttentionBlock, pose_attention_mask
from .auxiliary import PAAT_TARGETS, PatchKeypointClassifier
from .encoder import PRESETS, EncoderOutput, PoseAwareEncoder
from .methods import METHODS, needs_keypoints
from .pose_maps import dilate_token_mask, patch_grid, pose_maps

__all__ = [
    "METHODS",
    "PAAB_VARIANTS",
    "PAAT_TARGETS",
    "PRESETS",
    "EncoderOutput",
    "PatchKeypointClassifier",
    "PoseAwareAttentionBlock",
    "PoseAwareEncoder",
    "dilate_token_mask",
    "needs_keypoints",
    "patch_grid",
    "pose_attention_mask",
    "pose_maps",
]
