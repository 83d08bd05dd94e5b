import subprocess
import sys


def test_envs_never_imports_torch():
    code = ("import sys, envs, envs.generate, envs.rerender, envs.preview, envs.merge, envs.mocap, envs.minecraft, "
            "envs.gym_env, envs.pick, envs.skeletons, envs.convert, envs.camera_from_arm; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
